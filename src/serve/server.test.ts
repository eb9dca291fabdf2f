// The server through the clients people use: the official `openai` and `ollama` packages and plain
// fetch, against 127.0.0.1. Oracles: `gptkit generate` / generate() on the same model, the same request
// streamed and not, one at a time and all at once.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { Ollama } from 'ollama';
import {
  classifyTexts,
  generate,
  loadClassifier,
  loadGPT2,
  loadGpt2Tokenizer,
  Rng,
  saveGPT2,
  type Classifier,
  type GPTModel,
} from '../index.js';
import {
  FIXTURE_MODEL_DIR,
  REPO_ROOT,
  slowModel,
  startServer,
  tinyModel,
  waitFor,
  type Running,
} from './serve.fixture.js';

const tokenizer = loadGpt2Tokenizer();
const PROMPT = 'Every effort moves you';
const EOT = 50256;

function reference(
  model: GPTModel,
  prompt: string,
  opts: { maxNewTokens: number; temperature?: number; topK?: number; seed?: number },
): string {
  const ids = generate(model, tokenizer.encode(prompt), { ...opts, stopTokens: [EOT] });
  return tokenizer.decode(ids);
}

async function postJson(url: string, body: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return {
    status: res.status,
    headers: res.headers,
    json: (await res.json()) as {
      error: { message: string; type: string; param: string | null; code: string | null };
    },
  };
}

