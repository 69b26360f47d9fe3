import type { Request, Response } from 'express';
import { STOPPING_GRACE_MS, TERMINAL_STATUSES, type MissionEvent, type MissionStatus } from '../jobs/mission';
import type { MissionStore } from '../store/missionStore';
import type { Caller } from './apiKeys';
import type { MissionEventHub } from './eventHub';
import type { OpenStreams } from './openStreams';
import { HttpProblem } from './problem';

const PAGE = 500;

export interface EventStreamOptions {
  /** A comment line this often keeps proxies from closing an idle stream; each also re-reads missed events. */
  heartbeatMs: number;
  /** Where a stream without Last-Event-ID starts (after this event id); from the first event by default. */
  after?: string;
  /** How an event is written: the API's JSON by default (the console writes HTML). */
  frame?: (event: MissionEvent) => string | Promise<string>;
}

/** An event as the API streams it: its data as JSON, with the time it was recorded. */
const jsonFrame = (event: MissionEvent) =>
  `id: ${event.id}\nevent: ${event.type}\ndata: ${JSON.stringify({ ...event.data, at: event.created_at.toISOString() })}\n\n`;

/**
 * `GET /v1/missions/:id/events`: the mission's events from Postgres after `Last-Event-ID`, then live ones as
 * they commit, until the mission ends. A client that reconnects with the last id it saw misses nothing.
 */
export async function streamMissionEvents(
  req: Request,
  res: Response,
  mission: { id: string },
  /** Who opens it: a tenant has a bounded number open, and a revoked key's streams end. */
  caller: Caller,
  deps: { store: MissionStore; hub: MissionEventHub; streams: OpenStreams },
  options: EventStreamOptions,
): Promise<void> {
  deps.streams.checkRoom(caller);
  const lastEventId = req.get('last-event-id') ?? options.after ?? '0';
  if (!/^\d{1,18}$/.test(lastEventId)) {
    throw new HttpProblem(400, 'invalid-last-event-id', 'Last-Event-ID is not valid.', 'send the id of the last event received');
  }
  res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache', Connection: 'keep-alive', 'X-Accel-Buffering': 'no' });
  res.write('retry: 1000\n\n');

  let after = lastEventId;
  let reading: Promise<void> | undefined;
  let again = false;
  let ended = false;
  const finish = () => {
    if (ended) return;
    ended = true;
    deps.streams.remove(finish);
    unsubscribe();
    clearInterval(heartbeat);
    res.end();
  };
  const write = async (event: MissionEvent) => {
    res.write(await (options.frame ?? jsonFrame)(event));
    after = event.id;
    return event.type === 'status' && TERMINAL_STATUSES.has(event.data.status as MissionStatus);
  };
  const read = async () => {
    let endKnown = false;
    for (;;) {
      const events = await deps.store.eventsAfter(mission.id, after, PAGE);
      for (const event of events) if (await write(event)) return finish();
      if (events.length === PAGE) continue;
      if (endKnown) return finish();
      if (events.length > 0) return;
      // Nothing new: a client that resumed past the end (Last-Event-ID at or beyond it) is done once the mission
      // is. The end may have committed after the read above, so one more read sends it before the stream closes.
      endKnown = (await deps.store.streamState(mission.id, STOPPING_GRACE_MS))?.ended ?? false;
      if (!endKnown) return;
    }
  };
  // One read at a time; a wake-up during a read asks for one more read after it.
  const wake = () => {
    if (ended) return;
    if (reading) {
      again = true;
      return;
    }
    reading = read()
      .catch(() => finish())
      .finally(() => {
        reading = undefined;
        if (again) {
          again = false;
          wake();
        }
      });
  };
  // Subscribed before the first read, so an event committed in between still wakes the stream.
  const unsubscribe = deps.hub.subscribe(mission.id, wake);
  const heartbeat = setInterval(() => {
    res.write(': heartbeat\n\n');
    wake();
  }, options.heartbeatMs);
  req.on('close', finish);
  deps.streams.add(caller, finish);
  wake();
}
