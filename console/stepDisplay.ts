import type { stepView } from '../jobs/mission';

type StepView = ReturnType<typeof stepView>;

export interface OutputStream {
  name: 'stdout' | 'stderr';
  text: string;
  /** Bytes the command wrote in all; more than the text holds when its middle was cut. */
  bytes: number;
  cut: boolean;
  /** The exact bytes, when the text is not exact (not UTF-8, or NUL bytes). */
  base64: string | undefined;
}

/** What the page shows of a step: the call's main text and the observation, split into its parts. */
export interface StepDisplay {
  /** The command, code or path the call carried; the whole input as JSON otherwise. */
  call: string;
  command: { exitCode: number; timedOut: boolean; signal: number | null; streams: OutputStream[] } | null;
  /** Any other observation (a file read, a finish), as JSON. */
  other: unknown;
}

const stringField = (value: unknown, field: string) => {
  const found = (value as Record<string, unknown> | null)?.[field];
  return typeof found === 'string' ? found : undefined;
};

export function describeStep(step: Pick<StepView, 'input' | 'observation'>): StepDisplay {
  const input = step.input as Record<string, unknown> | null;
  const call = stringField(input, 'command') ?? stringField(input, 'code') ?? JSON.stringify(input, null, 2);
  const observation = step.observation as Record<string, unknown> | null;
  if (!observation || typeof observation.stdout !== 'string' || typeof observation.exit_code !== 'number') {
    return { call, command: null, other: observation };
  }
  const streams = (['stdout', 'stderr'] as const).map((name) => {
    const text = observation[name] as string;
    const bytes = Number(observation[`${name}_bytes`] ?? Buffer.byteLength(text));
    const base64 = stringField(observation, `${name}_base64`);
    const kept = base64 === undefined ? Buffer.byteLength(text) : Buffer.byteLength(base64, 'base64');
    return { name, text, bytes, cut: bytes > kept, base64 };
  });
  return {
    call,
    command: { exitCode: observation.exit_code, timedOut: observation.timed_out === true, signal: (observation.signal as number | null) ?? null, streams },
    other: undefined,
  };
}
