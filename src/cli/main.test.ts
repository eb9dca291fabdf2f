// The command line as a user meets it: huge inputs, a closed pipe, usage errors without a wall of help.
import { it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packageRootPath } from '../data/paths.js';

const main = join(packageRootPath(), 'dist', 'src', 'cli', 'main.js');
let tmp: string;
let big: string;
before(() => {
  tmp = mkdtempSync(join(tmpdir(), 'gptkit-cli-'));
  big = join(tmp, 'big.txt');
  writeFileSync(big, 'hello world '.repeat(70000) + '\n'); // 140,001 tokens
});
after(() => rmSync(tmp, { recursive: true, force: true }));

it('tokenize prints the table of a 140,000-token file (no call-stack overflow)', () => {
  const r = spawnSync(process.execPath, [main, 'tokenize', '--file', big], {
    encoding: 'utf8',
    maxBuffer: 1 << 28,
  });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /hello/);
});

it('a closed stdout ends the command quietly with exit 0', async () => {
  const child = spawn(process.execPath, [main, 'tokenize', '--file', big, '--json']);
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  child.stdout.once('data', () => child.stdout.destroy());
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  assert.equal(code, 0, stderr);
  assert.doesNotMatch(stderr, /EPIPE|Error/);
});

it('a usage error prints the message and a pointer to --help, not the whole help', () => {
  const r = spawnSync(
    process.execPath,
    [main, 'generate', '--model', 'x', '--prompt', 'y', '--top-k', 'many'],
    {
      encoding: 'utf8',
    },
  );
  assert.equal(r.status, 1);
  const lines = r.stderr.trim().split('\n');
  assert.ok(lines.length <= 3, r.stderr);
  assert.match(r.stderr, /--top-k/);
  assert.match(r.stderr, /add --help for usage/);
});

it('generate checks --top-p before loading anything or printing the prompt', () => {
  for (const p of ['1.5', '0']) {
    const r = spawnSync(
      process.execPath,
      [main, 'generate', '--model', 'no/such/model', '--prompt', 'Hi', '--temperature', '1', '--top-p', p],
      {
        encoding: 'utf8',
      },
    );
    assert.equal(r.status, 1);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, new RegExp(`topP \\(--top-p\\) must be in \\(0, 1\\], got ${p}`));
  }
});

it('generate refuses <|endoftext|> in the prompt without --allow-special, naming the flag, before loading', () => {
  const r = spawnSync(
    process.execPath,
    [main, 'generate', '--model', 'no/such/model', '--prompt', 'a<|endoftext|>b'],
    {
      encoding: 'utf8',
    },
  );
  assert.equal(r.status, 1);
  assert.match(r.stderr, /Pass --allow-special to encode it as its token id/);
});

it('generate says once that --top-k is ignored when decoding greedily', () => {
  const model = join(packageRootPath(), 'test', 'fixtures', 'gpt2-tiny', 'model');
  const r = spawnSync(
    process.execPath,
    [main, 'generate', '--model', model, '--prompt', 'Hi', '--max-new-tokens', '2', '--top-k', '5'],
    {
      encoding: 'utf8',
    },
  );
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stderr.match(/--top-k and --top-p only apply when sampling/g)?.length, 1);
});
