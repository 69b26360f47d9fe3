import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { claimHost } from '../fleet/hostClaim';
import { stopProcess } from './processes';

// Two fleets on one machine would share a simulated host's dockerd; the second is told so before it starts one.
let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'host-claim-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

test('a host held by another live process is refused in words, and stays that process\'s', async () => {
  const other = spawn('sleep', ['60']);
  try {
    writeFileSync(join(dir, 'owner'), String(other.pid));
    expect(() => claimHost(dir, 'a')).toThrow(`fleet: host a (${dir}) is held by process ${other.pid}: one fleet runs on a machine at a time`);
    expect(readFileSync(join(dir, 'owner'), 'utf8')).toBe(String(other.pid));
  } finally {
    await stopProcess(other, 'SIGKILL');
  }
});

test('a host left by a process that died is taken over; a host this process holds is its own', async () => {
  const gone = spawn('true');
  await new Promise((resolve) => gone.once('exit', resolve));
  writeFileSync(join(dir, 'owner'), String(gone.pid));
  claimHost(dir, 'a');
  expect(readFileSync(join(dir, 'owner'), 'utf8')).toBe(String(process.pid));
  claimHost(dir, 'a');
  expect(readFileSync(join(dir, 'owner'), 'utf8')).toBe(String(process.pid));
});
