// `npm run perf -- <name>`: runs perf/<name>.bench.ts, which writes perf/results/<name>.json.
// `npm run perf -- all`: runs every benchmark, one after another, then prints one table of their figures.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { figureTable } from './table';

// Cheapest first, so a broken setup shows early; chaos, the longest, last.
const ORDER = ['sandbox', 'api', 'results', 'console', 'engine', 'reuse', 'retention', 'agents', 'chaos', 'fleet-chaos'];
const name = process.argv[2];
const available = readdirSync(__dirname)
  .filter((file) => file.endsWith('.bench.ts'))
  .map((file) => file.replace(/\.bench\.ts$/, ''))
  .sort((a, b) => (ORDER.indexOf(a) + 1 || ORDER.length + 1) - (ORDER.indexOf(b) + 1 || ORDER.length + 1));

if (name === 'all') {
  for (const benchmark of available) {
    console.error(`perf: ${benchmark}`);
    // Each in a process of its own, as it runs alone; its JSON goes to its file, its progress to stderr.
    const run = spawnSync(process.execPath, ['--import', 'tsx', join(__dirname, `${benchmark}.bench.ts`)], { stdio: ['ignore', 'ignore', 'inherit'] });
    if (run.status !== 0) {
      console.error(`perf: ${benchmark} failed (exit ${run.status ?? run.signal})`);
      process.exit(1);
    }
  }
  console.log(figureTable(available));
} else if (name && existsSync(join(__dirname, `${name}.bench.ts`))) {
  require(join(__dirname, `${name}.bench.ts`));
} else {
  console.error(`perf: name a benchmark, or all: ${available.join(', ')}`);
  process.exit(64);
}
