// `npm run perf -- sandbox`: sandbox acquire, step latency and start rate, each beside its baseline in the
// same run on the same image and runtime (raw `docker exec`, a bare dockerode create/start/remove loop).
import Docker from 'dockerode';
import { loadConfig } from '../lib/config';
import { SandboxDriver } from '../sandbox/driver';
import { SandboxPool } from '../sandbox/pool';
import type { Sandbox } from '../sandbox/sandbox';
import { bareStartsPerSecond } from './bareStarts';
import { percentiles, timed, writeResult } from './stats';
import { runBenchmark } from './benchmark';

const STEPS = 300;
const EXECS = 60;
const ACQUIRES = 15;
const STARTS = 20;
const PARALLEL = 2; // two cores

const config = loadConfig();
const docker = new Docker();
const owner = `perf-sandbox-${process.pid}`;
const driver = new SandboxDriver(docker, { image: config.SANDBOX_IMAGE, runtime: config.SANDBOX_RUNTIME, owner, fleet: 'perf' });
const step = { timeoutMs: 10_000, maxOutputBytes: 10_240 };

async function coldAcquires(): Promise<number[]> {
  const pool = new SandboxPool(driver, { size: 0 });
  const samples: number[] = [];
  for (let i = 0; i < ACQUIRES; i++) {
    const [ms, sandbox] = await timed(() => pool.acquire());
    samples.push(ms);
    pool.release(sandbox);
    await sandbox.destroy(); // measured alone, not beside the removal
  }
  await pool.close();
  return samples;
}

async function warmAcquires(): Promise<number[]> {
  const pool = new SandboxPool(driver, { size: 1 });
  pool.start();
  const samples: number[] = [];
  for (let i = 0; i < ACQUIRES; i++) {
    while (pool.stats().idle < 1) await new Promise((resolve) => setTimeout(resolve, 5));
    const [ms, sandbox] = await timed(() => pool.acquire());
    samples.push(ms);
    pool.release(sandbox);
    await sandbox.destroy();
  }
  await pool.close();
  return samples;
}

async function channelSteps(sandbox: Sandbox): Promise<number[]> {
  const samples: number[] = [];
  for (let i = 0; i < STEPS; i++) samples.push((await timed(() => sandbox.run('echo hi', step)))[0]);
  return samples;
}

/** The baseline: the same `sh -c 'echo hi'` through `docker exec`, as most sandbox runners do it. */
async function dockerExecSteps(sandbox: Sandbox): Promise<number[]> {
  const container = docker.getContainer(sandbox.id);
  const samples: number[] = [];
  for (let i = 0; i < EXECS; i++) {
    const [ms, output] = await timed(async () => {
      const exec = await container.exec({ Cmd: ['sh', '-c', 'echo hi'], User: '1000:1000', WorkingDir: '/workspace', AttachStdout: true, AttachStderr: true });
      const stream = await exec.start({});
      const chunks: Buffer[] = [];
      await new Promise((resolve, reject) => stream.on('data', (chunk: Buffer) => chunks.push(chunk)).on('end', resolve).on('error', reject));
      const { ExitCode } = await exec.inspect();
      return { text: Buffer.concat(chunks).toString(), exitCode: ExitCode };
    });
    if (output.exitCode !== 0 || !output.text.includes('hi')) throw new Error(`docker exec failed: ${JSON.stringify(output)}`);
    samples.push(ms);
  }
  return samples;
}

/** Sandboxes started per second by the pool while missions churn through it (acquire, one step, release). */
async function poolStartRate(): Promise<number> {
  const pool = new SandboxPool(driver, { size: PARALLEL, startConcurrency: PARALLEL });
  let started = 0;
  pool.on('started', () => started++);
  pool.start();
  while (pool.stats().idle < PARALLEL) await new Promise((resolve) => setTimeout(resolve, 5));
  started = 0;
  const [ms] = await timed(async () => {
    let missions = 0;
    await Promise.all(
      Array.from({ length: PARALLEL }, async () => {
        while (missions++ < STARTS) {
          const sandbox = await pool.acquire();
          await sandbox.run('true', step);
          pool.release(sandbox);
        }
      }),
    );
    while (pool.stats().idle < PARALLEL) await new Promise((resolve) => setTimeout(resolve, 5));
  });
  await pool.close();
  return started / (ms / 1000);
}

async function main(): Promise<void> {
  const cold = percentiles(await coldAcquires());
  const warm = percentiles(await warmAcquires());
  const sandbox = await driver.start();
  const channel = percentiles(await channelSteps(sandbox));
  const dockerExec = percentiles(await dockerExecSteps(sandbox));
  await sandbox.destroy();
  const poolRate = await poolStartRate();
  const bareRate = await bareStartsPerSecond(docker, driver, STARTS, PARALLEL);
  driver.close();
  const round = (value: number, places = 2) => Math.round(value * 10 ** places) / 10 ** places;
  writeResult('sandbox', {
    runtime: config.SANDBOX_RUNTIME,
    image: config.SANDBOX_IMAGE,
    warm_acquire_ms: warm,
    cold_acquire_ms: cold,
    channel_step_ms: channel,
    docker_exec_step_ms: dockerExec,
    channel_speedup: round(dockerExec.p50 / channel.p50, 1),
    pool_starts_per_s: round(poolRate),
    bare_starts_per_s: round(bareRate),
    start_rate_ratio: round(poolRate / bareRate),
    samples: { acquires: ACQUIRES, channel_steps: STEPS, docker_execs: EXECS, starts: STARTS, parallel: PARALLEL },
  }, [
    { name: 'warm sandbox acquire p50', value: warm.p50, unit: 'ms', baseline: { name: 'cold acquire p50', value: cold.p50 }, target: { on: 'value', atMost: 5 } },
    { name: 'step through the channel p50', value: channel.p50, unit: 'ms', baseline: { name: 'docker exec p50', value: dockerExec.p50 }, target: { on: 'ratio', atMost: 1 / 8 } },
    { name: 'pool sandbox starts', value: round(poolRate), unit: '/s', baseline: { name: 'bare create/start/remove', value: round(bareRate) }, target: { on: 'ratio', atLeast: 0.8 } },
  ]);
}

runBenchmark(main);
