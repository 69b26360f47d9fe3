import type { Express, Request, Response } from 'express';
import { ADMIN_CALLER, type Caller } from '../api/apiKeys';
import type { artifactHandlers } from '../api/handlers/artifacts';
import type { missionHandlers } from '../api/handlers/missions';
import { HttpProblem } from '../api/problem';
import { streamMissionEvents } from '../api/sse';
import type { MissionEventHub } from '../api/eventHub';
import type { OpenStreams } from '../api/openStreams';
import { MISSION_STATUSES, TERMINAL_STATUSES, missionUsage, stepView, type MissionEvent, type MissionStatus } from '../jobs/mission';
import type { MissionStore } from '../store/missionStore';
import { isUuid, uuidv7Floor } from '../lib/ids';
import type { ConsoleReader, MissionTrace, Scope } from './reader';
import type { ConsoleRenderer, PageContext } from './render';
import { pageRoute } from './pages';
import { CONSOLE, viewerOf } from './session';
import { waterfall } from './waterfall';

export interface MissionPagesDeps {
  reader: ConsoleReader;
  renderer: ConsoleRenderer;
  missions: ReturnType<typeof missionHandlers>;
  store: MissionStore;
  hub: MissionEventHub;
  streams: OpenStreams;
  sseHeartbeatMs: number;
  /** A mission's artifacts, to download from its page. */
  artifactFiles: ReturnType<typeof artifactHandlers>;
}

const PAGE_SIZE = 50;
const PERIODS: readonly [string, string][] = [['', 'any time'], ['1h', 'last hour'], ['24h', 'last 24 hours'], ['7d', 'last 7 days']];
const PERIOD_MS: Record<string, number> = { '1h': 3_600_000, '24h': 86_400_000, '7d': 7 * 86_400_000 };

export const scopeOf = (caller: Caller): Scope => (caller.admin ? 'everyone' : { tenantId: caller.tenantId });
/** The admin acts on a tenant's mission or batch as that tenant would. */
export const actingFor = (caller: Caller, tenantId: string): Caller => (caller.admin ? { ...ADMIN_CALLER, tenantId } : caller);

const oneOf = <T extends string>(value: unknown, allowed: readonly T[]) => (allowed.includes(value as T) ? (value as T) : undefined);
const uuidOrNothing = (value: unknown) => (typeof value === 'string' && isUuid(value) ? value : undefined);

/** Everything a mission's templates need, for its page, its fragments and the report alike. */
export function missionModel(trace: MissionTrace, page: PageContext) {
  const { mission } = trace;
  const unfinished = !TERMINAL_STATUSES.has(mission.status);
  const steps = trace.steps.map(stepView);
  return {
    title: mission.goal.slice(0, 80),
    mission,
    steps,
    pending: trace.pending,
    lastEventId: trace.lastEventId,
    usage: missionUsage(mission),
    unfinished,
    replayable: mission.spec.policy === 'openai' && mission.spec.llm?.record === true,
    // Only the page that ends the trace grows as steps arrive.
    live: unfinished && !page.inline && trace.laterFrom === undefined,
    earlierFrom: trace.earlierFrom,
    laterFrom: trace.laterFrom,
    stepsOmitted: trace.stepsOmitted === true,
    waterfall: waterfall(mission, trace.steps, page.now),
    anchor: `m-${mission.id}`,
    missionId: mission.id,
    artifacts: trace.artifacts,
  };
}