describe('gptkit serve: OpenAI API (openai client, gpt2-tiny fixture)', () => {
  let server: Running;
  let client: OpenAI;
  let model: GPTModel;
  before(async () => {
    model = await tinyModel();
    server = await startServer({ model, maxBatch: 4 });
    client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: 'unused', maxRetries: 0 });
  });
  after(() => server.shutdown(1000));

  it('lists the model', async () => {
    const models = await client.models.list();
    assert.deepEqual(
      models.data.map((m) => [m.id, m.object, m.owned_by]),
      [['gpt2-tiny', 'model', 'gptkit']],
    );
    assert.equal(typeof models.data[0].created, 'number');
  });

  it('greedy completion equals `gptkit generate --json` on the fixture', async () => {
    const cli = spawnSync(
      process.execPath,
      [
        join(REPO_ROOT, 'dist/src/cli/main.js'),
        'generate',
        '--model',
        FIXTURE_MODEL_DIR,
        '--prompt',
        PROMPT,
        '--max-new-tokens',
        '20',
        '--json',
      ],
      { encoding: 'utf8' },
    );
    assert.equal(cli.status, 0, cli.stderr);
    const want = JSON.parse(cli.stdout.trim().split('\n').pop()!) as { text: string; new_ids: number[] };
    const r = await client.completions.create({
      model: 'gpt2-tiny',
      prompt: PROMPT,
      max_tokens: 20,
      temperature: 0,
    });
    assert.equal(r.object, 'text_completion');
    assert.equal(r.choices[0].text, want.text);
    assert.equal(r.choices[0].finish_reason, 'length');
    assert.deepEqual(r.usage, {
      prompt_tokens: 4,
      completion_tokens: want.new_ids.length,
      total_tokens: 4 + want.new_ids.length,
    });
  });

  it('chat on a base model continues the message text, as generate() does', async () => {
    const r = await client.chat.completions.create({
      model: 'gpt2-tiny',
      messages: [{ role: 'user', content: PROMPT }],
      max_tokens: 15,
      temperature: 0,
    });
    assert.equal(r.object, 'chat.completion');
    assert.equal(r.choices[0].message.role, 'assistant');
    assert.equal(r.choices[0].message.content, reference(model, PROMPT, { maxNewTokens: 15 }));
  });

  it('seeded sampling equals generate() with the same seed, streamed or not', async () => {
    const settings = { temperature: 1.3, top_k: 50, seed: 42, max_tokens: 25 };
    const want = reference(model, PROMPT, { maxNewTokens: 25, temperature: 1.3, topK: 50, seed: 42 });
    const whole = await client.completions.create({ model: 'x', prompt: PROMPT, ...settings });
    assert.equal(whole.choices[0].text, want);
    const stream = await client.completions.create({ model: 'x', prompt: PROMPT, ...settings, stream: true });
    let text = '';
    const finishes: (string | null)[] = [];
    for await (const chunk of stream) {
      text += chunk.choices[0]?.text ?? '';
      finishes.push(chunk.choices[0]?.finish_reason ?? null);
    }
    assert.equal(text, want);
    assert.equal(finishes.at(-1), 'length');
    assert.ok(finishes.slice(0, -1).every((f) => f === null));
  });

  it('chat streaming equals non-streaming: role first, finish_reason last, usage when asked', async () => {
    const req = {
      model: 'x',
      messages: [{ role: 'user' as const, content: 'The house was' }],
      max_tokens: 12,
      temperature: 0.8,
      seed: 3,
    };
    const whole = await client.chat.completions.create(req);
    const stream = await client.chat.completions.create({
      ...req,
      stream: true,
      stream_options: { include_usage: true },
    });
    const chunks = [];
    for await (const c of stream) chunks.push(c);
    assert.equal(chunks[0].choices[0].delta.role, 'assistant');
    assert.equal(
      chunks.map((c) => c.choices[0]?.delta.content ?? '').join(''),
      whole.choices[0].message.content,
    );
    const last = chunks.at(-1)!;
    assert.deepEqual(last.choices, []);
    assert.deepEqual(last.usage, whole.usage);
    assert.equal(whole.usage!.prompt_tokens, tokenizer.encode('The house was').length);
    assert.equal(chunks.at(-2)!.choices[0].finish_reason, whole.choices[0].finish_reason);
    assert.ok(chunks.every((c) => c.object === 'chat.completion.chunk'));
  });

  it('catches a stop string that spans tokens, streamed and not, and never sends it', async () => {
    const ids = generate(model, tokenizer.encode(PROMPT), { maxNewTokens: 20, stopTokens: [EOT] });
    const full = tokenizer.decode(ids);
    // The last 3 characters of token 3 and the first 2 of token 4: the stop string crosses a boundary.
    const before = tokenizer.decode(ids.slice(0, 4));
    const boundary = before.length;
    const stop = full.slice(boundary - 3, boundary + 2);
    assert.ok(tokenizer.decode(ids.slice(4, 5)).length >= 2, 'fixture: token 4 is long enough');
    const want = full.slice(0, full.indexOf(stop));
    const whole = await client.completions.create({
      model: 'x',
      prompt: PROMPT,
      max_tokens: 20,
      temperature: 0,
      stop: ['never-generated', stop],
    });
    assert.equal(whole.choices[0].text, want);
    assert.equal(whole.choices[0].finish_reason, 'stop');
    const stream = await client.completions.create({
      model: 'x',
      prompt: PROMPT,
      max_tokens: 20,
      temperature: 0,
      stop,
      stream: true,
    });
    let text = '';
    for await (const c of stream) text += c.choices[0]?.text ?? '';
    assert.equal(text, want);
  });

  it('parallel requests give the same text as sequential ones', async () => {
    const prompts = ['Every effort', 'I had always thought', 'The', 'It was a', 'Hello, world', 'x y z'];
    const req = (p: string, i: number) => ({
      model: 'x',
      prompt: p,
      max_tokens: 10 + 3 * i,
      temperature: i % 2 ? 0 : 0.9,
      seed: i,
    });
    const sequential: string[] = [];
    for (const [i, p] of prompts.entries())
      sequential.push((await client.completions.create(req(p, i))).choices[0].text);
    const parallel = await Promise.all(
      prompts.map(async (p, i) => (await client.completions.create(req(p, i))).choices[0].text),
    );
    assert.deepEqual(parallel, sequential);
  });

  it('n other than 1 is a 400 saying so', async () => {
    await assert.rejects(
      client.completions.create({ model: 'x', prompt: PROMPT, n: 2 }),
      (err: InstanceType<typeof OpenAI.APIError>) => err.status === 400 && /n must be 1/.test(err.message),
    );
  });

  it('errors: bad JSON, bad field, missing field, context overflow (both numbers), unknown route', async () => {
    const badJson = await postJson(`${server.url}/v1/completions`, '{"prompt": "x"');
    assert.equal(badJson.status, 400);
    assert.equal(badJson.json.error.type, 'invalid_request_error');
    const badField = await postJson(`${server.url}/v1/completions`, { prompt: 'x', max_tokens: 'five' });
    assert.equal(badField.status, 400);
    assert.equal(badField.json.error.param, 'max_tokens');
    const badTemp = await postJson(`${server.url}/v1/chat/completions`, {
      messages: [{ role: 'user', content: 'x' }],
      temperature: -1,
    });
    assert.equal(badTemp.status, 400);
    assert.equal(badTemp.json.error.param, 'temperature');
    const missing = await postJson(`${server.url}/v1/chat/completions`, { max_tokens: 3 });
    assert.equal(missing.status, 400);
    assert.equal(missing.json.error.param, 'messages');
    const long = await postJson(`${server.url}/v1/completions`, { prompt: PROMPT, max_tokens: 61 });
    assert.equal(long.status, 400);
    assert.equal(long.json.error.param, 'max_tokens');
    assert.match(
      long.json.error.message,
      /context length is 64 tokens; the prompt has 4 tokens and max_tokens is 61/,
    );
    const longPrompt = 'a '.repeat(70);
    const tooLongPrompt = await postJson(`${server.url}/v1/completions`, { prompt: longPrompt });
    assert.equal(tooLongPrompt.status, 400);
    assert.ok(
      tooLongPrompt.json.error.message.includes(
        `the prompt has ${tokenizer.encode(longPrompt).length} tokens`,
      ),
    );
    const unknown = await fetch(`${server.url}/v1/engines`);
    assert.equal(unknown.status, 404);
    assert.equal(((await unknown.json()) as { error: { type: string } }).error.type, 'not_found_error');
    const ignored = await postJson(`${server.url}/v1/completions`, {
      prompt: PROMPT,
      max_tokens: 2,
      temperature: 0,
      some_future_field: { a: 1 },
    });
    assert.equal(ignored.status, 200, 'unknown fields are ignored');
  });

  it('--cors-origin answers preflight requests and marks replies', async () => {
    const open = await startServer({ model, corsOrigin: 'https://example.org' });
    try {
      const preflight = await fetch(`${open.url}/v1/chat/completions`, {
        method: 'OPTIONS',
        headers: { origin: 'https://example.org', 'access-control-request-method': 'POST' },
      });
      assert.equal(preflight.status, 204);
      assert.equal(preflight.headers.get('access-control-allow-origin'), 'https://example.org');
      assert.match(preflight.headers.get('access-control-allow-headers') ?? '', /authorization/);
      const models = await fetch(`${open.url}/v1/models`, { headers: { origin: 'https://example.org' } });
      assert.equal(models.headers.get('access-control-allow-origin'), 'https://example.org');
      const plain = await fetch(`${server.url}/v1/models`, { headers: { origin: 'https://example.org' } });
      assert.equal(plain.headers.get('access-control-allow-origin'), null, 'no CORS unless asked');
    } finally {
      await open.shutdown(1000);
    }
  });

  it('a body over the limit is a 413', async () => {
    const r = await postJson(`${server.url}/v1/completions`, { prompt: 'x'.repeat(2 << 20) });
    assert.equal(r.status, 413);
    assert.match(r.json.error.message, /too large/);
  });

  it('health and metrics report the work done', async () => {
    const health = (await (await fetch(`${server.url}/health`)).json()) as {
      status: string;
      context_length: number;
    };
    assert.equal(health.status, 'ok');
    assert.equal(health.context_length, 64);
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    const generated = Number(/^gptkit_generated_tokens_total (\d+)$/m.exec(metrics)?.[1]);
    assert.ok(generated > 50, metrics);
    assert.match(metrics, /gptkit_requests_total\{route="\/v1\/completions",status="200"\} \d+/);
    assert.match(metrics, /^gptkit_queue_depth 0$/m);
  });
});

