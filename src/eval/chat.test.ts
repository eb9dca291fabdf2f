// The judge clients against a fake server that checks every byte we send: the book's request body, NDJSON
// reassembly across chunks, and the failures a user meets (no server, unknown model, a hang, a flaky server).
import { it, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { ChatError, ollamaChat, openAIChat } from './chat.js';
import { refusedUrl, startFakeJudge, type FakeAction, type FakeJudge } from './fake-judge.fixture.js';

let judge: FakeJudge | undefined;
afterEach(async () => {
  await judge?.close();
  judge = undefined;
});

async function serve(...actions: FakeAction[]): Promise<FakeJudge> {
  judge = await startFakeJudge((_req, n) => actions[Math.min(n, actions.length - 1)]);
  return judge;
}

async function rejectsWith(p: Promise<unknown>, kind: string, pattern: RegExp): Promise<ChatError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof ChatError, `expected a ChatError, got ${String(err)}`);
    assert.equal(err.kind, kind, err.message);
    assert.match(err.message, pattern);
    assert.doesNotMatch(err.message, /\n/); // one line for the user
    return err;
  }
  assert.fail('expected a rejection');
}

it('sends exactly the book query_model request and joins the streamed message contents', async () => {
  // 'é' and '✓' are multi-byte: the 7-byte slices cut through them and through JSON lines.
  const s = await serve({ kind: 'ollama', content: 'Scoré 85 ✓ done', pieces: 5 });
  const reply = await ollamaChat({ model: 'llama3', url: s.url }).complete('What do Llamas eat?');
  assert.equal(reply, 'Scoré 85 ✓ done');
  assert.equal(s.requests.length, 1);
  const r = s.requests[0];
  assert.equal(r.method, 'POST');
  assert.equal(r.path, '/api/chat');
  assert.match(String(r.headers['content-type']), /^application\/json/);
  // The book: {"model", "messages": [{"role": "user", "content"}], "options": {seed 123, temperature 0, num_ctx 2048}}
  assert.deepEqual(r.body, {
    model: 'llama3',
    messages: [{ role: 'user', content: 'What do Llamas eat?' }],
    options: { seed: 123, temperature: 0, num_ctx: 2048 },
  });
});

it('accepts a URL that already ends in /api/chat (the book passes it that way) and custom options', async () => {
  const s = await serve({ kind: 'ollama', content: '7' });
  const client = ollamaChat({
    model: 'llama3.1:70b',
    url: `${s.url}/api/chat/`,
    modelOptions: { seed: 123, temperature: 0 },
  });
  assert.equal(await client.complete('p'), '7');
  assert.equal(s.requests[0].path, '/api/chat');
  assert.deepEqual((s.requests[0].body as { options: unknown }).options, { seed: 123, temperature: 0 });
});

it('an unknown model (HTTP 404) says to ollama pull it, without retrying', async () => {
  const s = await serve({
    kind: 'status',
    status: 404,
    body: '{"error":"model \\"llama3:8b\\" not found, try pulling it first"}',
  });
  const client = ollamaChat({ model: 'llama3:8b', url: s.url, retryDelayMs: 1 });
  await rejectsWith(client.complete('p'), 'model-missing', /ollama pull llama3:8b$/);
  assert.equal(s.requests.length, 1);
});

it('another 4xx is reported with the server message and not retried', async () => {
  const s = await serve({ kind: 'status', status: 400, body: '{"error":"invalid options"}' });
  const client = ollamaChat({ model: 'llama3', url: s.url, retryDelayMs: 1 });
  await rejectsWith(client.complete('p'), 'http', /answered HTTP 400: invalid options/);
  assert.equal(s.requests.length, 1);
});

it('nothing listening: one line saying to run ollama serve and pull the model', async () => {
  const url = await refusedUrl();
  const client = ollamaChat({ model: 'llama3', url, retryDelayMs: 1 });
  const err = await rejectsWith(
    client.complete('p'),
    'unreachable',
    /cannot reach Ollama at http:\/\/127\.0\.0\.1/,
  );
  assert.match(err.message, /`ollama serve`/);
  assert.match(err.message, /`ollama pull llama3`/);
});

it('a judge that hangs fails with a timeout error after the idle timeout, not retried', async () => {
  const s = await serve({ kind: 'hang' });
  const t0 = Date.now();
  const client = ollamaChat({ model: 'llama3', url: s.url, timeoutMs: 300, retryDelayMs: 1 });
  await rejectsWith(client.complete('p'), 'timeout', /sent nothing for 0\.3 s.*--timeout/);
  const elapsed = Date.now() - t0;
  assert.ok(elapsed >= 250 && elapsed < 5000, `elapsed ${elapsed} ms`);
  assert.equal(s.requests.length, 1);
});

