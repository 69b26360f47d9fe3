/** A finished (or unfinished) mission as the JUnit report shows it. */
export interface MissionResult {
  id: string;
  goal: string;
  status: string;
  metadata?: Record<string, unknown>;
  error?: { code: string; message: string } | null;
  duration_ms: number | null;
  /** The tail of the last step's output, for a failure's details. */
  lastOutput?: string;
  custom_id?: string | null;
  usage?: { input_tokens: number; output_tokens: number; cost_usd: number | null };
  /** Which run of its item, when the items ran more than once. */
  epoch?: number;
  score?: MissionScore | null;
}

export interface MissionScore {
  value: number | null;
  passed: boolean | null;
  explanation: string | null;
  error?: string;
}

/**
 * What a mission came to: with a score, the scorer's verdict (errored when it could not score); without one, the
 * agent's outcome.
 */
export function outcomeOf(result: Pick<MissionResult, 'status' | 'score'>): 'passed' | 'failed' | 'errored' | 'skipped' | 'unfinished' {
  if (result.score) return result.score.error !== undefined ? 'errored' : result.score.passed ? 'passed' : 'failed';
  if (result.status === 'succeeded') return 'passed';
  if (result.status === 'failed' || result.status === 'timed_out') return 'failed';
  return result.status === 'cancelled' ? 'skipped' : 'unfinished';
}

const escape = (text: string) =>
  text
    .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]/g, '')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;');

/** What the report keeps of a mission beside its outcome: its ids and what its model calls used. */
function properties(result: MissionResult): string {
  const values: [string, unknown][] = [
    ['mission_id', result.id],
    ['custom_id', result.custom_id],
    ['epoch', result.epoch],
    ['status', result.status],
    ['score', result.score?.value],
    ['score_explanation', result.score?.explanation],
    ['score_error', result.score?.error],
    ['input_tokens', result.usage?.input_tokens],
    ['output_tokens', result.usage?.output_tokens],
    ['cost_usd', result.usage?.cost_usd],
  ];
  const lines = values.filter(([, value]) => value !== undefined && value !== null).map(([name, value]) => `        <property name="${name}" value="${escape(String(value))}"/>`);
  return `\n      <properties>\n${lines.join('\n')}\n      </properties>`;
}

/**
 * A JUnit XML report, as GitHub Actions, GitLab and Jenkins read it: one test case per mission (per item and
 * epoch), named after its `metadata.name` or its goal. A scored mission fails when its score did not pass and is
 * an error when its scorer could not score; one without a scorer fails when it failed or timed out. Cancelled
 * missions are skipped, and those that had not ended when the CLI stopped waiting are errors.
 */
export function junitReport(suiteName: string, results: readonly MissionResult[], seconds: number): string {
  const outcomes = results.map(outcomeOf);
  const failures = outcomes.filter((outcome) => outcome === 'failed').length;
  const skipped = outcomes.filter((outcome) => outcome === 'skipped').length;
  const errors = outcomes.filter((outcome) => outcome === 'errored' || outcome === 'unfinished').length;
  const cases = results.map((result, at) => {
    const named = typeof result.metadata?.name === 'string' ? result.metadata.name : result.goal;
    const name = result.epoch === undefined ? named : `${named} [epoch ${result.epoch}]`;
    const time = ((result.duration_ms ?? 0) / 1000).toFixed(3);
    const open = `    <testcase classname="missions" name="${escape(name)}" time="${time}">${properties(result)}`;
    const scoreLine = result.score && `score ${result.score.value ?? 'none'}${result.score.explanation ? `: ${result.score.explanation}` : ''}`;
    const details = escape([`mission ${result.id}`, scoreLine, result.error?.message, result.lastOutput && `last output:\n${result.lastOutput}`].filter(Boolean).join('\n'));
    const body = {
      passed: '',
      failed: result.score
        ? `\n      <failure type="score" message="${escape(`scored ${result.score.value}, below its pass mark`)}">${details}</failure>\n    `
        : `\n      <failure type="${escape(result.error?.code ?? result.status)}" message="${escape(result.error?.message ?? result.status)}">${details}</failure>\n    `,
      errored: `\n      <error type="scorer" message="${escape(result.score?.error ?? '')}">${details}</error>\n    `,
      skipped: `\n      <skipped message="cancelled"/>\n    `,
      unfinished: `\n      <error type="unfinished" message="still ${escape(result.status)} when the wait ended">${details}</error>\n    `,
    }[outcomes[at]!];
    return `${open}${body}</testcase>`;
  });
  const counts = `tests="${results.length}" failures="${failures}" errors="${errors}" skipped="${skipped}" time="${seconds.toFixed(3)}"`;
  return `<?xml version="1.0" encoding="UTF-8"?>
<testsuites name="missions" ${counts}>
  <testsuite name="${escape(suiteName)}" ${counts} timestamp="${new Date().toISOString()}">
${cases.join('\n')}
  </testsuite>
</testsuites>
`;
}
