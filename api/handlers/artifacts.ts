import type { Mission } from '../../jobs/mission';
import type { ArtifactStore } from '../../tasks/artifactStore';
import { HttpProblem } from '../problem';
import type { HandlerResult } from './result';

export interface ArtifactHandlerDeps {
  artifacts: ArtifactStore;
}

/** Artifacts of a mission its caller may see (the caller found it first: another tenant's mission is a 404). */
export function artifactHandlers({ artifacts }: ArtifactHandlerDeps) {
  return {
    async list(mission: Mission): Promise<HandlerResult> {
      return { status: 200, body: { mission_id: mission.id, summary: mission.artifacts, data: await artifacts.list(mission.id) } };
    },

    /** One file's bytes, as the mission left them. */
    async one(mission: Mission, path: string): Promise<{ content: Buffer; name: string }> {
      const content = await artifacts.content(mission.id, path);
      if (!content) throw HttpProblem.notFound(`artifact ${path} of mission ${mission.id}`);
      return { content, name: path.split('/').at(-1)! };
    },
  };
}
