import type { Caller } from './apiKeys';
import { HttpProblem } from './problem';

/**
 * The event streams this API process has open, each with the key it was opened with: shutdown ends them all, a
 * revoked key's end at once, and a tenant may hold at most `perTenant` of them here (the admin has no cap).
 */
export class OpenStreams {
  private readonly streams = new Map<() => void, Caller>();
  private readonly perTenantCount = new Map<string, number>();

  constructor(private readonly perTenant: number) {}

  get size(): number {
    return this.streams.size;
  }

  /** Throws a 429 problem when the caller's tenant already has its maximum open here. */
  checkRoom(caller: Caller): void {
    if (caller.admin || (this.perTenantCount.get(caller.tenantId) ?? 0) < this.perTenant) return;
    throw new HttpProblem(429, 'too-many-streams', `A tenant may have ${this.perTenant} event streams open on one API process.`, 'close a stream you no longer read');
  }

  /** Registers an open stream; `end` closes it (and calls `remove`). */
  add(caller: Caller, end: () => void): void {
    this.streams.set(end, caller);
    this.perTenantCount.set(caller.tenantId, (this.perTenantCount.get(caller.tenantId) ?? 0) + 1);
  }

  remove(end: () => void): void {
    const caller = this.streams.get(end);
    if (!caller) return;
    this.streams.delete(end);
    const left = this.perTenantCount.get(caller.tenantId)! - 1;
    if (left === 0) this.perTenantCount.delete(caller.tenantId);
    else this.perTenantCount.set(caller.tenantId, left);
  }

  /** Ends every stream opened with key `keyId` (it was revoked). */
  endKey(keyId: string): void {
    for (const [end, caller] of [...this.streams]) if (caller.keyId === keyId) end();
  }

  endAll(): void {
    for (const end of [...this.streams.keys()]) end();
  }
}
