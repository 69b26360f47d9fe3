import { runFleetChaos } from '../fleet/chaos';

// The simulated fleet (two hosts, each a dockerd of its own with two workers; two APIs behind HAProxy; Redis under
// Sentinel; Postgres behind PgBouncer) while every part of it fails once. Alone: it loads the machine.
jest.setTimeout(600_000);

test('a fleet that loses its Redis primary, a whole host, its pooler and an API ends every mission, each step once, nothing left', async () => {
  // Enough missions that steps still start after the last fault (each fault's recovery is the first step after it):
  // with 100, a slow hour ended the batch's last steps before the API was killed.
  const report = await runFleetChaos({
    missions: 200,
    hosts: ['a', 'b'],
    inject: true,
    faultGapMs: 3_000,
    timeoutMs: 300_000,
    log: (line) => process.stderr.write(`fleet: ${line}\n`),
  });

  process.stderr.write(`fleet: ${JSON.stringify(report)}\n`);
  expect(report).toMatchObject({
    by_status: { succeeded: 200 },
    stranded: 0,
    steps_recorded_twice: 0,
    missions_with_wrong_steps: 0,
    sandboxes_left: 0,
    unplanned_exits: [],
  });
  expect(report.faults.map((fault) => fault.recovered_after_ms)).not.toContain(null);
});
