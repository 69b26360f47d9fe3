import type { Mission, MissionOutcome } from '../jobs/mission';

/** Thrown by the engine when its worker hands a running mission back to the queue (shutting down). */
export class HandedBackError extends Error {
  constructor(missionId: string) {
    super(`mission ${missionId} was handed back to the queue`);
    this.name = 'HandedBackError';
  }
}

/**
 * What stops a mission from outside its loop: a cancel, its deadline, or its worker handing it back as it shuts
 * down. `signal` aborts on any of them; the rest says which, and what follows.
 */
export class MissionStops {
  readonly signal: AbortSignal;
  private readonly deadline = new AbortController();
  private readonly timer: NodeJS.Timeout | undefined;
  private readonly deadlineAt: number;

  constructor(
    private readonly cancel: AbortSignal,
    private readonly handBack: AbortSignal,
    deadlineInMs: number | null,
  ) {
    this.signal = AbortSignal.any([cancel, handBack, this.deadline.signal]);
    this.deadlineAt = deadlineInMs === null ? Infinity : Date.now() + Math.max(0, deadlineInMs);
    if (deadlineInMs !== null) this.timer = setTimeout(() => this.deadline.abort(), Math.max(0, deadlineInMs));
  }

  /** Whether the mission's deadline passed (whatever else stopped it too). */
  get deadlineReached(): boolean {
    return this.deadline.signal.aborted;
  }

  /** Milliseconds to the deadline (Infinity: none). */
  msLeft(): number {
    return this.deadlineAt - Date.now();
  }

  /** The worker is giving the mission back: nothing of the interrupted step is recorded, and another worker resumes. */
  get handedBack(): boolean {
    return this.handBack.aborted && !this.cancel.aborted && !this.deadline.signal.aborted;
  }

  /** The outcome of a mission that was stopped; throws HandedBackError when its worker handed it back. */
  outcome(mission: Mission, steps: number): MissionOutcome {
    if (this.handedBack) throw new HandedBackError(mission.id);
    if (!this.deadline.signal.aborted) return { status: 'cancelled', steps, error: { code: 'ERR_CANCELLED', message: 'the mission was cancelled' } };
    const message = `the mission reached its deadline of ${mission.spec.deadline_s} s`;
    return { status: 'timed_out', steps, error: { code: 'ERR_DEADLINE', message } };
  }

  /** The error of a step that was killed because the mission was stopped (not when it was handed back). */
  stepError(mission: Mission): { code: string; message: string } {
    if (this.handedBack) throw new HandedBackError(mission.id);
    return this.deadline.signal.aborted
      ? { code: 'ERR_DEADLINE', message: 'the mission reached its deadline while this step ran' }
      : { code: 'ERR_CANCELLED', message: 'the mission was cancelled while this step ran' };
  }

  dispose(): void {
    clearTimeout(this.timer);
  }
}
