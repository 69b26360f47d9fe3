// `npm run perf -- <name>`: runs perf/<name>.ts, which writes perf/results/<name>.json.
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

const name = process.argv[2];
const available = readdirSync(__dirname)
  .filter((file) => file.endsWith('.bench.ts'))
  .map((file) => file.replace(/\.bench\.ts$/, ''));

if (!name || !existsSync(join(__dirname, `${name}.bench.ts`))) {
  console.error(`perf: name a benchmark: ${available.join(', ') || '(none yet)'}`);
  process.exit(64);
}
require(join(__dirname, `${name}.bench.ts`));
