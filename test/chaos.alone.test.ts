import { runChaos } from './chaosRun';

// Restarts the shared dockerd, so it runs alone, after the rest of the suite (jest.alone.config.js).
jest.setTimeout(600_000);

test.each([
  ['fresh sandboxes', false],
  ['sandboxes reused within the tenant', true],
])('a batch run while every service fails once ends with every mission succeeded, each step once, no sandbox left, none over the bound (%s)', async (_kind, reuse) => {
  const report = await runChaos({
    reuse,
    missions: 40,
    steps: 3,
    stepSleepS: 1,
    concurrency: 4,
    faultGapMs: 2_500,
    inject: true,
    timeoutMs: 240_000,
    log: (line) => process.stderr.write(`chaos: ${line}\n`),
  });

  process.stderr.write(`chaos: ${JSON.stringify(report.faults)}\n`);
  process.stderr.write(`chaos: most running sandboxes of one worker ${report.most_live_sandboxes}, bound ${report.sandbox_bound}\n`);
  expect(report).toMatchObject({
    failures: [],
    stranded: 0,
    steps_recorded_twice: 0,
    step_events_twice: 0,
    missions_with_wrong_steps: 0,
    sandboxes_left: 0,
    unplanned_exits: 0,
  });
  expect(report.by_status).toEqual({ succeeded: 40 });
  expect(report.most_live_sandboxes).toBeLessThanOrEqual(report.sandbox_bound);
  if (reuse) expect(report.sandboxes_shared_by_missions).toBeGreaterThan(0);
  else expect(report.sandboxes_shared_by_missions).toBe(0);
  expect(report.faults.map((fault) => fault.recovered_after_ms)).not.toContain(null);
});
