// The web page in a real headless browser (Debian's chromium via playwright-core): type a prompt, see
// streamed text appear, stop it, classify a text, and read the messages for a busy and a gone server.
// Screenshots go to dist/test-output/serve/ (GPTKIT_TEST_OUTPUT overrides). Chromium is required: the
// test fails, naming the fix, when it is missing.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
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
  waitFor,
  type Running,
} from './serve.fixture.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const OUT = process.env.GPTKIT_TEST_OUTPUT ?? join(REPO_ROOT, 'dist', 'test-output', 'serve');
const PROMPT = 'Every effort moves you';

describe('web page in headless chromium', () => {
  let server: Running;
  let model: GPTModel;
  let classifier: Classifier;
  let browser: Browser;
  let page: Page;
  let classifierDir: string;

  before(async () => {
    if (!existsSync(CHROMIUM))
      throw new Error(
        `chromium not found at ${CHROMIUM}: install it (apt-get install -y chromium; .ci/run does this) or set CHROMIUM_PATH`,
      );
    mkdirSync(OUT, { recursive: true });
    // A tiny classifier: the fixture with a new 2-class head, saved and loaded as users do.
    classifierDir = mkdtempSync(join(tmpdir(), 'gptkit-serve-classifier-'));
    const base = await loadGPT2(FIXTURE_MODEL_DIR);
    await saveGPT2(base.useClassifierHead(2, new Rng(5)), classifierDir, { labels: ['not spam', 'spam'] });
    classifier = await loadClassifier(classifierDir);
    model = slowModel();
    server = await startServer({
      model,
      modelId: 'random-1024',
      classifier,
      classifierId: 'spam-tiny',
      maxBatch: 1,
      maxQueue: 0,
    });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
    page = await browser.newPage({ viewport: { width: 900, height: 640 } });
    await page.goto(server.url);
  });

  after(async () => {
    await browser?.close();
    await server?.shutdown(1000);
    if (classifierDir) rmSync(classifierDir, { recursive: true, force: true });
  });

  const replyText = () => page.locator('.msg.assistant .text').last().textContent();

  it('streams a reply, and the stop button ends it and frees the slot', async () => {
    await page.locator('#model').filter({ hasText: 'context 1024' }).waitFor();
    await page.locator('summary').click();
    await page.fill('#temperature', '0');
    await page.fill('#max-tokens', '1000');
    await page.fill('#prompt', PROMPT);
    await page.click('#send');
    // Streaming: the text is visible and still growing while the reply runs.
    await waitFor(async () => ((await replyText()) ?? '').length > 0, 10_000, 'the first streamed text');
    const early = (await replyText())!;
    await waitFor(async () => (await replyText())!.length > early.length, 10_000, 'more streamed text');
    assert.equal(await page.isEnabled('#stop'), true);
    await page.screenshot({ path: join(OUT, 'chat-streaming.png') });
    await page.click('#stop');
    await page.locator('.msg.assistant .note', { hasText: '(stopped)' }).waitFor();
    const stopped = (await replyText())!;
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(await replyText(), stopped, 'no text after stop');
    await waitFor(
      async () => ((await (await fetch(`${server.url}/health`)).json()) as { active: number }).active === 0,
      2000,
      'the slot to be freed',
    );
    assert.equal(await page.isEnabled('#send'), true);
    // Greedy (temperature 0): what the page showed is the start of generate()'s text for the same prompt.
    const tokenizer = loadGpt2Tokenizer();
    const want = tokenizer.decode(
      generate(model, tokenizer.encode(PROMPT), { maxNewTokens: 1000, stopTokens: [50256] }),
    );
    assert.ok(
      stopped.length > 0 && stopped.length < want.length,
      `stopped early (${stopped.length} of ${want.length} characters)`,
    );
    assert.equal(stopped, want.slice(0, stopped.length));
    await page.screenshot({ path: join(OUT, 'chat.png') });
  });

  it('classifies a text, showing the labels and probabilities the model gives', async () => {
    const text = 'You are a winner! Claim your $1000 prize now.';
    await page.click('#tab-classify');
    await page.fill('#classify-input', text);
    await page.click('#classify');
    await page.locator('#classify-result tr').nth(1).waitFor();
    const rows = await page
      .locator('#classify-result tr')
      .evaluateAll((trs) => trs.map((tr) => [tr.children[0].textContent, tr.children[2].textContent]));
    const [want] = classifyTexts(classifier, [text]);
    const expected = Object.entries(want.probabilities)
      .sort((a, b) => b[1] - a[1])
      .map(([label, p]) => [label, `${(100 * p).toFixed(1)}%`]);
    assert.deepEqual(rows, expected);
    await page.screenshot({ path: join(OUT, 'classify.png') });
    await page.click('#tab-chat');
  });

  it('says so when the server is busy, and when it is gone', async () => {
    // Another client holds the only slot and the queue is 0: the page's request gets a 503.
    const abort = new AbortController();
    const holder = await fetch(`${server.url}/v1/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ prompt: PROMPT, max_tokens: 1000, stream: true }),
      signal: abort.signal,
    });
    const reader = holder.body!.getReader();
    await reader.read();
    await page.click('#clear'); // a fresh conversation: the long reply above would not fit the context again
    await page.fill('#prompt', 'Are you there?');
    await page.click('#send');
    await page.locator('#status.error', { hasText: 'busy' }).waitFor();
    abort.abort();
    await server.shutdown(1000);
    await page.fill('#prompt', 'And now?');
    await page.click('#send');
    await page.locator('#status.error', { hasText: 'Cannot reach' }).waitFor();
    await page.screenshot({ path: join(OUT, 'unreachable.png') });
  });
});
