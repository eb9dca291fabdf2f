// `gptkit judge` as a user runs it, against a fake Ollama in this process (the CLI runs as a child, so the
// spawn must be asynchronous or the server could never answer).
import { it, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  refusedUrl,
  runCli,
  startFakeJudge,
  type FakeAction,
  type FakeJudge,
} from '../../eval/fake-judge.fixture.js';
import { judgePrompt } from '../../eval/judge.js';

let tmp: string;
let data: string;
const entries = [
  {
    instruction: 'Rewrite the sentence using a simile.',
    input: 'The car is very fast.',
    output: 'The car is as fast as lightning.',
    model_response: 'The car is as fast as a bullet.',
  },
  {
    instruction: 'What type of cloud is typically associated with thunderstorms?',
    input: '',
    output: 'The type of cloud typically associated with thunderstorms is cumulonimbus.',
    model_response: 'The type of cloud associated with thunderstorms is a cumulus cloud.',
  },
  {
    instruction: "Name the author of 'Pride and Prejudice'.",
    input: '',
    output: "Jane Austen wrote 'Pride and Prejudice'.",
    model_response: "The author of 'Pride and Prejudice' is Jane Austen.",
  },
];
let judge: FakeJudge | undefined;

before(() => {
  tmp = mkdtempSync(join(tmpdir(), 'gptkit-judge-'));
  data = join(tmp, 'responses.json');
  writeFileSync(data, JSON.stringify(entries, null, 2));
});
after(() => rmSync(tmp, { recursive: true, force: true }));
afterEach(async () => {
  await judge?.close();
  judge = undefined;
});

async function serve(...actions: FakeAction[]): Promise<FakeJudge> {
  judge = await startFakeJudge((_req, n) => actions[Math.min(n, actions.length - 1)]);
  return judge;
}

const replies: FakeAction[] = [
  { kind: 'ollama', content: '85' },
  { kind: 'ollama', content: 'I would rate it 20' },
  { kind: 'ollama', content: '70' },
];

it('judge prints each score, the count and the average as the book does', async () => {
  const s = await serve(...replies);
  const r = await runCli(['judge', '--data', data, '--ollama-url', s.url]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(
    r.stdout,
    `Scoring 3 responses ("model_response" in ${data}) with llama3 on Ollama at ${s.url}\n` +
      '[1/3] 85\n' +
      '[2/3] Could not convert score: "I would rate it 20"\n' +
      '[3/3] 70\n' +
      'Number of scores: 2 of 3\n' +
      'Average score: 77.50\n',
  );
  assert.equal(r.stderr, ''); // no bar off a terminal
  assert.equal(s.requests.length, 3);
  s.requests.forEach((req, i) =>
    assert.deepEqual(req.body, {
      model: 'llama3',
      messages: [{ role: 'user', content: judgePrompt(entries[i], entries[i].model_response) }],
      options: { seed: 123, temperature: 0, num_ctx: 2048 },
    }),
  );
});

it('judge --json: stdout is one JSON line with null for the skipped entry', async () => {
  const s = await serve(...replies);
  const r = await runCli([
    'judge',
    '--data',
    data,
    '--ollama-url',
    s.url,
    '--json',
    '--judge-model',
    'llama3:8b',
  ]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, '{"scores":[85,null,70],"average":77.5,"scored":2,"total":3}\n');
  assert.match(r.stderr, /Number of scores: 2 of 3\nAverage score: 77\.50\n$/);
  assert.equal((s.requests[0].body as { model: string }).model, 'llama3:8b');
});

it('judge with no Ollama running: one line saying to start it, exit 1, no stack trace', async () => {
  const url = await refusedUrl();
  const r = await runCli(['judge', '--data', data, '--ollama-url', url]);
  assert.equal(r.code, 1);
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, 1, r.stderr);
  assert.match(
    lines[0],
    /^gptkit: cannot reach Ollama at http:\/\/127\.0\.0\.1:\d+ .*`ollama serve`.*`ollama pull llama3`/,
  );
});

it('judge with an unknown model (404): says ollama pull <model>', async () => {
  const s = await serve({
    kind: 'status',
    status: 404,
    body: '{"error":"model \\"llama3.1\\" not found, try pulling it first"}',
  });
  const r = await runCli(['judge', '--data', data, '--ollama-url', s.url, '--judge-model', 'llama3.1']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^gptkit: .*fetch it with: ollama pull llama3\.1\n$/);
  assert.equal(s.requests.length, 1);
});

it('judge with a hanging server: timeout error after --timeout seconds', async () => {
  const s = await serve({ kind: 'hang' });
  const t0 = Date.now();
  const r = await runCli(['judge', '--data', data, '--ollama-url', s.url, '--timeout', '0.3']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /sent nothing for 0\.3 s while answering with llama3 .*--timeout SECONDS/);
  assert.ok(Date.now() - t0 < 20_000);
});

it('judge retries a 500 and reports the retry on stderr', async () => {
  const s = await serve({ kind: 'status', status: 500, body: 'oops' }, { kind: 'ollama', content: '60' });
  const r = await runCli(['judge', '--data', data, '--ollama-url', s.url, '--json']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /retry 1\/3 in 1 s: server error 500: oops/);
  assert.equal(r.stdout, '{"scores":[60,60,60],"average":60,"scored":3,"total":3}\n');
  assert.equal(s.requests.length, 4);
});

it('judge: an entry without the response key is an error naming it, before any request', async () => {
  const s = await serve({ kind: 'ollama', content: '1' });
  const bad = join(tmp, 'bad.jsonl');
  writeFileSync(
    bad,
    entries.map((e, i) => JSON.stringify(i === 1 ? { ...e, model_response: undefined } : e)).join('\n'),
  );
  const r = await runCli(['judge', '--data', bad, '--ollama-url', s.url]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /bad\.jsonl: entry 1: missing "model_response", the response to score/);
  assert.equal(s.requests.length, 0);
  assert.equal(r.stdout, '');
});

it('judge --openai-url sends the same prompt to /v1/chat/completions', async () => {
  const s = await serve({ kind: 'openai', content: '90' });
  const r = await runCli(
    ['judge', '--data', data, '--openai-url', `${s.url}/v1`, '--judge-model', 'gpt-4-turbo', '--json'],
    {
      OPENAI_API_KEY: 'sk-x',
    },
  );
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, '{"scores":[90,90,90],"average":90,"scored":3,"total":3}\n');
  assert.equal(s.requests[2].path, '/v1/chat/completions');
  assert.equal(s.requests[2].headers.authorization, 'Bearer sk-x');
  assert.deepEqual(s.requests[2].body, {
    model: 'gpt-4-turbo',
    messages: [{ role: 'user', content: judgePrompt(entries[2], entries[2].model_response) }],
    temperature: 0,
    seed: 123,
  });
});

it('judge refuses --ollama-url together with --openai-url', async () => {
  const r = await runCli(['judge', '--data', data, '--ollama-url', 'http://a', '--openai-url', 'http://b']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /cannot be used with/);
});
