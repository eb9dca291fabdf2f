// Ctrl-C during training, with a real signal: the run finishes its step, saves a checkpoint, says how to
// continue and exits 0; --resume then completes it. The model config is written in the book's own keys.
import { it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packageRootPath } from '../data/paths.js';

const main = join(packageRootPath(), 'dist', 'src', 'cli', 'main.js');
let tmp: string;
let cfg: string;
before(() => {
  tmp = mkdtempSync(join(tmpdir(), 'gptkit-interrupt-'));
  cfg = join(tmp, 'book-config.json');
  // The book's GPT_CONFIG_124M keys, tiny sizes.
  const book = {
    vocab_size: 50257,
    context_length: 16,
    emb_dim: 32,
    n_heads: 2,
    n_layers: 2,
    drop_rate: 0.1,
    qkv_bias: false,
  };
  writeFileSync(cfg, JSON.stringify(book));
});
after(() => rmSync(tmp, { recursive: true, force: true }));

/** Run gptkit with args, send SIGINT once stdout shows `marker`, and collect the outcome. */
async function interruptAt(
  args: string[],
  marker: string,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [main, ...args], { cwd: packageRootPath() });
  let stdout = '';
  let stderr = '';
  let sent = false;
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const code = await new Promise<number | null>((resolve) => {
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      if (!sent && stdout.includes(marker)) {
        sent = true;
        child.kill('SIGINT');
      }
    });
    child.on('close', resolve);
  });
  return { code, stdout, stderr };
}

it('the first SIGINT saves a checkpoint and stops; --resume finishes the run', async () => {
  const out = join(tmp, 'run');
  // After the second evaluation the run is mid-epoch 1 with nothing saved yet.
  const { code, stdout, stderr } = await interruptAt(
    [
      'pretrain',
      '--model',
      cfg,
      '--context-length',
      '16',
      '--epochs',
      '3',
      '--eval-freq',
      '10',
      '--out',
      out,
      '--checkpoint-minutes',
      '60',
    ],
    '(Step 000010)',
  );
  assert.equal(code, 0, stderr);
  assert.match(stderr, /Ctrl-C: finishing this step and saving a checkpoint/);
  assert.match(stdout, /Training stopped/);
  assert.match(stdout, /Stopped by SIGINT; continue with: gptkit pretrain --resume --out /);
  assert.ok(existsSync(join(out, 'checkpoints', 'latest.json')), 'a checkpoint was written');
  assert.ok(!existsSync(join(out, 'model')), 'no final model for a stopped run');
  const resumed = spawnSync(process.execPath, [main, 'pretrain', '--resume', '--out', out], {
    cwd: packageRootPath(),
    encoding: 'utf8',
  });
  assert.equal(resumed.status, 0, resumed.stderr);
  assert.match(resumed.stdout, /Resuming .* at step 1[0-9]/);
  assert.match(resumed.stdout, /Training completed/);
  assert.ok(existsSync(join(out, 'model', 'model.safetensors')));
});

it('finetune-classifier stops the same way on SIGINT and resumes', async () => {
  const csv = join(tmp, 'sms.csv');
  const rows = ['Label,Text'];
  for (let i = 0; i < 12; i++) rows.push(`spam,win a prize now ${i}`, `ham,see you at lunch ${i}`);
  writeFileSync(csv, rows.join('\n') + '\n');
  const out = join(tmp, 'cls');
  const model = join(packageRootPath(), 'test', 'fixtures', 'gpt2-tiny', 'model');
  const args = ['finetune-classifier', '--model', model, '--train', csv, '--val', csv, '--test', csv];
  const opts = [
    '--max-length',
    '16',
    '--batch-size',
    '4',
    '--eval-freq',
    '1',
    '--eval-iter',
    '1',
    '--out',
    out,
  ];
  const { code, stdout, stderr } = await interruptAt([...args, ...opts, '--epochs', '50'], '(Step 000003)');
  assert.equal(code, 0, stderr);
  assert.match(stdout, /Training stopped/);
  assert.match(stdout, /Stopped by SIGINT; continue with: gptkit finetune-classifier --resume --out /);
  assert.ok(existsSync(join(out, 'checkpoints', 'latest.json')));
  const resumed = spawnSync(
    process.execPath,
    [main, 'finetune-classifier', '--resume', '--out', out, '--epochs', '2'],
    {
      cwd: packageRootPath(),
      encoding: 'utf8',
    },
  );
  // --epochs 2 given again: the run continues to the end of epoch 2 (it stopped in epoch 1).
  assert.equal(resumed.status, 0, resumed.stderr);
  assert.match(resumed.stdout, /Training completed/);
});
