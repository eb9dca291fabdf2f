// `gptkit serve` as a process: it loads a model directory (with the instruction template stored in it),
// and on SIGTERM stops accepting, finishes the reply in flight and exits 0.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TEMPLATES } from '../data/instruction.js';
import { generate, loadGPT2, loadGpt2Tokenizer, saveGPT2 } from '../index.js';
import { FIXTURE_MODEL_DIR, REPO_ROOT, slowModel } from './serve.fixture.js';

const CLI = join(REPO_ROOT, 'dist/src/cli/main.js');

/** Start `gptkit serve`, resolve with the process and its URL once it listens. */
function serve(args: string[]): Promise<{ child: ChildProcess; url: string; output: () => string }> {
  const child = spawn(process.execPath, [CLI, 'serve', '--port', '0', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  return new Promise((resolve, reject) => {
    child.stdout!.on('data', () => {
      const m = /listening on (http:\/\/[\d.:]+)/.exec(out);
      if (m) resolve({ child, url: m[1], output: () => out });
    });
    child.on('exit', (code) => reject(new Error(`gptkit serve exited with ${code}: ${out}`)));
  });
}

const exited = (child: ChildProcess) =>
  new Promise<number | null>((resolve) =>
    child.exitCode !== null ? resolve(child.exitCode) : child.on('exit', resolve),
  );

describe('gptkit serve (command line)', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'gptkit-serve-cli-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("an instruction model's chat prompt is its template, as in training", async () => {
    const modelDir = join(dir, 'instruct', 'model');
    await saveGPT2(await loadGPT2(FIXTURE_MODEL_DIR), modelDir, { gptkit: { template: TEMPLATES.alpaca } });
    const { child, url } = await serve(['--model', modelDir]);
    try {
      const res = await fetch(`${url}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          messages: [{ role: 'user', content: 'Name a color.' }],
          max_tokens: 5,
          temperature: 0,
        }),
      });
      const body = (await res.json()) as {
        model: string;
        usage: { prompt_tokens: number };
        choices: { message: { content: string } }[];
      };
      // The book's format_input + "\n\n### Response:\n", written out.
      const bookPrompt =
        'Below is an instruction that describes a task. Write a response that appropriately completes the request.' +
        '\n\n### Instruction:\nName a color.\n\n### Response:\n';
      const tokenizer = loadGpt2Tokenizer();
      const ids = tokenizer.encode(bookPrompt);
      assert.equal(body.model, 'instruct', 'a DIR/model directory is named after DIR');
      assert.equal(body.usage.prompt_tokens, ids.length);
      const model = await loadGPT2(FIXTURE_MODEL_DIR);
      assert.equal(
        body.choices[0].message.content,
        tokenizer.decode(generate(model, ids, { maxNewTokens: 5, stopTokens: [50256] })),
      );
    } finally {
      child.kill('SIGKILL');
      await exited(child);
    }
  });

  it('SIGTERM: refuses new connections, finishes the stream in flight, exits 0', async () => {
    const modelDir = join(dir, 'slow');
    await saveGPT2(slowModel(), modelDir);
    const { child, url, output } = await serve(['--model', modelDir]);
    const res = await fetch(`${url}/v1/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        prompt: 'Every effort moves you',
        max_tokens: 400,
        temperature: 0,
        stream: true,
        stream_options: { include_usage: true },
      }),
    });
    const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
    let text = (await reader.read()).value ?? '';
    const code = exited(child);
    child.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 100));
    await assert.rejects(fetch(`${url}/health`), 'no new connections after SIGTERM');
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      text += value;
    }
    const events = text.trim().split('\n\n');
    assert.equal(events.at(-1), 'data: [DONE]');
    const usage = JSON.parse(events.at(-2)!.slice(6)) as { usage: { completion_tokens: number } };
    const last = JSON.parse(events.at(-3)!.slice(6)) as { choices: { finish_reason: string }[] };
    assert.equal(last.choices[0].finish_reason, 'length', 'the reply in flight finished');
    assert.equal(usage.usage.completion_tokens, 400, 'all 400 tokens were generated');
    assert.equal(await code, 0, output());
    assert.match(output(), /SIGTERM: no new requests; finishing 1 in flight/);
  });
});
