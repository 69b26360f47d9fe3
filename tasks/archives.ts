import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip, createGzip } from 'node:zlib';
import * as tar from 'tar-stream';
import * as yauzl from 'yauzl';
import { MAX_ARCHIVE_BYTES } from '../sandbox/workspaceArchive';
import { ArchiveError, LinkRules, entryPath } from './archivePaths';

/**
 * A tenant's archive (tar, tar.gz or zip) read on the host without writing anything, checked, and written again
 * as a plain tar.gz of regular files, directories and symbolic links that stay inside it: what the sandbox
 * unpacks is only ever that. Everything is bounded while it is read (entries, bytes unpacked, bytes gunzipped),
 * so a bomb stops at its bound rather than at the host's memory.
 */
export interface ArchiveLimits {
  /** The most its files may hold unpacked (the largest workspace a mission can have). */
  maxExpandedBytes: number;
  maxEntries: number;
  /** The most the written tar.gz may hold (what a sandbox takes in one piece). */
  maxArchiveBytes: number;
}

/** What an upload may hold where workspaces hold `workspaceBytes`. */
export const archiveLimits = (workspaceBytes: number): ArchiveLimits => ({ maxExpandedBytes: workspaceBytes, maxEntries: 100_000, maxArchiveBytes: MAX_ARCHIVE_BYTES });

export interface NormalisedArchive {
  archive: Buffer;
  entries: number;
  expandedBytes: number;
}

interface Entry {
  path: string;
  type: 'file' | 'directory' | 'symlink';
  mode: number;
  mtime: Date;
  data?: Buffer;
  target?: string;
}

/** Reads, checks and rewrites an archive; rejects with ArchiveError saying what is wrong with it. */
export async function normaliseArchive(body: Buffer, limits: ArchiveLimits): Promise<NormalisedArchive> {
  const budget = new Budget(limits);
  let entries: Entry[];
  try {
    entries = isZip(body) ? await zipEntries(body, budget) : await tarEntries(body, budget);
  } catch (error) {
    if (error instanceof ArchiveError) throw error;
    throw new ArchiveError(`it is not a tar, tar.gz or zip archive that can be read (${(error as Error).message})`);
  }
  const rules = new LinkRules();
  for (const entry of entries) rules.add(entry.path, entry.target);
  rules.check();
  return { archive: await packed(entries, limits.maxArchiveBytes), entries: entries.length, expandedBytes: budget.bytes };
}

/** Inline files of a mission as an archive like the others (their paths checked the same way). */
export function inlineArchive(files: readonly { path: string; data: Buffer }[], maxArchiveBytes: number): Promise<Buffer> {
  const entries = files.map(({ path, data }): Entry => {
    const inside = entryPath(path);
    if (inside === undefined) throw new ArchiveError(`${JSON.stringify(path)} names no file`);
    return { path: inside, type: 'file', mode: 0o644, mtime: new Date(), data };
  });
  return packed(entries, maxArchiveBytes);
}

const isZip = (body: Buffer) => body.length >= 4 && [0x04034b50, 0x06054b50].includes(body.readUInt32LE(0));
const isGzip = (body: Buffer) => body.length >= 2 && body[0] === 0x1f && body[1] === 0x8b;

class Budget {
  entries = 0;
  bytes = 0;
  constructor(private readonly limits: ArchiveLimits) {}

  entry(): void {
    if (++this.entries > this.limits.maxEntries) throw new ArchiveError(`it holds more than ${this.limits.maxEntries} entries`);
  }

  add(bytes: number): void {
    this.bytes += bytes;
    if (this.bytes > this.limits.maxExpandedBytes) throw new ArchiveError(`its files hold more than ${this.limits.maxExpandedBytes} bytes unpacked`);
  }

  /** Counts gunzipped bytes, headers and padding included: a stream of zeros is a bomb too. */
  gunzipped(): Transform {
    let total = 0;
    const bound = this.limits.maxExpandedBytes + 1_024 * (this.limits.maxEntries + 2);
    return new Transform({
      transform(chunk: Buffer, _encoding, done) {
        total += chunk.length;
        done(total > bound ? new ArchiveError(`it unpacks to more than ${bound} bytes`) : null, chunk);
      },
    });
  }
}

/** An entry of either format, kept if it is a file, a directory or a symbolic link. */
function kept(name: string, kind: string, mode: number, mtime: Date, data: Buffer | undefined, target: string | undefined): Entry | undefined {
  const path = entryPath(name);
  if (path === undefined) {
    if (kind === 'directory') return undefined;
    throw new ArchiveError(`an entry of type ${kind} has no name`);
  }
  // setuid and setgid bits mean nothing in a sandbox but are dropped all the same.
  const safeMode = mode & 0o1777;
  switch (kind) {
    case 'file':
    case 'contiguous-file':
      return { path, type: 'file', mode: safeMode, mtime, data: data ?? Buffer.alloc(0) };
    case 'directory':
      return { path, type: 'directory', mode: safeMode | 0o700, mtime };
    case 'symlink':
      return { path, type: 'symlink', mode: 0o777, mtime, target: target ?? '' };
    case 'link':
      throw new ArchiveError(`${JSON.stringify(path)} is a hard link: archive it as a file`);
    case 'character-device':
    case 'block-device':
      throw new ArchiveError(`${JSON.stringify(path)} is a device node`);
    case 'fifo':
      throw new ArchiveError(`${JSON.stringify(path)} is a named pipe`);
    default:
      throw new ArchiveError(`${JSON.stringify(path)} is an entry of type ${kind}, which is not kept`);
  }
}

