import type { ChildProcess } from 'node:child_process';
import IORedis from 'ioredis';
import { createTestEnv, removeSandboxes, sandboxesOf, type TestEnv } from './harness';
import { forkApi, forkWorker, stopProcess } from './processes';
import { countRows, firstStepAfter, missionOutcomes, type MissionOutcomes } from './missionOutcomes';
import { waitFor } from './waitFor';
import { freePort, PrivatePostgres, PrivateRedis, restartDockerd } from './services';

/**
 * A batch of sandboxed missions run by an API process and two worker processes while every service they depend
 * on fails once: each worker is SIGKILLed and started again under its own id, Redis is SIGKILLed and comes back
 * empty, Postgres restarts in immediate mode, dockerd restarts. Nobody touches the API or the workers otherwise.
 * Used by test/chaos.alone.test.ts (small) and perf/chaos.bench.ts (the full run).
 */
export interface ChaosOptions {
  missions: number;
  /** Shell steps per mission; each sleeps `stepSleepS`. */
  steps: number;
  stepSleepS: number;
  /** Missions each worker runs at once. */
  concurrency: number;
  /** Wait between one fault and the next. */
  faultGapMs: number;
  /** False for the baseline: the same batch with no fault. */
  inject: boolean;
  /** Workers reuse sandboxes within the tenant (SANDBOX_REUSE=tenant). */
  reuse?: boolean;
  /** How long the batch may take to end. */
  timeoutMs: number;
  log(line: string): void;
}

export interface FaultRecord {
  fault: string;
  /** How long the fault took to inject, from the kill to the service or process being back. */
  outage_ms: number;
  /** From the service (or process) being back to the start of the first step recorded after it. */
  recovered_after_ms: number | null;
}

export interface ChaosReport extends MissionOutcomes {
  submitted: number;
  failures: { id: string; code: string; message: string }[];
  /** Step events recorded more than once for one step: must be 0. */
  step_events_twice: number;
  /** Sandboxes of the fleet left after the workers stopped: must be 0. */
  sandboxes_left: number;
  /** The most running sandboxes one worker had at once (sampled every 250 ms), and its bound. */
  most_live_sandboxes: number;
  /** Sandboxes that served more than one mission (with reuse, within the tenant; without, none). */
  sandboxes_shared_by_missions: number;
  sandbox_bound: number;
  /** Processes that exited without being killed by the run: must be 0. */
  unplanned_exits: number;
  faults: FaultRecord[];
  batch_ms: number;
}

