import type { LookupAddress } from 'node:dns';
import type { MissionFile, MissionSpec } from '../../jobs/mission';
import type { FileStore } from '../../tasks/fileStore';
import { BASE_ENVIRONMENT } from '../../lib/environments';
import type { MissionStore } from '../../store/missionStore';
import { isTargetProblem, modelTarget } from '../../jobs/modelTarget';
import type { LlmEndpoint } from '../../lib/llmEndpoints';
import { refuseTenantUrl, resolveTenantHost, type ResolveAll } from '../../lib/publicAddress';
import type { Caller } from '../apiKeys';
import { HttpProblem } from '../problem';

export interface AdmissionDeps {
  store: MissionStore;
  files: FileStore;
  /** What a workspace holds: a mission's files, unpacked, must fit. */
  workspaceBytes: number;
  /** The environments a mission may name, with the workspace each gives where it is not the default. */
  environments: Readonly<Record<string, { workspaceBytes?: number }>>;
  /** The operator's model endpoints. */
  endpoints: Readonly<Record<string, LlmEndpoint>>;
  /** Origins a tenant's own URL may have without https and the public-address rule. */
  tenantUrlAllowlist: readonly string[];
  /** The tenant's permission to use a URL of its own, as it is now (not as a cached caller or the admin had it). */
  allowsOwnUrl(tenantId: string): Promise<boolean>;
}

/** Hosts of the tenant's own that one submission may name: each costs a DNS lookup before anything is accepted. */
const TENANT_HOSTS_PER_SUBMISSION = 10;

/**
 * What a valid mission may refer to, checked against its caller before it is accepted: the endpoint and model of
 * an `openai` mission; a model URL of the tenant's own, only where the operator allowed it and only where it leads
 * to a public address; the mission it replays, only one of the caller's own (404 otherwise, as for any mission of
 * another tenant). One query and one DNS lookup per distinct host (at most TENANT_HOSTS_PER_SUBMISSION),
 * whatever the number of missions.
 */
export function missionAdmission({ store, files, workspaceBytes, environments, endpoints, tenantUrlAllowlist, allowsOwnUrl }: AdmissionDeps) {
  return async (caller: Caller, specs: readonly MissionSpec[]): Promise<(HttpProblem | undefined)[]> => {
    const fileIds = [...new Set(specs.flatMap((spec) => [...(spec.environment?.files ?? []), ...hiddenFiles(spec)].flatMap((file) => ('file_id' in file ? [file.file_id] : []))))];
    const unpacked = await files.use(caller.tenantId, fileIds);
    const replayed = [...new Set(specs.flatMap((spec) => (spec.policy === 'replay' ? [spec.replay_of!] : [])))];
    const owned = replayed.length > 0 ? await store.idsOf(caller.tenantId, replayed) : new Set<string>();
    const ownUrls = specs.some((spec) => spec.policy === 'openai' && spec.llm?.base_url);
    const allowed = ownUrls && (await allowsOwnUrl(caller.tenantId));
    const hosts = new Map<string, Promise<LookupAddress[]>>();
    const resolveOnce: ResolveAll = (host) => hosts.get(host) ?? hosts.set(host, resolveTenantHost(host)).get(host)!;
    const verdicts = new Map<string, Promise<string | undefined>>();
    const verdictOn = (url: string) => verdicts.get(url) ?? verdicts.set(url, refuseTenantUrl(url, tenantUrlAllowlist, resolveOnce)).get(url)!;
    const ownHosts = new Set(specs.flatMap((spec) => (spec.policy === 'openai' && spec.llm?.base_url && URL.canParse(spec.llm.base_url) ? [new URL(spec.llm.base_url).host] : [])));
    if (ownHosts.size > TENANT_HOSTS_PER_SUBMISSION) {
      const problem = HttpProblem.invalidField(['llm', 'base_url'], `one submission may name at most ${TENANT_HOSTS_PER_SUBMISSION} hosts of the tenant's own (this one names ${ownHosts.size})`);
      return specs.map((spec) => (spec.policy === 'openai' && spec.llm?.base_url ? problem : undefined));
    }
    return Promise.all(
      specs.map(async (spec) => {
        const environment = environments[spec.environment?.name ?? BASE_ENVIRONMENT];
        if (!environment) {
          return HttpProblem.invalidField(['environment', 'name'], `no environment ${spec.environment!.name}: the environments are ${Object.keys(environments).join(', ')}`);
        }
        const hidden = hiddenFiles(spec).find((file) => !unpacked.has(file.file_id));
        if (hidden) return HttpProblem.notFound(`scorer.files: file ${hidden.file_id}`);
        const graderProblem = spec.scorer && 'rubric' in spec.scorer ? modelTarget(spec.scorer.model, endpoints) : undefined;
        if (graderProblem && isTargetProblem(graderProblem)) return HttpProblem.invalidField(['scorer', 'model', graderProblem.path.at(-1)!], graderProblem.message);
        const filesProblem = refuseFiles(spec.environment?.files ?? [], unpacked, environment.workspaceBytes ?? workspaceBytes);
        if (filesProblem) return filesProblem;
        if (spec.policy === 'replay' && !owned.has(spec.replay_of!)) {
          return new HttpProblem(404, 'not-found', 'Not found.', `replay_of: mission ${spec.replay_of} does not exist.`);
        }
        if (spec.policy !== 'openai') return undefined;
        if (spec.llm?.base_url && !allowed) {
          return HttpProblem.invalidField(['llm', 'base_url'], 'this tenant may not send model calls to a URL of its own (the operator can allow it)');
        }
        const target = modelTarget(spec.llm, endpoints);
        if (isTargetProblem(target)) return HttpProblem.invalidField(target.path, target.message);
        if (target.kind === 'endpoint') return undefined;
        const refused = await verdictOn(target.baseUrl);
        return refused ? HttpProblem.invalidField(['llm', 'base_url'], refused) : undefined;
      }),
    );
  };
}

/** A file of another tenant (or none) is a 404, as any of its things; files that cannot fit the workspace a 400. */
function refuseFiles(given: readonly MissionFile[], unpacked: ReadonlyMap<string, number>, workspaceBytes: number): HttpProblem | undefined {
  let bytes = 0;
  for (const file of given) {
    if ('file_id' in file) {
      const size = unpacked.get(file.file_id);
      if (size === undefined) return HttpProblem.notFound(`environment.files: file ${file.file_id}`);
      bytes += size;
    } else {
      bytes += Buffer.byteLength(file.content, file.encoding === 'base64' ? 'base64' : 'utf8');
    }
  }
  if (bytes <= workspaceBytes) return undefined;
  return HttpProblem.invalidField(['environment', 'files'], `the files hold ${bytes} bytes unpacked, more than the workspace's ${workspaceBytes}`);
}

/** A command scorer's files: unpacked only for scoring, but a tenant's own all the same. */
const hiddenFiles = (spec: MissionSpec) => (spec.scorer && 'command' in spec.scorer ? (spec.scorer.files ?? []) : []);
