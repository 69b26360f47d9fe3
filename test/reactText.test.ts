import { parseTextReply } from '../engine/policies/reactText';
import { Toolbox } from '../jobs/toolbox';

const reply = (content: string) => ({ choices: [{ message: { content } }] });
const builtIns = new Toolbox();

test('a text-format reply becomes a tool call, an answer, or an invalid action saying why', () => {
  expect(parseTextReply(reply('Thought: list them\n\n  Action: shell\nAction Input: ```json\n{"command": "seq 3"}\n```'), builtIns)).toEqual({
    kind: 'tool',
    thought: 'list them',
    call: { tool: 'shell', input: { command: 'seq 3' } },
  });
  expect(parseTextReply(reply('Thought: I have them\nFinal Answer:  1 2 3 \n'), builtIns)).toEqual({ kind: 'finish', thought: 'I have them', result: '1 2 3' });
  expect(parseTextReply(reply('Action: shell\nAction Input: {"command": '), builtIns)).toMatchObject({ kind: 'invalid', thought: null, error: expect.stringMatching(/not valid JSON/) });
  expect(parseTextReply(reply('Thought: hmm'), builtIns)).toMatchObject({ kind: 'invalid', thought: 'hmm', error: expect.stringMatching(/expected "Action:"/) });
});

// Each of these made the earlier patterns rescan a run of whitespace from every position in it: with a million
// characters, minutes of one worker's CPU (0.6 s at 40,000, growing as the square). Read in one pass, each is
// an ordinary invalid reply.
test.each([
  ['blanks before a fence that never closes', `Action: shell\nAction Input: {${' '.repeat(1_000_000)}\`\``],
  ['blank lines before no action', `Thought: a${'\n \t'.repeat(500_000)}`],
])('a crafted reply (%s) is read in one pass', (_name, content) => {
  expect(parseTextReply(reply(content), builtIns)).toMatchObject({ kind: 'invalid' });
});
