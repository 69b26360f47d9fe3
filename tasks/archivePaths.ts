/** The archive cannot be unpacked into a workspace: what is wrong with it, in words a user can act on. */
export class ArchiveError extends Error {
  readonly code = 'ERR_ARCHIVE';
}

/**
 * An entry's name as a path inside the workspace, `a/b/c` (undefined for the archive's root itself). Refused:
 * absolute paths, `..` anywhere, backslashes (a Windows path means something else here), NUL.
 */
export function entryPath(name: string): string | undefined {
  if (name.includes('\0')) throw new ArchiveError(`an entry's name holds a NUL character`);
  if (name.startsWith('/')) throw new ArchiveError(`${JSON.stringify(name)} is an absolute path`);
  if (name.includes('\\')) throw new ArchiveError(`${JSON.stringify(name)} holds a backslash`);
  const segments = name.split('/').filter((segment) => segment !== '' && segment !== '.');
  if (segments.includes('..')) throw new ArchiveError(`${JSON.stringify(name)} goes up out of its folder with ..`);
  return segments.length === 0 ? undefined : segments.join('/');
}

/**
 * Keeps every path of an archive's links inside it: a link's target must be relative and resolve inside the
 * archive, no entry may sit under a link (nothing is written through one), and no `..` may follow a link in a
 * target (a link's `..` is its target's parent, which a lexical check cannot see).
 */
export class LinkRules {
  private readonly links = new Map<string, string>();
  private readonly paths: string[] = [];

  /** Notes an entry; `target` for a symbolic link. */
  add(path: string, target?: string): void {
    if (target?.startsWith('/')) throw new ArchiveError(`the link ${JSON.stringify(path)} points to an absolute path, ${JSON.stringify(target)}`);
    if (target !== undefined) this.links.set(path, target);
    this.paths.push(path);
  }

  /** Once every entry is in: links may point to entries that come after them. */
  check(): void {
    for (const path of this.paths) {
      const segments = path.split('/');
      for (let end = 1; end < segments.length; end++) {
        const above = segments.slice(0, end).join('/');
        if (this.links.has(above)) throw new ArchiveError(`${JSON.stringify(path)} would be written through the link ${JSON.stringify(above)}`);
      }
    }
    for (const [path, target] of this.links) {
      const resolved = path.split('/').slice(0, -1);
      for (const segment of target.split('/')) {
        if (segment === '' || segment === '.') continue;
        if (segment !== '..') {
          resolved.push(segment);
          continue;
        }
        if (resolved.length === 0) throw new ArchiveError(`the link ${JSON.stringify(path)} points out of the archive, to ${JSON.stringify(target)}`);
        if (this.links.has(resolved.join('/'))) throw new ArchiveError(`the link ${JSON.stringify(path)} goes up (..) from another link, ${JSON.stringify(resolved.join('/'))}`);
        resolved.pop();
      }
    }
  }
}
