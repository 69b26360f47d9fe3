// Writes the bug-fix suite: twenty small Python repositories with one bug each, their hidden tests, and three
// suites of them: scripted missions that fix the bug in half of the items (suite.jsonl); a scripted agent that
// fixes item i with a probability falling from 0.95 to 0.1, as a model might (suite-noisy.jsonl, for epochs and
// comparisons of runs); and one for a model (suite-model.jsonl, `policy: openai`). Each item is the repository as
// files_dir, the python environment, a setup step that makes it a git repository, a run_tests tool (which also
// writes the changes so far to out/patch.diff), that patch kept as an artifact, and a scorer that runs the hidden
// tests (scorer_files_dir, unpacked only after the agent ended).
//   npx tsx examples/bugfix/generate.ts [DIR]      # into DIR, examples/bugfix/build/ when not given
//   npx missions submit examples/bugfix/build/suite-noisy.jsonl --epochs 5 --wait
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

interface Bug {
  /** What the function should do, as the model is told. */
  does: string;
  buggy: string;
  fixed: string;
  tests: string;
  /** More cases, which the agent never sees: its scorer runs them. */
  hidden: string;
}

/** Five kinds of bug, each at four values: twenty repositories that differ. */
function bugs(): Bug[] {
  const all: Bug[] = [];
  for (const k of [2, 3, 5, 7]) {
    all.push({
      does: `add_k(x) returns x + ${k}`,
      buggy: `def add_k(x):\n    return x + ${k} - 1\n`,
      fixed: `def add_k(x):\n    return x + ${k}\n`,
      tests: `from calc import add_k\n\n\ndef test_add():\n    assert add_k(0) == ${k}\n    assert add_k(10) == ${10 + k}\n`,
      hidden: `from calc import add_k\n\n\ndef test_negative():\n    assert add_k(-${k}) == 0\n`,
    });
    all.push({
      does: `sum_first(xs) returns the sum of the first ${k} items of xs`,
      buggy: `def sum_first(xs):\n    return sum(xs[:${k - 1}])\n`,
      fixed: `def sum_first(xs):\n    return sum(xs[:${k}])\n`,
      tests: `from calc import sum_first\n\n\ndef test_sum_first():\n    assert sum_first(list(range(1, 20))) == ${(k * (k + 1)) / 2}\n`,
      hidden: `from calc import sum_first\n\n\ndef test_short_list():\n    assert sum_first([4] * ${k - 1}) == ${4 * (k - 1)}\n    assert sum_first([1] * ${k + 3}) == ${k}\n`,
    });
    all.push({
      does: `is_multiple(n) says whether n is a multiple of ${k}`,
      buggy: `def is_multiple(n):\n    return n % ${k} == 1\n`,
      fixed: `def is_multiple(n):\n    return n % ${k} == 0\n`,
      tests: `from calc import is_multiple\n\n\ndef test_multiples():\n    assert is_multiple(${k * 3})\n    assert not is_multiple(${k * 3 + 1})\n`,
      hidden: `from calc import is_multiple\n\n\ndef test_zero():\n    assert is_multiple(0)\n    assert not is_multiple(1)\n`,
    });
    all.push({
      does: `repeat_word(word) returns word repeated ${k} times, joined by single spaces`,
      buggy: `def repeat_word(word):\n    return ' '.join([word] * ${k}) + ' '\n`,
      fixed: `def repeat_word(word):\n    return ' '.join([word] * ${k})\n`,
      tests: `from calc import repeat_word\n\n\ndef test_repeat():\n    assert repeat_word('ab') == ${JSON.stringify(Array(k).fill('ab').join(' '))}\n`,
      hidden: `from calc import repeat_word\n\n\ndef test_no_trailing_space():\n    assert not repeat_word('x').endswith(' ')\n`,
    });
    all.push({
      does: `clamp(x) keeps x within 0 and ${k * 10}`,
      buggy: `def clamp(x):\n    return max(0, min(x, ${k * 10 - 1}))\n`,
      fixed: `def clamp(x):\n    return max(0, min(x, ${k * 10}))\n`,
      tests: `from calc import clamp\n\n\ndef test_clamp():\n    assert clamp(-5) == 0\n    assert clamp(${k * 10}) == ${k * 10}\n    assert clamp(${k * 10 + 5}) == ${k * 10}\n`,
      hidden: `from calc import clamp\n\n\ndef test_just_above():\n    assert clamp(${k * 5}) == ${k * 5}\n    assert clamp(${k * 10 + 1}) == ${k * 10}\n`,
    });
  }
  return all;
}

