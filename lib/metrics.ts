import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** The process's Prometheus metrics. Created once per process by its entry point and passed down. */
export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  return {
    registry,
    httpDuration: new Histogram({
      name: 'http_request_duration_seconds',
      help: 'HTTP request latency by route, method and status',
      labelNames: ['route', 'method', 'status'] as const,
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [registry],
    }),
    missionsSubmitted: new Counter({
      name: 'missions_submitted_total',
      help: 'Missions committed by the API, by how they came (single or batch)',
      labelNames: ['via'] as const,
      registers: [registry],
    }),
    sweeperRescues: new Counter({
      name: 'mission_sweeper_rescues_total',
      help: 'Open missions the sweeper enqueued or gave a new job, by why (not_enqueued, job_missing, job_failed, job_completed)',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    queueJobs: new Gauge({
      name: 'mission_queue_jobs',
      help: 'Mission jobs in BullMQ by state, read when scraped',
      labelNames: ['state'] as const,
      registers: [registry],
    }),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
