// `npm run test:stress -- [runs] [busy cores]`: the whole suite (as `npm test` runs it) `runs` times in a row
// (default 3) while stress-ng keeps `busy cores` cores busy (default 1), then each test that failed at least once
// with how often. For hunting tests that pass only on a quiet machine; two busy cores of two stand in for a
// slower machine. Exit code 1 when any test failed. Jest's output of each run is kept in a folder.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

interface JestReport {
  numPassedTests: number;
  numFailedTests: number;
  testResults: { name: string; status: string; message: string; assertionResults: { fullName: string; status: string }[] }[];
}

const ROOT = join(__dirname, '..');
const CONFIGS = ['jest.config.js', 'jest.alone.config.js', 'jest.pooled.config.js'];

function ensureStressNg(): void {
  if (spawnSync('sh', ['-c', 'command -v stress-ng'], { stdio: 'ignore' }).status === 0) return;
  console.log('installing stress-ng (Debian package)');
  const asRoot = process.getuid?.() === 0 ? [] : ['sudo'];
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  for (const args of [['apt-get', 'update', '-qq'], ['apt-get', 'install', '-y', '-qq', 'stress-ng']]) {
    const [command, ...rest] = [...asRoot, ...args];
    if (spawnSync(command!, rest, { stdio: 'inherit', env }).status !== 0) throw new Error(`${args.join(' ')} failed`);
  }
}

/** One jest run of one config; its report, and its output in `logFile`. */
function runJest(config: string, reportFile: string, logFile: string): JestReport {
  const run = spawnSync(join(ROOT, 'node_modules/.bin/jest'), ['--config', config, '--json', `--outputFile=${reportFile}`], { cwd: ROOT, encoding: 'utf8', maxBuffer: 1 << 28 });
  writeFileSync(logFile, `${run.stdout}${run.stderr}`);
  try {
    return JSON.parse(readFileSync(reportFile, 'utf8')) as JestReport;
  } catch {
    throw new Error(`jest wrote no report for ${config}; see ${logFile}`);
  }
}

/** The tests that failed in a report, by file and name; a file that failed outside its tests counts as one. */
function failuresOf(report: JestReport): string[] {
  return report.testResults.flatMap((file) => {
    const path = file.name.slice(ROOT.length + 1);
    const failed = file.assertionResults.filter((test) => test.status === 'failed').map((test) => `${path} › ${test.fullName}`);
    return failed.length === 0 && file.status === 'failed' ? [`${path} (the file: ${file.message.split('\n').find(Boolean) ?? 'failed'})`] : failed;
  });
}

function main(): number {
  const [runs, busy] = [Number(process.argv[2] ?? 3), Number(process.argv[3] ?? 1)];
  if (![runs, busy].every((n) => Number.isInteger(n) && n >= 1)) {
    console.error('usage: npm run test:stress -- [runs] [busy cores] (whole numbers >= 1)');
    return 2;
  }
  ensureStressNg();
  const logs = mkdtempSync(join(tmpdir(), 'test-stress-'));
  // Cores kept busy the whole time, as by other jobs on the machine.
  const load = spawn('stress-ng', ['--cpu', String(busy), '--timeout', '0', '--quiet'], { stdio: 'ignore' });
  const counts = new Map<string, number>();
  try {
    for (let run = 1; run <= runs; run++) {
      const started = Date.now();
      let passed = 0;
      let failed = 0;
      for (const config of CONFIGS) {
        const name = `run${run}-${config.replace(/\.config\.js$/, '')}`;
        const report = runJest(config, join(logs, `${name}.json`), join(logs, `${name}.log`));
        passed += report.numPassedTests;
        failed += report.numFailedTests;
        for (const test of failuresOf(report)) counts.set(test, (counts.get(test) ?? 0) + 1);
      }
      console.log(`run ${run}/${runs}: ${passed} passed, ${failed} failed, in ${Math.round((Date.now() - started) / 1000)} s`);
    }
  } finally {
    load.kill('SIGKILL');
  }
  console.log(`jest's output of each run: ${logs}`);
  if (counts.size === 0) {
    console.log(`no test failed in ${runs} run(s) with ${busy} core(s) kept busy`);
    return 0;
  }
  console.log(`failed at least once (${counts.size}):`);
  for (const [test, count] of [...counts].sort((a, b) => b[1] - a[1])) console.log(`  ${count}/${runs}  ${test}`);
  return 1;
}

process.exitCode = main();