describe('gptkit serve: Ollama API (ollama client and the book query_model)', () => {
  let server: Running;
  let ollama: Ollama;
  let model: GPTModel;
  before(async () => {
    model = await tinyModel();
    server = await startServer({ model });
    ollama = new Ollama({ host: server.url });
  });
  after(() => server.shutdown(1000));

  it('generate: greedy equals generate(), with Ollama final statistics', async () => {
    const r = await ollama.generate({
      model: 'gpt2-tiny',
      prompt: PROMPT,
      stream: false,
      options: { temperature: 0, num_predict: 18 },
    });
    assert.equal(r.response, reference(model, PROMPT, { maxNewTokens: 18 }));
    assert.equal(r.done, true);
    assert.equal(r.done_reason, 'length');
    assert.equal(r.eval_count, 18);
    assert.equal(r.prompt_eval_count, 4);
  });

  it('chat: streamed pieces equal the whole reply; stop option works', async () => {
    const req = {
      model: 'gpt2-tiny',
      messages: [{ role: 'user', content: PROMPT }],
      options: { temperature: 0.7, seed: 11, num_predict: 20 },
    };
    const whole = await ollama.chat({ ...req, stream: false });
    let text = '';
    let last;
    for await (const part of await ollama.chat({ ...req, stream: true })) {
      text += part.message.content;
      last = part;
    }
    assert.equal(text, whole.message.content);
    assert.equal(last!.done, true);
    assert.equal(last!.eval_count, whole.eval_count);
    const stop = whole.message.content.slice(5, 9);
    const stopped = await ollama.chat({ ...req, stream: false, options: { ...req.options, stop: [stop] } });
    assert.equal(
      stopped.message.content,
      whole.message.content.slice(0, whole.message.content.indexOf(stop)),
    );
    assert.equal(stopped.done_reason, 'stop');
  });

  it("answers the book's query_model (chapter 7): NDJSON lines of message.content", async () => {
    // The book's request: model, messages, options {seed, temperature, num_ctx}, no "stream" (default true).
    const res = await fetch(`${server.url}/api/chat`, {
      method: 'POST',
      body: JSON.stringify({
        model: 'llama3',
        messages: [{ role: 'user', content: PROMPT }],
        options: { seed: 123, temperature: 0, num_ctx: 2048, num_predict: 10 },
      }),
    });
    assert.equal(res.headers.get('content-type'), 'application/x-ndjson');
    const lines = (await res.text())
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { message: { content: string }; done: boolean });
    assert.equal(
      lines.map((l) => l.message.content).join(''),
      reference(model, PROMPT, { maxNewTokens: 10 }),
    );
    assert.equal(lines.at(-1)!.done, true);
  });

  it('lists the model in /api/tags; errors are {"error": "..."}', async () => {
    const tags = await ollama.list();
    assert.deepEqual(
      tags.models.map((m) => m.name),
      ['gpt2-tiny'],
    );
    await assert.rejects(
      ollama.generate({ model: 'x', prompt: PROMPT, options: { num_predict: 100 }, stream: false }),
      (err: Error & { status_code?: number }) =>
        err.status_code === 400 && /context length is 64/.test(err.message),
    );
  });
});

