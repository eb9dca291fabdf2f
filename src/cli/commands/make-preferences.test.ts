// `gptkit make-preferences` as a user runs it, against a fake Ollama in this process.
import { it, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli, startFakeJudge, type FakeJudge } from '../../eval/fake-judge.fixture.js';
import { rewritePrompt } from '../../eval/preferences.js';

let tmp: string;
let data: string;
const entries = [
  {
    instruction: 'What is the state capital of California?',
    input: '',
    output: 'The state capital of California is Sacramento.',
  },
  { instruction: "Provide a synonym for 'fast'.", input: '', output: "A synonym for 'fast' is 'quick'." },
  { instruction: 'What is the capital of Greece?', input: '', output: 'The capital of Greece is Athens.' },
  { instruction: 'Convert 45 kilometers to meters.', input: '', output: '45 kilometers is 45000 meters.' },
];
// random.seed(123); [random.choice(["polite", "impolite"]) for _ in range(4)] in CPython
const PYTHON_SEED_123 = ['polite', 'impolite', 'polite', 'impolite'] as const;
let judge: FakeJudge | undefined;

before(() => {
  tmp = mkdtempSync(join(tmpdir(), 'gptkit-prefs-cli-'));
  data = join(tmp, 'instruction-data.json');
  writeFileSync(data, JSON.stringify(entries));
});
after(() => rmSync(tmp, { recursive: true, force: true }));
afterEach(async () => {
  await judge?.close();
  judge = undefined;
});

const promptOf = (body: unknown) => (body as { messages: { content: string }[] }).messages[0].content;

it('make-preferences writes chosen/rejected per seeded choice, with the notebook request', async () => {
  judge = await startFakeJudge((req) => {
    const polite = /more polite\./.test(promptOf(req.body));
    const output = /and correct output `(.*)`, slightly/s.exec(promptOf(req.body))![1];
    return { kind: 'ollama', content: polite ? `Kindly note: ${output}` : `Obviously, ${output}` };
  });
  const out = join(tmp, 'prefs.json');
  const r = await runCli(['make-preferences', '--data', data, '--out', out, '--ollama-url', judge.url]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(
    r.stdout,
    /Wrote 4 entries to .*prefs\.json: 2 polite rewrites chosen, 2 impolite rewrites rejected\n$/,
  );
  const written = JSON.parse(readFileSync(out, 'utf8')) as Record<string, string>[];
  assert.equal(written.length, 4);
  written.forEach((e, i) => {
    const o = entries[i].output;
    const expected =
      PYTHON_SEED_123[i] === 'polite'
        ? { ...entries[i], chosen: `Kindly note: ${o}`, rejected: o }
        : { ...entries[i], rejected: `Obviously, ${o}`, chosen: o };
    assert.deepEqual(e, expected);
  });
  judge.requests.forEach((req, i) =>
    assert.deepEqual(req.body, {
      model: 'llama3.1:70b',
      messages: [{ role: 'user', content: rewritePrompt(entries[i], PYTHON_SEED_123[i]) }],
      options: { seed: 123, temperature: 0 },
    }),
  );
  assert.deepEqual(readdirSync(tmp).sort(), ['instruction-data.json', 'prefs.json']);
});

it('make-preferences --seed changes the choices', async () => {
  judge = await startFakeJudge(() => ({ kind: 'ollama', content: 'x' }));
  const out = join(tmp, 'prefs-seed0.json');
  const r = await runCli([
    'make-preferences',
    '--data',
    data,
    '--out',
    out,
    '--ollama-url',
    judge.url,
    '--seed',
    '0',
  ]);
  assert.equal(r.code, 0, r.stderr);
  // random.seed(0); [random.choice(["polite", "impolite"]) for _ in range(4)] in CPython
  const kinds = judge.requests.map((q) => (/more polite\./.test(promptOf(q.body)) ? 'polite' : 'impolite'));
  assert.deepEqual(kinds, ['impolite', 'impolite', 'polite', 'impolite']);
});

it('make-preferences that fails midway writes nothing and keeps an existing --out intact', async () => {
  judge = await startFakeJudge((_req, n) =>
    n < 2
      ? { kind: 'ollama', content: 'ok' }
      : { kind: 'status', status: 400, body: '{"error":"bad request"}' },
  );
  const out = join(tmp, 'keep.json');
  writeFileSync(out, 'previous content');
  const r = await runCli(['make-preferences', '--data', data, '--out', out, '--ollama-url', judge.url]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^gptkit: Ollama at .* answered HTTP 400: bad request\n$/);
  assert.equal(readFileSync(out, 'utf8'), 'previous content');
  assert.ok(!readdirSync(tmp).some((f) => f.includes('.tmp-')), readdirSync(tmp).join());
  const fresh = join(tmp, 'never.json');
  const r2 = await runCli(['make-preferences', '--data', data, '--out', fresh, '--ollama-url', judge.url]);
  assert.equal(r2.code, 1);
  assert.equal(existsSync(fresh), false);
});
