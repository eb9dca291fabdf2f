// `gptkit finetune-classifier` and `gptkit classify` end to end on the tiny GPT-2 fixture (context 64) and a
// two-class CSV: the start line with trainable/total parameters, the book's log lines, the --json summary,
// classifying with the saved model, and errors with exit code 1.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packageRootPath } from '../data/paths.js';

const root = packageRootPath();
const main = join(root, 'dist', 'src', 'cli', 'main.js');
const tinyLM = join(root, 'test', 'fixtures', 'gpt2-tiny', 'model');

function gptkit(...args: string[]): { code: number; out: string; err: string } {
  const r = spawnSync(process.execPath, [main, ...args], { cwd: root, encoding: 'utf8' });
  return { code: r.status ?? -1, out: r.stdout, err: r.stderr };
}

const HAM = [
  'see you at lunch tomorrow',
  'can you call me later',
  'thanks for the photos',
  'are we still on for dinner',
  'i will be home late tonight',
  'happy birthday my friend',
  'the meeting moved to three',
  'let me know when you arrive',
  'ok sounds good to me',
  'did you feed the cat',
  'running ten minutes late',
  'love you see you soon',
];
const SPAM = [
  'WIN a free prize now call 0800',
  'URGENT you have won cash claim now',
  'free entry to win a holiday txt WIN',
  'claim your reward click this link',
  'congratulations you won a free phone',
  'cheap loans apply now text YES',
  'you are selected for a cash bonus',
  'free ringtones reply STOP to end',
  'winner claim 1000 pounds today',
  'exclusive offer free gift call now',
  'lottery winner send your details',
  'act now limited free voucher',
];

let tmp: string;
let csv: string;
const fast = [
  '--max-length',
  '32',
  '--epochs',
  '1',
  '--batch-size',
  '4',
  '--eval-freq',
  '2',
  '--eval-iter',
  '1',
];
const dataArgs = () => ['--train', csv, '--val', csv, '--test', csv];

before(() => {
  tmp = mkdtempSync(join(tmpdir(), 'gptkit-classifier-cli-'));
  csv = join(tmp, 'sms.csv');
  const rows = HAM.flatMap((h, i) => [`ham,${h}`, `spam,${SPAM[i]}`]);
  writeFileSync(csv, ['Label,Text', ...rows].join('\n') + '\n');
});
after(() => rmSync(tmp, { recursive: true, force: true }));

describe('gptkit finetune-classifier / classify', () => {
  it('fine-tunes with the start line and the book log lines, then prints the final report', () => {
    const r = gptkit(
      'finetune-classifier',
      '--model',
      tinyLM,
      ...dataArgs(),
      ...fast,
      '--out',
      join(tmp, 'run1'),
    );
    assert.equal(r.code, 0, r.err);
    const first = r.out.split('\n')[0];
    assert.match(
      first,
      /classes: ham, spam; 24 training \/ 24 validation \/ 24 test examples; max length 32/,
    );
    assert.match(r.out, /\nTrainable parameters: [\d,]+ of [\d,]+ \(\d+\.\d\d%\)/);
    assert.match(r.out, /\nEp 1 \(Step 000000\): Train loss \d+\.\d{3}, Val loss \d+\.\d{3}\n/);
    assert.match(r.out, /\nTraining accuracy: \d+\.\d\d% \| Validation accuracy: \d+\.\d\d%\n/);
    assert.match(r.out, /\nTraining completed in \d+s \(6 steps\)\.\n/);
    assert.match(r.out, /\nTest accuracy: \d+\.\d\d%\n/);
    assert.match(r.out, /\n {2}ham +\d\.\d{3} +\d\.\d{3} +\d\.\d{3} +12\n/);
    assert.match(r.out, /Confusion matrix \(rows: true, columns: predicted\):/);
    assert.match(r.out, /\nModel: +.*run1\/model +\(try: gptkit classify --model /);
  });

  it('--json ends stdout with the summary, and classify uses the saved model', () => {
    const r = gptkit(
      'finetune-classifier',
      '--model',
      tinyLM,
      ...dataArgs(),
      ...fast,
      '--out',
      join(tmp, 'run2'),
      '--json',
    );
    assert.equal(r.code, 0, r.err);
    const lines = r.out.trim().split('\n');
    const s = JSON.parse(lines[lines.length - 1]) as Record<string, unknown>;
    for (const k of ['train_accuracy', 'val_accuracy', 'test_accuracy']) {
      const v = s[k] as number;
      assert.ok(v >= 0 && v <= 1, `${k} = ${v}`);
    }
    assert.ok(
      (s.trainable_params as number) > 0 && (s.trainable_params as number) < (s.total_params as number),
    );
    assert.deepEqual(s.labels, ['ham', 'spam']);
    assert.equal(
      (s.confusion as number[][]).flat().reduce((a, b) => a + b, 0),
      24,
    );
    assert.equal(s.steps, 6);
    assert.ok('f1' in (s.test_metrics as Record<string, object>).spam);
    assert.match(r.err, /Trainable parameters/); // the human-readable lines go to stderr
    const modelDir = s.model_dir as string;
    assert.ok(existsSync(modelDir), modelDir);

    const c = gptkit(
      'classify',
      '--model',
      modelDir,
      '--text',
      'WIN a free prize now',
      '--text',
      'see you at lunch',
      '--json',
    );
    assert.equal(c.code, 0, c.err);
    const outs = c.out
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { text: string; label: string; probabilities: Record<string, number> });
    assert.equal(outs.length, 2);
    assert.equal(outs[0].text, 'WIN a free prize now');
    for (const o of outs) {
      assert.ok(['ham', 'spam'].includes(o.label), o.label);
      const sum = Object.values(o.probabilities).reduce((a, b) => a + b, 0);
      assert.ok(Math.abs(sum - 1) < 1e-5, `probabilities sum to ${sum}`);
    }

    const file = join(tmp, 'texts.txt');
    writeFileSync(file, 'free cash now\n\nsee you soon\n');
    const plain = gptkit('classify', '--model', modelDir, '--file', file);
    assert.equal(plain.code, 0, plain.err);
    const labels = plain.out.trim().split('\n');
    assert.equal(labels.length, 2);
    for (const l of labels) assert.ok(['ham', 'spam'].includes(l), l);
  });

  it('classify refuses a language model, and needs --text or --file', () => {
    const r = gptkit('classify', '--model', tinyLM, '--text', 'hello');
    assert.equal(r.code, 1);
    assert.match(r.err, /^gptkit: .*language model.*finetune-classifier/m);
    const none = gptkit('classify', '--model', tinyLM);
    assert.equal(none.code, 1);
    assert.match(none.err, /--text/);
  });

  it('rejects bad options and data with clear messages', () => {
    const rank = gptkit('finetune-classifier', '--lora-rank', '0', '--out', join(tmp, 'never'));
    assert.equal(rank.code, 1);
    assert.match(rank.err, /--lora-rank must be a positive integer, got '0'/);
    assert.ok(!existsSync(join(tmp, 'never')));

    const bad = join(tmp, 'nolabel.csv');
    writeFileSync(bad, ['Category,Text', ...HAM.map((h) => `ham,${h}`)].join('\n') + '\n');
    const r = gptkit(
      'finetune-classifier',
      '--model',
      tinyLM,
      '--train',
      bad,
      '--val',
      bad,
      '--test',
      bad,
      ...fast,
      '--out',
      join(tmp, 'bad'),
    );
    assert.equal(r.code, 1);
    assert.match(r.err, /^gptkit: .*Label.*"Category", "Text"/m);
  });
});
