import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import * as tar from 'tar-stream';
import * as yazl from 'yazl';

/** An entry of a test archive: a file (content), a directory, a symbolic link (target) or a device node. */
export interface TestEntry {
  name: string;
  content?: string | Buffer;
  mode?: number;
  type?: 'file' | 'directory' | 'symlink' | 'link' | 'character-device' | 'fifo';
  target?: string;
}

/** A tar, written by tar-stream as any tool would, hostile entries and all. */
export async function tarOf(entries: readonly TestEntry[]): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  pack.on('data', (chunk: Buffer) => chunks.push(chunk));
  const ended = new Promise((resolve) => pack.on('end', resolve));
  for (const entry of entries) {
    const type = entry.type ?? 'file';
    const header = { name: entry.name, type, mode: entry.mode ?? (type === 'directory' ? 0o755 : 0o644), linkname: entry.target, devmajor: 1, devminor: 3 };
    await new Promise<void>((resolve, reject) => {
      const done = (error?: Error | null) => (error ? reject(error) : resolve());
      if (type === 'file') pack.entry(header, Buffer.from(entry.content ?? ''), done);
      else pack.entry(header, done);
    });
  }
  pack.finalize();
  await ended;
  return Buffer.concat(chunks);
}

export const tarGzOf = async (entries: readonly TestEntry[]) => gzipSync(await tarOf(entries));

/** A zip, written by yazl, with Unix modes (a symbolic link is a file whose mode says so and whose content is its target). */
export async function zipOf(entries: readonly TestEntry[]): Promise<Buffer> {
  const zip = new yazl.ZipFile();
  for (const entry of entries) {
    if (entry.type === 'directory') zip.addEmptyDirectory(entry.name, { mode: 0o40000 | (entry.mode ?? 0o755) });
    else if (entry.type === 'symlink') zip.addBuffer(Buffer.from(entry.target!), entry.name, { mode: 0o120777 });
    else zip.addBuffer(Buffer.from(entry.content ?? ''), entry.name, { mode: 0o100000 | (entry.mode ?? 0o644) });
  }
  zip.end();
  const chunks: Buffer[] = [];
  for await (const chunk of zip.outputStream as Readable) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}
