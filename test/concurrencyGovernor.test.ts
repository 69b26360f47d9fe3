import { ConcurrencyGovernor } from '../workers/concurrencyGovernor';

// The governor's decisions, one look at a time: the host's CPU and the event loop's delay are given, as they are
// what it reads (worker.concurrency.alone.test.ts runs it against the real host).
function governed(concurrency: number, running: number) {
  const worker = { concurrency, running: () => running };
  const changes: number[] = [];
  const governor = new ConcurrencyGovernor(worker, () => 0, { min: 2, max: 30 });
  governor.on('changed', (to) => changes.push(to));
  return { worker, governor, changes };
}

test('an idle host with every slot taken grows by half, up to the most', () => {
  const { worker, governor, changes } = governed(4, 4);
  for (let look = 0; look < 8; look++) {
    governor.tick(0.1, 5);
    // Missions fill every new slot (the queue has more).
    Object.assign(worker, { running: () => worker.concurrency });
  }
  expect(changes).toEqual([6, 9, 14, 21, 30]);
});

test('free slots mean the work fits: it does not grow', () => {
  const { governor, changes } = governed(8, 5);
  governor.tick(0.05, 5);
  expect(changes).toEqual([]);
});

test('a saturated host, or a late event loop, shrinks it by a quarter, down to the fewest', () => {
  const { governor, changes } = governed(16, 16);
  governor.tick(0.99, 5);
  governor.tick(0.5, 1_500); // the CPU eased, but the event loop is 1.5 s late
  expect(changes).toEqual([12, 9]);
  for (let look = 0; look < 10; look++) governor.tick(1, 5);
  expect(changes.slice(2)).toEqual([6, 4, 3, 2]);
});

test('a burst of CPU is smoothed over the looks: one saturated look among idle ones does not shrink it', () => {
  const { governor, changes } = governed(10, 9);
  for (const busy of [0.3, 0.3, 1, 0.3, 1, 0.3]) governor.tick(busy, 5);
  expect(changes).toEqual([]);
});

test('between the two thresholds it stays', () => {
  const { governor, changes } = governed(10, 10);
  governor.tick(0.9, 5);
  expect(changes).toEqual([]);
});
