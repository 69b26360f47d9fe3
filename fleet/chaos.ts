import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import type { Knex } from 'knex';
import { loadConfig } from '../lib/config';
import { createDb } from '../lib/db';
import { firstStepAfter, missionOutcomes, type MissionOutcomes } from '../test/missionOutcomes';
import { waitFor } from '../test/waitFor';
import { Fleet } from './fleet';

export interface FleetChaosOptions {
  missions: number;
  hosts: string[];
  /** Inject the four faults (false: the same batch undisturbed, for the throughput of the hosts alone). */
  inject: boolean;
  /** Wait between one fault and the next, and before a lost host comes back. */
  faultGapMs: number;
  timeoutMs: number;
  env?: Record<string, string>;
  log(line: string): void;
}

export interface FleetChaosReport extends MissionOutcomes {
  submitted: number;
  /** Containers on any host once the workers stopped. */
  sandboxes_left: number;
  unplanned_exits: string[];
  faults: { fault: string; recovered_after_ms: number | null }[];
  missions_per_min: number;
  batch_ms: number;
}

const psql = (sql: string) => execFileSync('runuser', ['-u', 'postgres', '--', 'psql', '-qAt', '-c', sql], { stdio: 'pipe' });

/**
 * A batch of one-step sandboxed missions through the simulated fleet (in a database of its own), while the Redis
 * primary is SIGKILLed (Sentinel promotes the replica), a whole host is lost and comes back, PgBouncer restarts
 * and an API process is SIGKILLed behind HAProxy; then what became of every mission, step and sandbox.
 */
export async function runFleetChaos(options: FleetChaosOptions): Promise<FleetChaosReport> {
  const base = loadConfig();
  const direct = new URL(base.DATABASE_URL);
  const database = `mission_fleet_${randomBytes(4).toString('hex')}`;
  psql(`create database ${database} owner "${decodeURIComponent(direct.username)}"`);
  direct.pathname = `/${database}`;
  let fleet: Fleet | undefined;
  let db: Knex | undefined;
  try {
    const env = { WORKER_LOCK_MS: '5000', WORKER_STALLED_CHECK_MS: '1000', ...options.env };
    fleet = await Fleet.start({ databaseUrl: direct.toString(), queuePrefix: `{fleet-${database.slice(-8)}}`, hosts: options.hosts, workersPerHost: 2, apis: 2, env }, options.log);
    db = createDb(direct.toString(), 'public', { poolMax: 2 });
    const running = fleet;
    const everyWorkerUp = () =>
      waitFor(async () => {
        const ready = await fetch(`${running.url}/readyz`).then((answer) => answer.json() as Promise<{ workers_alive?: number }>, () => ({ workers_alive: 0 }));
        return ready.workers_alive === options.hosts.length * 2;
      }, 120_000, 'every worker up');
    await everyWorkerUp();

    const plan = [{ tool: 'shell', input: { command: 'echo step $(hostname); sleep 1' } }];
    const started = Date.now();
    const response = await fetch(`${fleet.url}/v1/missions/batch`, {
      method: 'POST',
      headers: { authorization: `Bearer ${fleet.config.ADMIN_API_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ missions: Array.from({ length: options.missions }, (_, at) => ({ goal: `fleet ${at}`, plan })) }),
    });
    if (response.status !== 202) throw new Error(`batch refused: ${response.status} ${await response.text()}`);
    options.log(`submitted ${options.missions} missions`);
    const steps = () => db!('steps').count({ n: '*' }).then(([row]) => Number(row!.n));
    await waitFor(async () => (await steps()) > 0, 120_000, 'first step');

    const lost = options.hosts[0]!;
    // Each fault is recovered from when the next step starts, unless it says otherwise (in ms).
    const injections: [string, () => Promise<number | void>][] = [
      ['redis primary SIGKILLed; the sentinels promote the replica', async () => {
        const replica = running.redis.replica.port;
        await running.redis.primary.kill();
        await waitFor(async () => (await running.redis.primaryPort()) === replica, 60_000, 'promotion');
      }],
      [`host ${lost} lost (dockerd, containerd, shims, sandboxes and both workers SIGKILLed)`, () => running.loseHost(lost)],
      ['pgbouncer SIGKILLed and started again', () => running.bouncer.restart()],
      ['api 1 SIGKILLed behind haproxy', () => running.killApi(0)],
      // Its workers start under the same ids, and first remove what their earlier lives left on the host.
      // Recovered once its workers run again and have removed what the loss left on it.
      [`host ${lost} back`, async () => {
        const back = Date.now();
        await running.restoreHost(lost);
        await everyWorkerUp();
        const host = running.hosts.get(lost)!.docker();
        const leftovers = async () => (await host.listContainers({ all: true })).filter((container) => container.State !== 'running').length;
        await waitFor(async () => (await leftovers()) === 0, 120_000, `what host ${lost}'s loss left removed`);
        return Date.now() - back;
      }],
    ];
    const faults: { fault: string; at: Date; recovered_after_ms: number | null }[] = [];
    for (const [fault, inject] of options.inject ? injections : []) {
      await new Promise((resolve) => setTimeout(resolve, options.faultGapMs));
      const recovered = await inject();
      faults.push({ fault, at: new Date(), recovered_after_ms: recovered ?? null });
      options.log(fault);
    }
    const open = async () => Number((await db!('missions').whereIn('status', ['queued', 'running']).count({ n: '*' }))[0]!.n);
    await waitFor(async () => (await open()) === 0, options.timeoutMs, 'every mission ended').catch((error: Error) => options.log(error.message));
    const batchMs = Date.now() - started;
    for (const record of faults.filter((fault) => fault.recovered_after_ms === null)) {
      record.recovered_after_ms = await firstStepAfter(db, record.at);
    }

    const unplanned = [...fleet.unplanned];
    const left = await fleet.stop();
    fleet = undefined;
    return {
      submitted: options.missions,
      ...(await missionOutcomes(db, 1)),
      sandboxes_left: left,
      unplanned_exits: unplanned,
      faults: faults.map(({ fault, recovered_after_ms }) => ({ fault, recovered_after_ms })),
      missions_per_min: Math.round(options.missions / (batchMs / 60_000)),
      batch_ms: batchMs,
    };
  } finally {
    await fleet?.stop().catch((error: unknown) => options.log(`stopping the fleet: ${String(error)}`));
    await db?.destroy();
    psql(`drop database if exists ${database} with (force)`);
  }
}
