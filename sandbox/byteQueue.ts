/**
 * Bytes received and not yet parsed, held as the chunks they came in. Each byte is copied at most once on its
 * way out, so parsing a stream costs time linear in its length (concatenating every chunk onto what is held
 * would cost its square).
 */
export class ByteQueue {
  private chunks: Buffer[] = [];
  private held = 0;

  get length(): number {
    return this.held;
  }

  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.held += chunk.length;
  }

  /**
   * The first line (without its newline), taken out with the newline, when it ends within `maxBytes`. Undefined
   * when no newline is held yet; 'too long' when none is within `maxBytes` of the start. Looks at no more than
   * `maxBytes + 1` bytes, so a stream with no newline costs nothing per chunk.
   */
  takeLine(maxBytes: number): Buffer | undefined | 'too long' {
    let scanned = 0;
    for (const chunk of this.chunks) {
      const within = chunk.subarray(0, maxBytes + 1 - scanned);
      const newline = within.indexOf(0x0a);
      if (newline >= 0) {
        const line = this.take(scanned + newline + 1)!;
        return line.subarray(0, line.length - 1);
      }
      scanned += within.length;
      if (scanned > maxBytes) return 'too long';
    }
    return undefined;
  }

  /** The first `n` bytes, taken out; undefined while fewer are held. */
  take(n: number): Buffer | undefined {
    if (n > this.held) return undefined;
    const parts: Buffer[] = [];
    let wanted = n;
    while (wanted > 0) {
      const chunk = this.chunks[0]!;
      if (chunk.length <= wanted) {
        parts.push(chunk);
        this.chunks.shift();
        wanted -= chunk.length;
      } else {
        parts.push(chunk.subarray(0, wanted));
        this.chunks[0] = chunk.subarray(wanted);
        wanted = 0;
      }
    }
    this.held -= n;
    return parts.length === 1 ? parts[0]! : Buffer.concat(parts, n);
  }
}
