import { createHash } from 'node:crypto';
import picomatch from 'picomatch';
import { SandboxError } from '../sandbox/errors';
import type { Sandbox } from '../sandbox/sandbox';
import { MAX_ARCHIVE_BYTES } from '../sandbox/workspaceArchive';

/** A file a mission left that its `artifacts` globs asked for. */
export interface Artifact {
  path: string;
  bytes: number;
  sha256: string;
  content: Buffer;
}

/** What collecting kept and left out (kept with the mission: its `artifacts`). */
export interface ArtifactSummary {
  kept: number;
  bytes: number;
  left_out: { path: string; bytes: number; reason: string }[];
  /** Why nothing could be collected, when nothing could. */
  error?: string;
}

export interface ArtifactLimits {
  /** What a mission's artifacts may hold together (ARTIFACT_MAX_BYTES). */
  maxBytes: number;
  /** How many files a mission keeps at most. */
  maxFiles: number;
}

const LIST_TIMEOUT_MS = 30_000;
const READ_TIMEOUT_MS = 60_000;
/** Bytes of the workspace's listing read at most: about 50,000 paths. */
const MAX_LISTING_BYTES = 4 << 20;
/** Left-out files named in the summary; the rest only counted. */
const MAX_LEFT_OUT = 100;
/** The most one read through the step channel carries (channel.c's MAX_PAYLOAD, less its header). */
const MAX_READ_BYTES = MAX_ARCHIVE_BYTES - 4_096;
// Each file as "<size> <path>\0", paths relative to /workspace: regular files only (not links, not devices).
const LIST = 'cd /workspace && exec find . -type f -printf "%s %P\\0"';

/**
 * Collects the files under /workspace that match `globs` (picomatch, `**` across directories, dotfiles
 * included), in path order, while they fit `maxBytes` and `maxFiles`; what does not is listed as left out, with
 * why. Reads through the step channel, as read_file does: nothing of the sandbox is trusted beyond its bytes.
 */
export async function collectArtifacts(sandbox: Sandbox, globs: readonly string[], limits: ArtifactLimits): Promise<{ files: Artifact[]; summary: ArtifactSummary }> {
  const listing = await sandbox.run(LIST, { timeoutMs: LIST_TIMEOUT_MS, maxOutputBytes: MAX_LISTING_BYTES });
  if (listing.exit_code !== 0 && listing.stdout_bytes === 0) return nothing(`listing /workspace failed: ${listing.stderr.trim().slice(0, 200)}`);
  const text = listing.stdout_base64 === undefined ? listing.stdout : Buffer.from(listing.stdout_base64, 'base64').toString('utf8');
  const matches = picomatch([...globs], { dot: true });
  const found = text
    .split('\0')
    .slice(0, listing.stdout_bytes > MAX_LISTING_BYTES ? -1 : undefined)
    .flatMap((line) => {
      const space = line.indexOf(' ');
      const [bytes, path] = [Number(line.slice(0, space)), line.slice(space + 1)];
      return space > 0 && Number.isSafeInteger(bytes) && path && matches(path) ? [{ path, bytes }] : [];
    })
    .sort((a, b) => (a.path < b.path ? -1 : 1));
  const files: Artifact[] = [];
  const summary: ArtifactSummary = { kept: 0, bytes: 0, left_out: [] };
  const leaveOut = (path: string, bytes: number, reason: string) => {
    if (summary.left_out.length < MAX_LEFT_OUT) summary.left_out.push({ path, bytes, reason });
  };
  for (const { path, bytes } of found) {
    if (files.length >= limits.maxFiles) {
      leaveOut(path, bytes, `past ${limits.maxFiles} files`);
      continue;
    }
    if (summary.bytes + bytes > limits.maxBytes) {
      leaveOut(path, bytes, `past ARTIFACT_MAX_BYTES (${limits.maxBytes} bytes together)`);
      continue;
    }
    let content: Buffer;
    try {
      const file = await withTimeout(sandbox.readFile(path, Math.min(MAX_READ_BYTES, Math.max(1, limits.maxBytes - summary.bytes))), READ_TIMEOUT_MS);
      // It grew since it was listed (something still writes it): what was read is not the file.
      if (file.size > file.data.length) throw new SandboxError('ERR_ARTIFACTS', `it grew to ${file.size} bytes while it was read`);
      content = file.data;
    } catch (error) {
      if (!(error instanceof SandboxError)) throw error;
      leaveOut(path, bytes, `it could not be read: ${error.message}`);
      continue;
    }
    files.push({ path, bytes: content.length, sha256: createHash('sha256').update(content).digest('hex'), content });
    summary.kept++;
    summary.bytes += content.length;
  }
  return { files, summary };
}

function nothing(error: string): { files: Artifact[]; summary: ArtifactSummary } {
  return { files: [], summary: { kept: 0, bytes: 0, left_out: [], error } };
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new SandboxError('ERR_ARTIFACTS', `reading took more than ${ms} ms`)), ms)));
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
