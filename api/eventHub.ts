import { Client } from 'pg';
import { EVENTS_CHANNEL } from '../store/missionProgress';
import { KEYS_CHANNEL } from './apiKeys';
import type { Logger } from '../lib/logger';

/**
 * One LISTEN connection per API process, fanned out to the SSE streams of each mission. A notification only
 * says "this mission has new events"; streams read the events themselves, so a lost notification delays a
 * stream until its next heartbeat read and never loses an event. It also carries every key revoked.
 */
export class MissionEventHub {
  private readonly listeners = new Map<string, Set<() => void>>();
  private readonly revocationListeners: ((keyId: string) => void)[] = [];
  private client: Client | undefined;
  private closed = false;

  constructor(
    private readonly databaseUrl: string,
    private readonly logger: Logger,
  ) {}

  async start(): Promise<void> {
    const client = new Client({ connectionString: this.databaseUrl });
    client.on('notification', ({ channel, payload = '' }) => {
      if (channel === KEYS_CHANNEL) this.revocationListeners.forEach((listener) => listener(payload));
      else this.listeners.get(payload)?.forEach((wake) => wake());
    });
    client.on('error', (error) => {
      this.logger.warn({ err: error }, 'event listener connection lost; reconnecting');
      void client.end().catch(() => undefined);
      this.reconnectSoon();
    });
    await client.connect();
    await client.query(`LISTEN ${EVENTS_CHANNEL}; LISTEN ${KEYS_CHANNEL}`);
    this.client = client;
  }

  /** Calls `wake` whenever the mission has new events; returns the unsubscribe function. */
  subscribe(missionId: string, wake: () => void): () => void {
    const set = this.listeners.get(missionId) ?? new Set();
    set.add(wake);
    this.listeners.set(missionId, set);
    return () => {
      set.delete(wake);
      if (set.size === 0) this.listeners.delete(missionId);
    };
  }

  /** Calls `listener` with the id of every key revoked, by any API process. */
  onKeyRevoked(listener: (keyId: string) => void): void {
    this.revocationListeners.push(listener);
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.client?.end().catch(() => undefined);
  }

  private reconnectSoon(): void {
    if (this.closed) return;
    setTimeout(() => void this.start().catch(() => this.reconnectSoon()), 1_000).unref();
  }
}
