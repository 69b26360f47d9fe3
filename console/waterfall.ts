import { duration } from './format';

export type SegmentKind = 'queued' | 'thinking' | 'tool' | 'failed';

export interface Segment {
  kind: SegmentKind;
  /** Where it starts and how long it is, in percent of the mission's span. */
  left: number;
  width: number;
  title: string;
}

export interface WaterfallRow {
  label: string;
  /** The step it belongs to (none for the queue wait). */
  seq: number | null;
  segments: Segment[];
}

export interface Waterfall {
  rows: WaterfallRow[];
  /** Tick labels at 0, 25, 50, 75 and 100 percent. */
  ticks: string[];
  spanMs: number;
}

interface TimedMission {
  created_at: Date;
  started_at: Date | null;
  finished_at: Date | null;
}

interface TimedStep {
  seq: number;
  tool: string;
  started_at: Date | string;
  finished_at: Date | string;
  exit_code: number | null;
  error: string | null;
}

const ms = (date: Date | string) => new Date(date).getTime();

/**
 * A mission's time line, one row per step: the wait in the queue, then for each step the time before it
 * (the policy or the model choosing it, a human approving it) and the tool running. Positions are percents
 * of the span from submission to the end (or to `now` while the mission runs).
 */
export function waterfall(mission: TimedMission, steps: readonly TimedStep[], now = Date.now()): Waterfall {
  const start = ms(mission.created_at);
  const lastStepEnd = steps.length > 0 ? ms(steps[steps.length - 1]!.finished_at) : start;
  const end = Math.max(mission.finished_at ? ms(mission.finished_at) : now, lastStepEnd, start + 1);
  const span = end - start;
  const segment = (kind: SegmentKind, from: number, to: number, title: string): Segment => ({
    kind,
    left: (100 * (from - start)) / span,
    width: Math.max((100 * (to - from)) / span, 0.15),
    title: `${title}: ${duration(to - from)}`,
  });
  const firstStart = mission.started_at ? ms(mission.started_at) : end;
  const rows: WaterfallRow[] = [{ label: 'queued', seq: null, segments: [segment('queued', start, firstStart, 'waiting in the queue')] }];
  let previousEnd = firstStart;
  for (const step of steps) {
    const [from, to] = [ms(step.started_at), ms(step.finished_at)];
    const failed = step.error !== null || (step.exit_code !== null && step.exit_code !== 0);
    rows.push({
      label: `${step.seq} ${step.tool}`,
      seq: step.seq,
      segments: [
        segment('thinking', Math.min(previousEnd, from), from, 'choosing the step'),
        segment(failed ? 'failed' : 'tool', from, to, `${step.tool} running`),
      ],
    });
    previousEnd = to;
  }
  return { rows, ticks: [0, 0.25, 0.5, 0.75, 1].map((at) => duration(at * span)), spanMs: span };
}