/** The missions list, a mission's page with its live trace, and the actions on a mission. */
export function missionPages(app: Express, deps: MissionPagesDeps): void {
  const { reader, renderer, missions } = deps;
  const route = (handler: Parameters<typeof pageRoute>[1]) => pageRoute(renderer, handler);
  const traceOf = async (req: Request, res: Response) => {
    const id = req.params.id as string;
    const from = /^\d{1,9}$/.test(String(req.query.from)) ? Number(req.query.from) : 0;
    const trace = isUuid(id) ? await reader.trace(scopeOf(viewerOf(res).caller), id, from) : undefined;
    if (!trace) throw HttpProblem.notFound(`mission ${id}`);
    return trace;
  };
  // The live page's waterfall, redrawn as steps arrive: the steps' times only, not their outputs.
  const waterfallFragment = async (req: Request, res: Response) => {
    const id = req.params.id as string;
    const timeline = isUuid(id) ? await reader.timeline(scopeOf(viewerOf(res).caller), id) : undefined;
    if (!timeline) return void res.status(404).end();
    const page: PageContext = { ...res.locals.viewer, now: Date.now() };
    res.type('html').send(renderer.render('waterfall', page, { waterfall: waterfall(timeline.mission, timeline.steps, page.now), anchor: `m-${id}` }));
  };

  app.get(CONSOLE, (_req, res) => res.redirect(303, `${CONSOLE}/missions`));
  app.get(`${CONSOLE}/missions`, route(async (req, res) => {
    const { caller } = viewerOf(res);
    const filter = {
      status: oneOf(req.query.status, MISSION_STATUSES as readonly MissionStatus[]),
      batch_id: uuidOrNothing(req.query.batch_id),
      since: oneOf(req.query.since, Object.keys(PERIOD_MS)),
      before: uuidOrNothing(req.query.before),
    };
    const rows = await reader.missions(scopeOf(caller), {
      status: filter.status,
      batchId: filter.batch_id,
      fromId: filter.since ? uuidv7Floor(Date.now() - PERIOD_MS[filter.since]!) : undefined,
      toId: filter.before,
      limit: PAGE_SIZE,
    });
    const query = new URLSearchParams(Object.entries(filter).filter(([key, value]) => value && key !== 'before') as [string, string][]);
    if (rows.length === PAGE_SIZE) query.set('before', rows[rows.length - 1]!.id);
    const next = rows.length === PAGE_SIZE ? `${CONSOLE}/missions?${query}` : undefined;
    return { render: 'missions', data: { title: 'Missions', rows, filter, statuses: MISSION_STATUSES, periods: PERIODS, next } };
  }));
  app.get(`${CONSOLE}/missions/:id`, route(async (req, res, page) => ({ render: 'mission', data: missionModel(await traceOf(req, res), page) })));
  app.get(`${CONSOLE}/missions/:id/waterfall`, async (req, res, next) => waterfallFragment(req, res).catch(next));

  // The live trace: each new step as the HTML the page appends, each status change as a cue to refresh the header.
  app.get(`${CONSOLE}/missions/:id/live`, async (req, res, next) => {
    try {
      const { mission } = await traceOf(req, res);
      const page: PageContext = { ...res.locals.viewer, now: Date.now() };
      const data = (html: string) => html.trim().split('\n').map((line) => `data: ${line}`).join('\n');
      // Steps arrive as the HTML the page appends; a status change as the header rendered anew, in event order.
      const frame = async (event: MissionEvent) => {
        if (event.type === 'step') {
          return `id: ${event.id}\nevent: step\n${data(renderer.render('step', page, { step: event.data, missionId: mission.id, anchor: `m-${mission.id}` }))}\n\n`;
        }
        const now = await reader.trace(scopeOf(viewerOf(res).caller), mission.id);
        const summary = now ? data(renderer.render('summary', page, missionModel(now, page))) : 'data: ';
        const end = TERMINAL_STATUSES.has(event.data.status as MissionStatus) ? 'event: end\ndata: end\n\n' : '';
        return `id: ${event.id}\nevent: status\n${summary}\n\n${end}`;
      };
      const after = /^\d{1,18}$/.test(String(req.query.after)) ? String(req.query.after) : undefined;
      await streamMissionEvents(req, res, mission, viewerOf(res).caller, deps, { heartbeatMs: deps.sseHeartbeatMs, after, frame });
    } catch (error) {
      next(error);
    }
  });

  // One file the mission kept, as its bytes.
  app.get(`${CONSOLE}/missions/:id/artifacts/*path`, async (req, res, next) => {
    try {
      const { mission } = await traceOf(req, res);
      const { content, name } = await deps.artifactFiles.one(mission, (req.params.path as unknown as string[]).join('/'));
      res.attachment(name).type('application/octet-stream').send(content);
    } catch (error) {
      if (error instanceof HttpProblem) return void res.status(error.status).type('text/plain').send(error.title);
      next(error);
    }
  });

  // A step's output as the exact bytes, when it was not plain text.
  app.get(`${CONSOLE}/missions/:id/steps/:seq/:stream`, async (req, res, next) => {
    try {
      const id = req.params.id as string;
      const seq = /^\d{1,9}$/.test(req.params.seq as string) ? Number(req.params.seq) : undefined;
      const step = isUuid(id) && seq !== undefined ? await reader.step(scopeOf(viewerOf(res).caller), id, seq) : undefined;
      const stream = oneOf(req.params.stream, ['stdout', 'stderr'] as const);
      const base64 = stream && (step?.observation as Record<string, unknown> | null)?.[`${stream}_base64`];
      if (typeof base64 !== 'string') throw HttpProblem.notFound('that output');
      res.attachment(`mission-${id}-step-${step!.seq}-${stream}.bin`).type('application/octet-stream').send(Buffer.from(base64, 'base64'));
    } catch (error) {
      if (error instanceof HttpProblem) return void res.status(error.status).type('text/plain').send(error.title);
      next(error);
    }
  });

  const back = (id: string) => ({ redirect: `${CONSOLE}/missions/${id}` });
  const act = (action: (caller: Caller, trace: MissionTrace) => Promise<{ redirect: string }>) =>
    route(async (req, res) => {
      const trace = await traceOf(req, res);
      return action(actingFor(viewerOf(res).caller, trace.mission.tenant_id), trace);
    });
  app.post(`${CONSOLE}/missions/:id/cancel`, act(async (caller, { mission }) => (await missions.cancel(caller, mission.id), back(mission.id))));
  app.post(`${CONSOLE}/missions/:id/approve`, act(async (caller, { mission }) => (await missions.decide(caller, mission.id, { decision: 'approve' }), back(mission.id))));
  app.post(`${CONSOLE}/missions/:id/reject`, act(async (caller, { mission }) => (await missions.decide(caller, mission.id, { decision: 'reject', reason: 'rejected in the console' }), back(mission.id))));
  app.post(`${CONSOLE}/missions/:id/rerun`, act(async (caller, { mission }) => {
    const { custom_id: _customId, ...spec } = mission.spec;
    const created = await missions.create(caller, spec);
    return back((created.body as { id: string }).id);
  }));
  app.post(`${CONSOLE}/missions/:id/replay`, act(async (caller, { mission }) => {
    const { goal, max_steps, deadline_s, metadata } = mission.spec;
    const created = await missions.create(caller, { goal, policy: 'replay', replay_of: mission.id, max_steps, deadline_s, metadata });
    return back((created.body as { id: string }).id);
  }));
}
