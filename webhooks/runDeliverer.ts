import type { Config } from '../lib/config';
import type { Logger } from '../lib/logger';
import type { Metrics } from '../lib/metrics';
import { WebhookDeliverer } from './deliverer';
import type { WebhookStore } from './webhookStore';

/** Starts this process's webhook deliverer, as configured, its attempts counted and its failures logged. */
export function runDeliverer(store: WebhookStore, config: Config, metrics: Metrics, logger: Logger): WebhookDeliverer {
  const deliverer = new WebhookDeliverer(store, {
    pollMs: config.WEBHOOK_POLL_MS,
    firstRetryMs: config.WEBHOOK_FIRST_RETRY_MS,
    retryForMs: config.WEBHOOK_RETRY_HOURS * 3_600_000,
    allowlist: config.WEBHOOK_URL_ALLOWLIST,
  });
  deliverer.on('attempted', (result) => metrics.webhookAttempts.inc({ result }));
  deliverer.on('failed', (error) => logger.debug({ err: error }, 'webhook deliveries could not be looked for; the next round tries again'));
  deliverer.start();
  return deliverer;
}
