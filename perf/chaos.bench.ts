// `npm run perf -- chaos`: 300 three-step sandboxed missions through an API process and two worker processes,
// once undisturbed (the baseline) and once while each worker is SIGKILLed and restarted, Redis is SIGKILLed and
// comes back empty, Postgres restarts in immediate mode and dockerd restarts (test/chaosRun.ts).
import { runChaos, type ChaosOptions } from '../test/chaosRun';
import { writeResult } from './stats';

const options: Omit<ChaosOptions, 'inject'> = {
  missions: 300,
  steps: 3,
  stepSleepS: 0.2,
  concurrency: 4,
  faultGapMs: 6_000,
  timeoutMs: 600_000,
  log: (line) => console.error(`chaos: ${line}`),
};

async function main(): Promise<void> {
  const baseline = await runChaos({ ...options, inject: false });
  const chaos = await runChaos({ ...options, inject: true });
  writeResult('chaos', {
    settings: { missions: options.missions, steps: options.steps, step_sleep_s: options.stepSleepS, workers: 2, concurrency_per_worker: options.concurrency },
    chaos,
    baseline: { batch_ms: baseline.batch_ms, by_status: baseline.by_status },
    batch_time_ratio_to_baseline: Math.round((chaos.batch_ms / baseline.batch_ms) * 100) / 100,
  }, [
    { name: `missions stranded by the faults (of ${options.missions})`, value: chaos.stranded, unit: 'missions', target: { on: 'value', atMost: 0 } },
    { name: 'steps recorded twice', value: chaos.steps_recorded_twice, unit: 'steps', target: { on: 'value', atMost: 0 } },
    { name: 'batch time under faults', value: chaos.batch_ms, unit: 'ms', baseline: { name: 'undisturbed', value: baseline.batch_ms } },
  ]);
}

void main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