describe('gptkit serve: many users (slow random model, context 1024)', () => {
  let server: Running;
  let client: OpenAI;
  before(async () => {
    server = await startServer({ model: slowModel(), maxBatch: 1, maxQueue: 1 });
    client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: 'unused', maxRetries: 0 });
  });
  after(() => server.shutdown(1000));

  const active = async () =>
    (await (await fetch(`${server.url}/health`)).json()) as { active: number; queued: number };

  it('answers health checks while generating; a client that breaks out of a stream frees its slot at once', async () => {
    const stream = await client.completions.create({
      model: 'x',
      prompt: PROMPT,
      max_tokens: 1000,
      temperature: 0,
      stream: true,
    });
    let pieces = 0;
    for await (const chunk of stream) {
      if (chunk.choices[0]?.text) pieces++;
      if (pieces === 3) {
        const t0 = performance.now();
        assert.equal((await active()).active, 1);
        assert.ok(performance.now() - t0 < 500, 'health answered during generation');
        break;
      }
    }
    await waitFor(async () => (await active()).active === 0, 1000, 'the slot to be freed');
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    const generated = Number(/^gptkit_generated_tokens_total (\d+)$/m.exec(metrics)?.[1]);
    assert.ok(generated < 500, `generation stopped early (${generated} tokens)`);
  });

  it('a full queue answers 503 with Retry-After; the queued request still completes', async () => {
    const abort = new AbortController();
    const running = client.completions.create(
      { model: 'x', prompt: PROMPT, max_tokens: 1000, temperature: 0, stream: true },
      { signal: abort.signal },
    );
    const first = await running;
    const reader = first[Symbol.asyncIterator]();
    await reader.next(); // the first request holds the only slot
    const queued = client.completions.create({ model: 'x', prompt: PROMPT, max_tokens: 3, temperature: 0 });
    await waitFor(async () => (await active()).queued === 1, 1000, 'the second request to queue');
    const busy = await postJson(`${server.url}/v1/completions`, { prompt: PROMPT, max_tokens: 3 });
    assert.equal(busy.status, 503);
    assert.ok(Number(busy.headers.get('retry-after')) >= 1);
    assert.match(busy.json.error.message, /busy/);
    abort.abort(); // frees the slot: the queued request runs
    const r = await queued;
    assert.equal(r.choices[0].finish_reason, 'length');
  });

  it('a wrong API key is a 401; /health needs none', async () => {
    const locked = await startServer({ model: await tinyModel(), apiKey: 'sesame' });
    try {
      const wrong = new OpenAI({ baseURL: `${locked.url}/v1`, apiKey: 'wrong', maxRetries: 0 });
      await assert.rejects(
        wrong.models.list(),
        (err: InstanceType<typeof OpenAI.APIError>) => err.status === 401,
      );
      const right = new OpenAI({ baseURL: `${locked.url}/v1`, apiKey: 'sesame', maxRetries: 0 });
      assert.equal((await right.models.list()).data.length, 1);
      assert.equal((await fetch(`${locked.url}/health`)).status, 200);
      assert.equal((await fetch(`${locked.url}/metrics`)).status, 401);
    } finally {
      await locked.shutdown(1000);
    }
  });
});

