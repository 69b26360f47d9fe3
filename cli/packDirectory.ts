import { lstat, readdir, readFile, readlink } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Writable } from 'node:stream';
import { createGzip } from 'node:zlib';
import * as tar from 'tar-stream';
import { CliError, EXIT } from './exitCodes';

/**
 * A directory as a tar.gz for POST /v1/files: its files, directories and symbolic links, in name order, with
 * their modes and times, so the same directory packs to the same bytes (and is stored once). Anything else (a
 * socket, a device) is refused here, as the server would refuse it.
 */
export async function packDirectory(root: string): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  const collect = new Writable({ write: (chunk: Buffer, _encoding, done) => (chunks.push(chunk), done()) });
  const writing = pipeline(pack, createGzip(), collect);
  const add = (header: tar.Headers, data?: Buffer) =>
    new Promise<void>((resolve, reject) => {
      const done = (error?: Error | null) => (error ? reject(error) : resolve());
      if (data) pack.entry(header, data, done);
      else pack.entry(header, done);
    });
  const walk = async (dir: string): Promise<void> => {
    for (const name of (await readdir(dir)).sort()) {
      const path = join(dir, name);
      const entry = relative(root, path).split('\\').join('/');
      const stats = await lstat(path);
      const common = { name: entry, mode: stats.mode & 0o7777, mtime: stats.mtime };
      if (stats.isDirectory()) {
        await add({ ...common, type: 'directory' });
        await walk(path);
      } else if (stats.isFile()) await add({ ...common, type: 'file' }, await readFile(path));
      else if (stats.isSymbolicLink()) await add({ ...common, type: 'symlink', linkname: await readlink(path) });
      else throw new CliError(`${path} is neither a file, a directory nor a link: it cannot be sent`, EXIT.usage);
    }
  };
  try {
    if (!(await lstat(root)).isDirectory()) throw new CliError(`${root} is not a directory`, EXIT.usage);
    await walk(root);
  } catch (error) {
    if (error instanceof CliError) throw error;
    throw new CliError(`cannot read ${root}: ${(error as Error).message}`, EXIT.usage);
  }
  pack.finalize();
  await writing;
  return Buffer.concat(chunks);
}
