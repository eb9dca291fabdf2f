// The book's judge loop: its prompt to the character, Python int() parsing of replies, skipped replies,
// and the request per entry as the fake server receives it.
import { it, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { ollamaChat } from './chat.js';
import {
  checkResponses,
  formatAverage,
  judgePrompt,
  parseScore,
  scoreResponses,
  summarizeScores,
} from './judge.js';
import { startFakeJudge, type FakeJudge } from './fake-judge.fixture.js';

let judge: FakeJudge | undefined;
afterEach(async () => {
  await judge?.close();
  judge = undefined;
});

const withInput = {
  instruction: 'Rewrite the sentence using a simile.',
  input: 'The car is very fast.',
  output: 'The car is as fast as lightning.',
  model_response: 'The car is as fast as a bullet.',
};
const noInput = {
  instruction: 'What type of cloud is typically associated with thunderstorms?',
  input: '',
  output: 'The type of cloud typically associated with thunderstorms is cumulonimbus.',
  model_response: 'The type of cloud associated with thunderstorms is a cumulus cloud.',
};

it('builds the book prompt exactly (with and without an input)', () => {
  assert.equal(
    judgePrompt(withInput, withInput.model_response),
    'Given the input `Below is an instruction that describes a task. Write a response that appropriately ' +
      'completes the request.\n\n### Instruction:\nRewrite the sentence using a simile.\n\n### Input:\n' +
      'The car is very fast.` and correct output `The car is as fast as lightning.`, score the model response ' +
      '`The car is as fast as a bullet.` on a scale from 0 to 100, where 100 is the best score. ' +
      'Respond with the integer number only.',
  );
  assert.equal(
    judgePrompt(noInput, 'X'),
    'Given the input `Below is an instruction that describes a task. Write a response that appropriately ' +
      'completes the request.\n\n### Instruction:\nWhat type of cloud is typically associated with ' +
      'thunderstorms?` and correct output `The type of cloud typically associated with thunderstorms is ' +
      'cumulonimbus.`, score the model response `X` on a scale from 0 to 100, where 100 is the best score. ' +
      'Respond with the integer number only.',
  );
});

it("parses replies as Python's int() does", () => {
  const table: [string, number | null][] = [
    ['85', 85],
    [' 85\n', 85],
    ['\t+7 ', 7],
    ['-3', -3],
    ['007', 7],
    ['1_000', 1000],
    ['85.', null],
    ['85.0', null],
    ['Score: 85', null],
    ['85/100', null],
    ['8 5', null],
    ['', null],
    ['1__0', null],
    ['_1', null],
    ['1_', null],
    ['0x10', null],
    ['I would rate this response 90.', null],
  ];
  for (const [reply, expected] of table) assert.equal(parseScore(reply), expected, JSON.stringify(reply));
});

it('scores every entry with one request each, skips non-integer replies and averages the rest', async () => {
  const replies = ['85', 'The response is good. Score: 60', '70\n'];
  judge = await startFakeJudge((_req, n) => ({ kind: 'ollama', content: replies[n], pieces: 2 }));
  const entries = [withInput, noInput, { ...withInput, model_response: 'Fast like a cheetah.' }];
  const seen: string[] = [];
  const result = await scoreResponses(entries, {
    client: ollamaChat({ model: 'llama3', url: judge.url }),
    onScore: (s) => seen.push(`${s.index}:${s.score}:${s.reply}`),
  });
  assert.deepEqual(result, { scores: [85, null, 70], scored: 2, total: 3, average: 77.5 });
  assert.deepEqual(seen, ['0:85:85', '1:null:The response is good. Score: 60', '2:70:70\n']);
  assert.equal(judge.requests.length, 3);
  judge.requests.forEach((r, i) =>
    assert.deepEqual(r.body, {
      model: 'llama3',
      messages: [{ role: 'user', content: judgePrompt(entries[i], entries[i].model_response) }],
      options: { seed: 123, temperature: 0, num_ctx: 2048 },
    }),
  );
});

it('another response key is scored when asked for', async () => {
  judge = await startFakeJudge(() => ({ kind: 'ollama', content: '50' }));
  const entry = { ...noInput, model_2_response: 'Cumulonimbus.' };
  const r = await scoreResponses([entry], {
    client: ollamaChat({ model: 'llama3', url: judge.url }),
    responseKey: 'model_2_response',
  });
  assert.equal(r.average, 50);
  const content = (judge.requests[0].body as { messages: { content: string }[] }).messages[0].content;
  assert.match(content, /score the model response `Cumulonimbus\.`/);
});

it('an entry without the response key is an error naming it, before any request', async () => {
  judge = await startFakeJudge(() => ({ kind: 'ollama', content: '50' }));
  const entries = [withInput, { instruction: 'i', input: '', output: 'o' }, noInput];
  await assert.rejects(
    scoreResponses(entries, { client: ollamaChat({ model: 'llama3', url: judge.url }) }),
    /entry 1: missing "model_response", the response to score \(its keys: instruction, input, output\)/,
  );
  assert.equal(judge.requests.length, 0);
  assert.throws(
    () =>
      checkResponses(
        [{ instruction: 'i', input: '', output: 'o', model_response: 3 }],
        'model_response',
        'f.json',
      ),
    /^Error: f\.json: entry 0: "model_response" must be a string, got 3$/,
  );
});

it('an average over no integer scores is null', () => {
  assert.deepEqual(summarizeScores([null, null]), {
    scores: [null, null],
    scored: 0,
    total: 2,
    average: null,
  });
  assert.equal(summarizeScores([1, 2, 2]).average, 5 / 3);
});

it('formats the average as Python\'s f"{x:.2f}" does, ties to even included', () => {
  // CPython: [f'{x:.2f}' for x in ...]
  const table: [number, string][] = [
    [617 / 8, '77.12'],
    [77.375, '77.38'],
    [77.5, '77.50'],
    [2 / 3, '0.67'],
    [90, '90.00'],
    [0.005, '0.01'],
    [1.005, '1.00'],
    [50.625, '50.62'],
    [0.125, '0.12'],
    [-0.125, '-0.12'],
    [2.675, '2.67'],
  ];
  for (const [x, expected] of table) assert.equal(formatAverage(x), expected, String(x));
});
