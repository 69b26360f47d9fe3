import { EventEmitter } from 'node:events';
import { Webhook as Signer } from 'standardwebhooks';
import { httpPost } from '../lib/httpPost';
import { refuseTenantUrl } from '../lib/publicAddress';
import type { AttemptOutcome, ClaimedDelivery, WebhookStore } from './webhookStore';

export interface DelivererOptions {
  /** How often due deliveries are looked for. Default 1 s. */
  pollMs: number;
  /** The wait before the first retry; each one after waits twice as long, up to an hour (±20%). Default 5 s. */
  firstRetryMs: number;
  /** A delivery is retried for this long after its event, then given up. Default 24 h. */
  retryForMs: number;
  /** An endpoint gets this long to answer. Default 10 s. */
  timeoutMs: number;
  /** Deliveries sent at once by one process. Default 20. */
  concurrency: number;
  /** Origins that may be plain http or private addresses (the operator's own receivers). */
  allowlist: readonly string[];
}

export const DEFAULT_DELIVERER_OPTIONS: DelivererOptions = {
  pollMs: 1_000,
  firstRetryMs: 5_000,
  retryForMs: 24 * 3_600_000,
  timeoutMs: 10_000,
  concurrency: 20,
  allowlist: [],
};

export type DeliveryResult = 'delivered' | 'retrying' | 'failed' | 'gone';

interface DelivererEvents {
  /** An attempt ended so; `ms` is how long the endpoint took. */
  attempted: [result: DeliveryResult, ms: number];
  /** A round could not run (Postgres away); the next one tries again. */
  failed: [error: Error];
}

const MAX_RETRY_WAIT_MS = 3_600_000;
const KEPT_RESPONSE_CHARS = 1_000;
const MAX_RESPONSE_BYTES = 64 << 10;

/**
 * Sends the outbox's deliveries, signed as Standard Webhooks (`webhook-id`: the delivery's id, the same on every
 * attempt; `webhook-timestamp`: the attempt's time). A 2xx delivers; 410 Gone disables the endpoint; anything
 * else (an error, a timeout, a redirect, another status) is retried with backoff until `retryForMs` has passed.
 * Every process runs one; deliveries are leased, so each is sent at least once whichever process dies.
 */
export class WebhookDeliverer extends EventEmitter<DelivererEvents> {
  private readonly options: DelivererOptions;
  private timer: NodeJS.Timeout | undefined;
  private round: Promise<void> | undefined;
  private readonly stopping = new AbortController();

  constructor(
    private readonly store: WebhookStore,
    options: Partial<DelivererOptions> = {},
  ) {
    super();
    this.options = { ...DEFAULT_DELIVERER_OPTIONS, ...options };
  }

  start(): void {
    this.timer ??= setInterval(() => void this.deliverDue(), this.options.pollMs);
    this.timer.unref();
  }

  /** Stops looking for deliveries; attempts under way are cut off (their lease lets another process retry). */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.stopping.abort();
    await this.round;
  }

  /** One round: every due delivery, `concurrency` at a time. */
  deliverDue(): Promise<void> {
    this.round ??= (async () => {
      try {
        for (;;) {
          const claimed = await this.store.claim(this.options.concurrency, this.options.timeoutMs * 3);
          await Promise.all(claimed.map((delivery) => this.deliver(delivery)));
          if (claimed.length < this.options.concurrency || this.stopping.signal.aborted) return;
        }
      } catch (error) {
        this.emit('failed', error as Error);
      }
    })().finally(() => (this.round = undefined));
    return this.round;
  }

  private async deliver(delivery: ClaimedDelivery): Promise<void> {
    const started = performance.now();
    const outcome = await this.attempt(delivery);
    const ms = performance.now() - started;
    const result: DeliveryResult = outcome.next.status === 'pending' ? 'retrying' : outcome.attempt.response_status === 410 ? 'gone' : outcome.next.status;
    if (result === 'gone') await this.store.disable(delivery.webhook_id, 'the endpoint answered 410 Gone');
    await this.store.record(delivery, { ...outcome, attempt: { ...outcome.attempt, duration_ms: Math.round(ms) } });
    this.emit('attempted', result, ms);
  }

  private async attempt(delivery: ClaimedDelivery): Promise<AttemptOutcome> {
    const at = new Date();
    const failed = (error: string, status: number | null = null, body: string | null = null): AttemptOutcome => ({
      attempt: { at, duration_ms: 0, response_status: status, response_body: body, error },
      next: this.retry(delivery, at),
    });
    if (delivery.disabled_at) return { attempt: { at, duration_ms: 0, response_status: null, response_body: null, error: 'the endpoint is disabled' }, next: { status: 'failed' } };
    const refused = await refuseTenantUrl(delivery.url, this.options.allowlist);
    if (refused) return failed(`the url ${refused}`);
    const body = JSON.stringify(delivery.payload);
    const headers = {
      'content-type': 'application/json',
      'user-agent': 'mission-control-webhooks',
      'webhook-id': delivery.id,
      'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
      'webhook-signature': new Signer(delivery.secret).sign(delivery.id, at, body),
    };
    const url = new URL(delivery.url);
    try {
      const signal = AbortSignal.any([this.stopping.signal, AbortSignal.timeout(this.options.timeoutMs)]);
      const publicOnly = !this.options.allowlist.includes(url.origin);
      const response = await httpPost(url, body, { headers, signal, publicOnly, maxResponseBytes: MAX_RESPONSE_BYTES });
      const kept = response.text.slice(0, KEPT_RESPONSE_CHARS);
      if (response.status >= 200 && response.status < 300) {
        return { attempt: { at, duration_ms: 0, response_status: response.status, response_body: kept, error: null }, next: { status: 'delivered' } };
      }
      if (response.status === 410) return { attempt: { at, duration_ms: 0, response_status: 410, response_body: kept, error: 'gone' }, next: { status: 'failed' } };
      return failed(`the endpoint answered ${response.status}`, response.status, kept);
    } catch (error) {
      return failed(`no answer: ${(error as Error).message}`);
    }
  }

  /** The next attempt, with backoff and jitter; or failed for good once the retry period is over. */
  private retry(delivery: ClaimedDelivery, now: Date): AttemptOutcome['next'] {
    const wait = Math.min(this.options.firstRetryMs * 2 ** (delivery.attempts - 1), MAX_RETRY_WAIT_MS) * (0.8 + Math.random() * 0.4);
    const retryAt = new Date(now.getTime() + wait);
    return retryAt.getTime() - delivery.created_at.getTime() > this.options.retryForMs ? { status: 'failed' } : { status: 'pending', retryAt };
  }
}