describe('gptkit serve: classification', () => {
  let server: Running;
  let classifier: Classifier;
  let dir: string;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'gptkit-serve-classify-'));
    const base = await loadGPT2(FIXTURE_MODEL_DIR);
    await saveGPT2(base.useClassifierHead(3, new Rng(9)), dir, { labels: ['ham', 'spam', 'eggs'] });
    classifier = await loadClassifier(dir);
    server = await startServer({ model: await tinyModel(), classifier, classifierId: 'tiny-classifier' });
  });
  after(async () => {
    await server.shutdown(1000);
    rmSync(dir, { recursive: true, force: true });
  });

  it('POST /v1/classify: labels and probabilities as the classifier gives them, for one text or several', async () => {
    const texts = ['Win a free prize now!', 'See you at dinner', 'x'];
    const want = classifyTexts(classifier, texts);
    const many = await postJson(`${server.url}/v1/classify`, { input: texts });
    assert.equal(many.status, 200);
    const body = many.json as unknown as {
      labels: string[];
      data: { index: number; label: string; probabilities: Record<string, number> }[];
    };
    assert.deepEqual(body.labels, ['ham', 'spam', 'eggs']);
    assert.deepEqual(
      body.data.map((d) => [d.index, d.label, d.probabilities]),
      want.map((w, i) => [i, w.label, w.probabilities]),
    );
    const one = await postJson(`${server.url}/v1/classify`, { input: texts[0] });
    assert.deepEqual((one.json as unknown as typeof body).data[0].probabilities, want[0].probabilities);
    const models = (await (await fetch(`${server.url}/v1/models`)).json()) as { data: { id: string }[] };
    assert.deepEqual(
      models.data.map((m) => m.id),
      ['gpt2-tiny', 'tiny-classifier'],
    );
  });

  it('without a classifier, /v1/classify is a 404 that says how to load one', async () => {
    const plain = await startServer({ model: await tinyModel() });
    try {
      const r = await postJson(`${plain.url}/v1/classify`, { input: 'x' });
      assert.equal(r.status, 404);
      assert.match(r.json.error.message, /--classifier/);
    } finally {
      await plain.shutdown(1000);
    }
  });
});
