import { SandboxError, SandboxLostError, SandboxStartError } from '../sandbox/errors';

/**
 * The one place that tells a fault of the platform's services from a mission's own failure.
 *
 * A mission fails only for its own reasons: its step, its policy, its sandbox (out of memory, a fork bomb), its
 * input, its deadline. Those are recorded as its outcome by the engine and never thrown. What is thrown out of the
 * engine is either an infrastructure fault (Postgres, Redis or Docker away, restarting or overloaded; a sandbox
 * that cannot start or was stopped from outside), retried until the service is back, or a defect of ours,
 * retried a few times and then recorded as `ERR_INTERNAL`.
 */
export type FaultKind = 'infrastructure' | 'conflict' | 'defect';

/**
 * Another run of the same mission recorded this step first (a job BullMQ took over while its first worker was
 * still going, after a network partition). The run whose job owns the mission goes on from the recorded steps;
 * the other stops.
 */
export class StepConflictError extends Error {
  readonly code = 'ERR_STEP_CONFLICT';

  constructor(missionId: string, seq: number, options?: ErrorOptions) {
    super(`step ${seq} of mission ${missionId} was recorded by another run`, options);
    this.name = 'StepConflictError';
  }
}

// Connection-level errors of Node's sockets: the service is away or the network between us is.
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
]);

// Postgres SQLSTATEs of a server that is away, starting, stopping, overloaded or in a transient conflict.
const POSTGRES_CLASSES = ['08', '53', '57P', '58'];
const POSTGRES_CODES = new Set(['40001', '40P01', '55P03', '25006']);

// Messages of pg, knex, ioredis and BullMQ when their connection is gone or not there yet.
const CONNECTION_MESSAGES =
  /Connection terminated|connection error|not queryable|timeout exceeded when trying to connect|Timeout acquiring a connection|Connection is closed|Stream isn't writeable|enableOfflineQueue|Reached the max retries per request|Missing lock for job|socket hang up|All sentinels are unreachable/i;
// Redis replies of a server that is loading, failing over or busy.
const REDIS_REPLIES = /^(LOADING|BUSY|MASTERDOWN|READONLY|CLUSTERDOWN|TRYAGAIN)\b/;

export function faultKind(error: unknown): FaultKind {
  if (error instanceof StepConflictError) return 'conflict';
  return isInfrastructureFault(error) ? 'infrastructure' : 'defect';
}

/** Whether the error means a service the platform depends on failed, not the mission. */
export function isInfrastructureFault(error: unknown): boolean {
  // A sandbox error says itself whose it is: whatever caused a sandbox to die, a mission's OOM is the mission's.
  if (error instanceof SandboxError) return error instanceof SandboxStartError || error instanceof SandboxLostError;
  return causes(error).some(isServiceFailure);
}

/** A duplicate primary key: the row is there already. */
export function isUniqueViolation(error: unknown): boolean {
  return (error as { code?: unknown } | null)?.code === '23505';
}

function isServiceFailure(error: Record<string, unknown>): boolean {
  const { code, message, name, statusCode, syscall } = error;
  if (typeof code === 'string') {
    if (NETWORK_CODES.has(code)) return true;
    // The Docker socket file is missing while dockerd is away.
    if (code === 'ENOENT' && syscall === 'connect') return true;
    if (POSTGRES_CODES.has(code) || (code.length === 5 && POSTGRES_CLASSES.some((prefix) => code.startsWith(prefix)))) return true;
  }
  if (name === 'KnexTimeoutError' || name === 'MaxRetriesPerRequestError') return true;
  // Docker's daemon answering 5xx: containerd away, the daemon shutting down.
  if (typeof statusCode === 'number' && statusCode >= 500) return true;
  return typeof message === 'string' && (CONNECTION_MESSAGES.test(message) || REDIS_REPLIES.test(message));
}

/** The error, its causes, and the errors an AggregateError holds (Node's connect to several addresses). */
function causes(error: unknown, seen = new Set<unknown>()): Record<string, unknown>[] {
  if (error === null || typeof error !== 'object' || seen.has(error)) return [];
  seen.add(error);
  const found = [error as Record<string, unknown>, ...causes((error as { cause?: unknown }).cause, seen)];
  if (error instanceof AggregateError) for (const inner of error.errors) found.push(...causes(inner, seen));
  return found;
}
