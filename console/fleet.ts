import type { Metrics, Queue } from 'bullmq';
import { fleetStatus, type WorkerStatus } from '../lib/heartbeat';
import type { MissionJobData } from '../lib/queue';
import type { Redis } from '../lib/redis';
import type { ConsoleReader } from './reader';

export interface FleetSources {
  reader: ConsoleReader;
  queue: Queue<MissionJobData>;
  redis: Redis;
  prefix: string;
}

const RUNNING_SHOWN = 500;

/**
 * BullMQ's per-minute counts on a wall-clock axis ending at minute `now`. BullMQ pushes a minute's count when the
 * first job of a later minute ends: the newest point is the minute before `prevTS`'s, and what ended since
 * (count - prevCount) belongs to `prevTS`'s own minute, not yet pushed.
 */
function perMinute({ meta, data }: Metrics, now: number): number[] {
  const counts = new Array<number>(MINUTES).fill(0);
  const place = (minute: number, value: number) => {
    const at = MINUTES - 1 - (now - minute);
    if (at >= 0 && at < MINUTES) counts[at] = value;
  };
  const latest = Math.floor(Number(meta.prevTS) / 60_000);
  if (!Number.isFinite(latest)) return counts;
  place(latest, Number(meta.count) - Number(meta.prevCount));
  data.forEach((value, back) => place(latest - 1 - back, Number(value)));
  return counts;
}
const MINUTES = 60;

/**
 * The fleet as the admin's page shows it, from Redis and Postgres alone (no Prometheus needed): live workers and
 * what each said of itself at its last heartbeat, the missions each runs, queue depth by state, jobs ended per
 * minute over the last hour (BullMQ's own metrics) and pickup latency.
 */
export async function fleetModel({ reader, queue, redis, prefix }: FleetSources) {
  const [workers, running, queueCounts, completed, failed, pickup] = await Promise.all([
    fleetStatus(redis, prefix),
    reader.running(RUNNING_SHOWN),
    queue.getJobCounts('waiting', 'prioritized', 'active', 'delayed', 'completed', 'failed'),
    queue.getMetrics('completed', 0, MINUTES - 1),
    queue.getMetrics('failed', 0, MINUTES - 1),
    reader.pickupLatency(15),
  ]);
  const byWorker = new Map<string, typeof running>();
  for (const mission of running) {
    const list = byWorker.get(mission.worker_id ?? '');
    if (list) list.push(mission);
    else byWorker.set(mission.worker_id ?? '', [mission]);
  }
  const minute = Math.floor(Date.now() / 60_000);
  const times = Array.from({ length: MINUTES }, (_, at) => (minute - (MINUTES - 1 - at)) * 60);
  return {
    title: 'Fleet',
    workers: workers.sort((a: WorkerStatus, b: WorkerStatus) => a.id.localeCompare(b.id)),
    running: byWorker,
    queue: queueCounts,
    throughput: { times, completed: perMinute(completed, minute), failed: perMinute(failed, minute) },
    pickup,
  };
}