async function tarEntries(body: Buffer, budget: Budget): Promise<Entry[]> {
  const extract = tar.extract();
  const stages = isGzip(body) ? [Readable.from([body]), createGunzip(), budget.gunzipped(), extract] : [Readable.from([body]), extract];
  const feeding = pipeline(stages as unknown as [NodeJS.ReadableStream, NodeJS.WritableStream]);
  const entries: Entry[] = [];
  try {
    for await (const item of extract) {
      budget.entry();
      const chunks: Buffer[] = [];
      for await (const chunk of item as AsyncIterable<Buffer>) {
        budget.add(chunk.length);
        chunks.push(chunk);
      }
      const { header } = item;
      const entry = kept(header.name, header.type ?? 'file', header.mode ?? 0o644, header.mtime ?? new Date(), Buffer.concat(chunks), header.linkname ?? undefined);
      if (entry) entries.push(entry);
    }
    await feeding;
  } catch (error) {
    feeding.catch(() => undefined);
    throw error;
  }
  return entries;
}

const S_IFMT = 0o170000;
const ZIP_KINDS: Record<number, string> = { 0o100000: 'file', 0o040000: 'directory', 0o120000: 'symlink', 0o020000: 'character-device', 0o060000: 'block-device', 0o010000: 'fifo' };

async function zipEntries(body: Buffer, budget: Budget): Promise<Entry[]> {
  const zip = await new Promise<yauzl.ZipFile>((resolve, reject) =>
    yauzl.fromBuffer(body, { lazyEntries: true, validateEntrySizes: true }, (error, file) => (error ? reject(error) : resolve(file))),
  );
  const entries: Entry[] = [];
  try {
    for (let next = await nextEntry(zip); next; next = await nextEntry(zip)) {
      budget.entry();
      // The declared size first (checked against what the entry holds as it is read): a bomb is refused unread.
      budget.add(next.uncompressedSize);
      const unixMode = next.externalFileAttributes >>> 16;
      const kind = next.fileName.endsWith('/') ? 'directory' : (ZIP_KINDS[unixMode & S_IFMT] ?? 'file');
      const data = kind === 'directory' ? undefined : await entryBytes(zip, next);
      const mode = unixMode & 0o7777 || (kind === 'directory' ? 0o755 : 0o644);
      const entry = kept(next.fileName, kind, mode, next.getLastModDate(), kind === 'symlink' ? undefined : data, kind === 'symlink' ? data?.toString('utf8') : undefined);
      if (entry) entries.push(entry);
    }
  } finally {
    zip.close();
  }
  return entries;
}

function nextEntry(zip: yauzl.ZipFile): Promise<yauzl.Entry | undefined> {
  return new Promise((resolve, reject) => {
    const cleanup = () => zip.removeAllListeners('entry').removeAllListeners('end').removeAllListeners('error');
    zip.once('entry', (entry: yauzl.Entry) => (cleanup(), resolve(entry)));
    zip.once('end', () => (cleanup(), resolve(undefined)));
    zip.once('error', (error: Error) => (cleanup(), reject(error)));
    zip.readEntry();
  });
}

async function entryBytes(zip: yauzl.ZipFile, entry: yauzl.Entry): Promise<Buffer> {
  const stream = await new Promise<Readable>((resolve, reject) => zip.openReadStream(entry, (error, opened) => (error ? reject(error) : resolve(opened))));
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

async function packed(entries: readonly Entry[], maxArchiveBytes: number): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  let size = 0;
  const collect = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      size += chunk.length;
      if (size > maxArchiveBytes) return done(new ArchiveError(`its files compress to more than ${maxArchiveBytes} bytes, more than a sandbox takes in one piece`));
      chunks.push(chunk);
      done();
    },
  });
  const feed = async () => {
    for (const entry of entries) {
      const header = { name: entry.path, type: entry.type, mode: entry.mode, mtime: entry.mtime, uid: 1000, gid: 1000, ...(entry.target !== undefined && { linkname: entry.target }) };
      await new Promise<void>((resolve, reject) => {
        const done = (error?: Error | null) => (error ? reject(error) : resolve());
        if (entry.type === 'file') pack.entry(header, entry.data ?? Buffer.alloc(0), done);
        else pack.entry(header, done);
      });
    }
    pack.finalize();
  };
  // Should the bound stop the writing, the feeding is left waiting and goes with the rest.
  await Promise.all([pipeline(pack, createGzip({ level: 6 }), collect), feed()]);
  return Buffer.concat(chunks);
}