const runTests = {
  name: 'run_tests',
  description: 'Run the repository tests with pytest; prints the last lines of the report, exits non-zero when a test fails. Keeps your changes so far as out/patch.diff.',
  parameters: { type: 'object', properties: {} },
  command: 'cd /workspace && mkdir -p out && git diff > out/patch.diff && python3 -m pytest -q -p no:cacheprovider > /tmp/pytest.txt 2>&1; code=$?; tail -n 20 /tmp/pytest.txt; exit $code',
  timeout_s: 120,
};
// The hidden tests, unpacked under hidden_tests/ only when the agent has ended.
const hiddenTests = {
  command: 'cd /workspace && python3 -m pytest -q -p no:cacheprovider hidden_tests > /tmp/hidden.txt 2>&1; code=$?; grep -E "^(FAILED|ERROR)" /tmp/hidden.txt | head -n 3; tail -n 1 /tmp/hidden.txt; exit $code',
  timeout_s: 120,
};
const setup = [{ tool: 'shell', input: { command: 'git init -q && git add -A && git -c user.email=setup@example.com -c user.name=setup commit -qm "the repository as given"' } }];

const root = resolve(process.argv[2] ?? join(__dirname, 'build'));
rmSync(root, { recursive: true, force: true });
const scripted: string[] = [];
const noisy: string[] = [];
const model: string[] = [];
bugs().forEach((bug, index) => {
  const id = `bug-${String(index + 1).padStart(2, '0')}`;
  const repo = join(root, 'repos', id);
  mkdirSync(repo, { recursive: true });
  writeFileSync(join(repo, 'calc.py'), bug.buggy);
  writeFileSync(join(repo, 'test_calc.py'), bug.tests);
  mkdirSync(join(root, 'hidden', id, 'hidden_tests'), { recursive: true });
  writeFileSync(join(root, 'hidden', id, 'hidden_tests', 'test_hidden.py'), bug.hidden);
  const task = {
    custom_id: id,
    goal: `The tests of this repository fail: ${bug.does}, but calc.py gets it wrong. Fix calc.py so that run_tests passes; do not change the tests.`,
    files_dir: `repos/${id}`,
    environment: { name: 'python', setup },
    tools: [runTests],
    artifacts: ['out/patch.diff'],
    scorer: hiddenTests,
    scorer_files_dir: `hidden/${id}`,
    metadata: { kind: bug.does.split('(')[0] },
  };
  // Scripted: the even items fix the bug (as a model would), the odd ones change nothing; run_tests keeps the patch.
  const fixes = index % 2 === 0 ? [{ tool: 'write_file', input: { path: 'calc.py', content: bug.fixed } }] : [];
  scripted.push(JSON.stringify({ ...task, plan: [...fixes, { tool: 'run_tests', input: {} }] }));
  // Noisy: the fix lands with probability p (a byte of /dev/urandom below 256 p), as a model's attempt might.
  const below = Math.round(256 * (0.95 - (0.85 * index) / 19));
  const attempt = `if [ "$(od -An -N1 -tu1 /dev/urandom)" -lt ${below} ]; then mv calc_fixed.py calc.py; else rm calc_fixed.py; fi`;
  const guess = [{ tool: 'write_file', input: { path: 'calc_fixed.py', content: bug.fixed } }, { tool: 'shell', input: { command: attempt } }];
  noisy.push(JSON.stringify({ ...task, plan: [...guess, { tool: 'run_tests', input: {} }] }));
  model.push(JSON.stringify({ ...task, policy: 'openai', allowed_tools: ['read_file', 'write_file', 'finish'], max_steps: 12 }));
});
writeFileSync(join(root, 'suite.jsonl'), `${scripted.join('\n')}\n`);
writeFileSync(join(root, 'suite-noisy.jsonl'), `${noisy.join('\n')}\n`);
writeFileSync(join(root, 'suite-model.jsonl'), `${model.join('\n')}\n`);
console.log(`wrote 20 repositories, their hidden tests and three suites under ${root}`);
