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
    ['input_tokens', result.usage?.input_tokens],
    ['output_tokens', result.usage?.output_tokens],
    ['cost_usd', result.usage?.cost_usd],
  ];
  const lines = values.filter(([, value]) => value !== undefined && value !== null).map(([name, value]) => `        <property name="${name}" value="${escape(String(value))}"/>`);
  return `\n      <properties>\n${lines.join('\n')}\n      </properties>`;
}

/**
 * A JUnit XML report, as GitHub Actions, GitLab and Jenkins read it: one test case per mission, named after its
 * `metadata.name` or its goal. Failed and timed-out missions are failures, cancelled ones skipped, and missions
 * that had not ended when the CLI stopped waiting are errors.
 */
export function junitReport(suiteName: string, results: readonly MissionResult[], seconds: number): string {
  const failures = results.filter((result) => result.status === 'failed' || result.status === 'timed_out').length;
  const skipped = results.filter((result) => result.status === 'cancelled').length;
  const errors = results.filter((result) => !['succeeded', 'failed', 'timed_out', 'cancelled'].includes(result.status)).length;
  const cases = results.map((result) => {
    const name = typeof result.metadata?.name === 'string' ? result.metadata.name : result.goal;
    const time = ((result.duration_ms ?? 0) / 1000).toFixed(3);
    const open = `    <testcase classname="missions" name="${escape(name)}" time="${time}">${properties(result)}`;
    const details = escape([`mission ${result.id}`, result.error?.message, result.lastOutput && `last output:\n${result.lastOutput}`].filter(Boolean).join('\n'));
    let body = '';
    if (result.status === 'failed' || result.status === 'timed_out') {
      body = `\n      <failure type="${escape(result.error?.code ?? result.status)}" message="${escape(result.error?.message ?? result.status)}">${details}</failure>\n    `;
    } else if (result.status === 'cancelled') body = `\n      <skipped message="cancelled"/>\n    `;
    else if (result.status !== 'succeeded') body = `\n      <error type="unfinished" message="still ${escape(result.status)} when the wait ended">${details}</error>\n    `;
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