it('a stall in the middle of the stream is a timeout too', async () => {
  const s = await serve({ kind: 'stall', content: 'a long reply that stops', afterBytes: 60 });
  const client = ollamaChat({ model: 'llama3', url: s.url, timeoutMs: 200, retryDelayMs: 1 });
  await rejectsWith(client.complete('p'), 'timeout', /sent nothing for 0\.2 s/);
  assert.equal(s.requests.length, 1);
});

it('HTTP 500 then success: retried with backoff and the retry reported', async () => {
  const s = await serve(
    { kind: 'status', status: 500, body: '{"error":"llama runner process has terminated"}' },
    {
      kind: 'ollama',
      content: '90',
    },
  );
  const retries: string[] = [];
  const client = ollamaChat({
    model: 'llama3',
    url: s.url,
    retryDelayMs: 5,
    onRetry: (r) => retries.push(`${r.attempt}/${r.retries} ${r.delayMs} ${r.reason}`),
  });
  assert.equal(await client.complete('p'), '90');
  assert.equal(s.requests.length, 2);
  assert.deepEqual(s.requests[1].body, s.requests[0].body);
  assert.deepEqual(retries, ['1/3 5 server error 500: llama runner process has terminated']);
});

it('a server that keeps failing with 5xx: gives up after the retries, saying so', async () => {
  const s = await serve({ kind: 'status', status: 503, body: 'busy' });
  const delays: number[] = [];
  const client = ollamaChat({
    model: 'llama3',
    url: s.url,
    retries: 2,
    retryDelayMs: 2,
    onRetry: (r) => delays.push(r.delayMs),
  });
  await rejectsWith(client.complete('p'), 'http', /server error 503: busy \(gave up after 2 retries\)/);
  assert.equal(s.requests.length, 3);
  assert.deepEqual(delays, [2, 4]); // doubling backoff
});

it('a connection reset before the answer, and one mid-stream, are retried', async () => {
  const s = await serve(
    { kind: 'reset' },
    { kind: 'reset', content: 'partial reply', afterBytes: 40 },
    { kind: 'ollama', content: '42' },
  );
  const client = ollamaChat({ model: 'llama3', url: s.url, retryDelayMs: 1 });
  assert.equal(await client.complete('p'), '42');
  assert.equal(s.requests.length, 3);
});

it('a stream that ends without "done" is retried, and an error line is reported', async () => {
  let s = await serve(
    { kind: 'ollama', content: 'cut', omitDone: true },
    { kind: 'ollama', content: 'whole' },
  );
  assert.equal(await ollamaChat({ model: 'm', url: s.url, retryDelayMs: 1 }).complete('p'), 'whole');
  assert.equal(s.requests.length, 2);
  await s.close();
  s = await serve({ kind: 'ollama', content: '', errorLine: 'out of memory' });
  await rejectsWith(
    ollamaChat({ model: 'm', url: s.url, retryDelayMs: 1 }).complete('p'),
    'http',
    /reported an error: out of memory/,
  );
});

it('OpenAI-compatible: POST /v1/chat/completions with temperature 0 and seed 123, bearer key, content read', async () => {
  const s = await serve({ kind: 'openai', content: ' 77 ' });
  for (const url of [s.url, `${s.url}/v1`, `${s.url}/v1/chat/completions`]) {
    const client = openAIChat({ model: 'gpt-4-turbo', url, apiKey: 'sk-test' });
    assert.equal(await client.complete('Score this'), ' 77 ');
  }
  assert.equal(s.requests.length, 3);
  for (const r of s.requests) {
    assert.equal(r.method, 'POST');
    assert.equal(r.path, '/v1/chat/completions');
    assert.equal(r.headers.authorization, 'Bearer sk-test');
    assert.deepEqual(r.body, {
      model: 'gpt-4-turbo',
      messages: [{ role: 'user', content: 'Score this' }],
      temperature: 0,
      seed: 123,
    });
  }
});

it('OpenAI-compatible: 404 names the model and the URL; a reply without choices is an error', async () => {
  let s = await serve({ kind: 'status', status: 404, body: '{"error":{"message":"model not found"}}' });
  await rejectsWith(
    openAIChat({ model: 'nope', url: s.url }).complete('p'),
    'model-missing',
    /HTTP 404 \(model not found\): check the model name "nope"/,
  );
  await s.close();
  s = await serve({ kind: 'status', status: 200, body: '{"object":"list"}' });
  await rejectsWith(openAIChat({ model: 'm', url: s.url }).complete('p'), 'protocol', /no choices\[0\]/);
});