export async function runChaos(options: ChaosOptions): Promise<ChaosReport> {
  const postgres = await PrivatePostgres.create();
  const redis = await PrivateRedis.start();
  let env: TestEnv | undefined;
  const processes = new Map<string, ChildProcess>();
  const planned = new Set<ChildProcess>();
  const unplanned: string[] = [];
  let sampler: NodeJS.Timeout | undefined;
  let mostLive = 0;
  const watch = (name: string, child: ChildProcess) => {
    processes.set(name, child);
    child.once('exit', (code, signal) => planned.has(child) || unplanned.push(`${name} exited (${code ?? signal})`));
    return child;
  };
  try {
    env = await createTestEnv({ DATABASE_URL: postgres.url(), REDIS_URL: redis.url });
    const { config, db } = env;
    const settings = { SWEEP_EVERY_MS: '1000', WORKER_LOCK_MS: '5000', WORKER_STALLED_CHECK_MS: '1000', WORKER_CONCURRENCY: String(options.concurrency), SANDBOX_REUSE: options.reuse ? 'tenant' : 'off' };
    const workerIds = [`${env.owner}-a`, `${env.owner}-b`];
    const port = await freePort();
    watch('api', forkApi(config, port, settings));
    workerIds.forEach((id) => watch(id, forkWorker(config, id, settings)));
    const heartbeats = new IORedis(redis.url, { maxRetriesPerRequest: 1, retryStrategy: () => 200 });
    heartbeats.on('error', () => undefined);
    await waitFor(async () => (await heartbeats.exists(...workerIds.map((id) => `${config.QUEUE_PREFIX}:worker:${id}`)).catch(() => 0)) === 2, 60_000, 'workers up');
    heartbeats.disconnect();
    await waitFor(() => fetch(`http://127.0.0.1:${port}/healthz`).then((response) => response.ok, () => false), 30_000, 'api up');

    const plan = Array.from({ length: options.steps }, (_, k) => ({ tool: 'shell', input: { command: `echo step ${k + 1} $(hostname); sleep ${options.stepSleepS}` } }));
    const missions = Array.from({ length: options.missions }, (_, i) => ({ goal: `chaos ${i}`, plan }));
    const started = Date.now();
    const response = await fetch(`http://127.0.0.1:${port}/v1/missions/batch`, {
      method: 'POST',
      headers: { authorization: `Bearer ${config.ADMIN_API_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ missions }),
    });
    if (response.status !== 202) throw new Error(`batch refused: ${response.status} ${await response.text()}`);
    options.log(`submitted ${options.missions} missions`);
    // Each worker's running sandboxes, sampled while the batch runs: never more than its bound.
    sampler = setInterval(() => {
      for (const id of workerIds) {
        void sandboxesOf(id).then((all) => (mostLive = Math.max(mostLive, all.filter((one) => one.State === 'running').length)), () => undefined);
      }
    }, 250);
    await waitFor(async () => Number((await db('steps').count({ n: '*' }))[0]!.n) > 0, 60_000, 'first step');

    const restartWorker = async (id: string) => {
      const doomed = processes.get(id)!;
      planned.add(doomed);
      await stopProcess(doomed, 'SIGKILL');
      watch(id, forkWorker(config, id, settings));
    };
    const injections: [string, () => Promise<void>][] = [
      ['worker a SIGKILLed, started again under its id', () => restartWorker(workerIds[0]!)],
      ['redis SIGKILLed, started again empty', async () => (await redis.kill(), await redis.start())],
      ['postgres restarted in immediate mode', () => postgres.restartImmediate()],
      ['dockerd restarted', () => restartDockerd()],
      ['worker b SIGKILLed, started again under its id', () => restartWorker(workerIds[1]!)],
    ];
    const faults: (FaultRecord & { backAt: Date })[] = [];
    for (const [fault, inject] of options.inject ? injections : []) {
      await new Promise((resolve) => setTimeout(resolve, options.faultGapMs));
      const at = Date.now();
      await inject();
      faults.push({ fault, outage_ms: Date.now() - at, recovered_after_ms: null, backAt: new Date() });
      options.log(`${fault} (${Date.now() - at} ms)`);
    }

    const open = async () => Number((await db('missions').whereIn('status', ['queued', 'running']).count({ n: '*' }).catch(() => [{ n: -1 }]))[0]!.n);
    await waitFor(async () => (await open()) === 0, options.timeoutMs, 'every mission ended').catch((error: Error) => options.log(error.message));
    clearInterval(sampler);
    const batchMs = Date.now() - started;
    options.log(`batch ended after ${batchMs} ms`);

    for (const record of faults) {
      record.recovered_after_ms = await firstStepAfter(db, record.backAt);
    }
    // Stopped sandboxes (dockerd stopped them as it restarted) are removed by their workers' reapers.
    const fleet = async () => (await Promise.all(workerIds.map(sandboxesOf))).flat();
    await waitFor(async () => (await fleet()).every((container) => container.State === 'running'), 45_000, 'stopped sandboxes reaped').catch((error: Error) =>
      options.log(error.message),
    );
    for (const child of processes.values()) planned.add(child);
    await Promise.all([...processes.values()].map((child) => stopProcess(child)));
    const sandboxesLeft = (await fleet()).length;

    const failures = (await db('missions').whereNot('status', 'succeeded').select('id', 'error')).map((row: { id: string; error: { code: string; message: string } | null }) => ({
      id: row.id,
      code: row.error?.code ?? '',
      message: row.error?.message ?? '',
    }));
    const outcomes = await missionOutcomes(db, options.steps);
    return {
      submitted: options.missions,
      ...outcomes,
      failures,
      step_events_twice: await countRows(db, `select mission_id, data->>'seq' from mission_events where type = 'step' group by 1, 2 having count(*) > 1`),
      // A sandbox's hostname is its container id: one seen in the steps of two missions served both.
      sandboxes_shared_by_missions: await countRows(
        db,
        `select split_part(observation->>'stdout', ' ', 3) from steps group by 1 having count(distinct mission_id) > 1`,
      ),
      sandboxes_left: sandboxesLeft,
      most_live_sandboxes: mostLive,
      sandbox_bound: options.concurrency + config.SANDBOX_POOL_SIZE + config.SANDBOX_REMOVAL_BACKLOG,
      unplanned_exits: unplanned.length,
      faults: faults.map(({ backAt: _backAt, ...record }) => record),
      batch_ms: batchMs,
    };
  } finally {
    clearInterval(sampler);
    for (const child of processes.values()) {
      planned.add(child);
      await stopProcess(child, 'SIGKILL');
    }
    if (unplanned.length > 0) options.log(unplanned.join('; '));
    if (env) {
      for (const suffix of ['a', 'b']) await removeSandboxes(`${env.owner}-${suffix}`);
      if (!redis.running) await redis.start();
      await env.cleanup();
    }
    await redis.kill();
    await postgres.destroy();
  }
}
