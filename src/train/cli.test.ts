// `gptkit pretrain` end to end on a tiny model (GPT-2 tokenizer, 2 layers, width 32, context 16): the book's
// output lines, the files of a run, --resume taking the run's own settings, and errors with exit code 1.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dataPath, packageRootPath } from '../data/paths.js';

const command = new URL('../cli/commands/pretrain.js', import.meta.url).href;
// The command module on its own (the registry in src/cli/commands/index.ts is not required for the test).
const script = `
import { Command } from 'commander';
import { register } from ${JSON.stringify(command)};
const program = new Command().name('gptkit').exitOverride();
register(program);
try { await program.parseAsync(process.argv.slice(1), { from: 'user' }); }
catch (e) { if (e.code !== 'commander.helpDisplayed') process.stderr.write('gptkit: ' + e.message + '\\n'); process.exit(1); }
`;

function gptkit(...args: string[]): { code: number; out: string; err: string } {
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script, ...args], {
    cwd: packageRootPath(),
    encoding: 'utf8',
  });
  return { code: r.status ?? -1, out: r.stdout, err: r.stderr };
}

let tmp: string;
let cfg: string;
let data: string;
before(() => {
  tmp = mkdtempSync(join(tmpdir(), 'gptkit-pretrain-cli-'));
  cfg = join(tmp, 'tiny.json');
  writeFileSync(
    cfg,
    JSON.stringify({
      vocabSize: 50257,
      contextLength: 16,
      embDim: 32,
      nHeads: 2,
      nLayers: 2,
      dropRate: 0.1,
      qkvBias: false,
      tiedHead: false,
    }),
  );
  data = join(tmp, 'story.txt');
  writeFileSync(data, readFileSync(dataPath('the-verdict.txt'), 'utf8').slice(0, 1100));
});
after(() => rmSync(tmp, { recursive: true, force: true }));

describe('gptkit pretrain', () => {
  it('trains, prints the book-style lines and a sample, writes the run, and resumes with the run settings', () => {
    const out = join(tmp, 'run');
    const first = gptkit(
      'pretrain',
      '--model',
      cfg,
      '--data',
      data,
      '--context-length',
      '16',
      '--epochs',
      '1',
      '--eval-iter',
      '2',
      '--out',
      out,
    );
    assert.equal(first.code, 0, first.err);
    assert.match(
      first.out,
      /^Pretraining: .*tiny\.json \([\d,]+ parameters; 2 layers, 2 heads, width 32, context 16, untied head, dropout 0\.1\)/,
    );
    assert.match(first.out, /\nEp 1 \(Step 000000\): Train loss \d+\.\d{3}, Val loss \d+\.\d{3}\n/);
    assert.match(first.out, /\nEp 1 \(Step 000005\): Train loss/);
    assert.match(first.out, /\nEvery effort moves you/);
    assert.match(first.out, /Model: +.*run\/model/);
    assert.match(first.out, /Loss plot: +.*run\/loss\.svg/);
    for (const f of [
      'model/config.json',
      'model/model.safetensors',
      'loss.svg',
      'metrics.jsonl',
      'run.json',
      'checkpoints/latest.json',
    ]) {
      assert.ok(existsSync(join(out, f)), f);
    }
    // --resume: only --epochs is given; model, data, context length, eval settings come from the run.
    const second = gptkit('pretrain', '--out', out, '--resume', '--epochs', '2', '--eval-iter', '2');
    assert.equal(second.code, 0, second.err);
    assert.match(second.out, /^Resuming .*step-0000(\d\d) at step \d+: .*tiny\.json/);
    assert.match(second.out, /\nEp 2 \(Step 0000\d\d\): Train loss/);
    assert.ok(!/\nEp 1 /.test(second.out), 'epoch 1 is not repeated');
    // other settings are refused with the difference named
    let third = gptkit('pretrain', '--out', out, '--resume', '--epochs', '3', '--context-length', '8');
    assert.equal(third.code, 1);
    assert.match(third.err, /gptkit: cannot resume from .*it used context length 16, this run asks for 8/);
    const wider = join(tmp, 'wider.json');
    writeFileSync(wider, JSON.stringify({ ...JSON.parse(readFileSync(cfg, 'utf8')), embDim: 64 }));
    third = gptkit('pretrain', '--out', out, '--resume', '--model', wider);
    assert.match(
      third.err,
      /gptkit: cannot resume from .*another model configuration \(checkpoint vs this run: embDim 32 vs 64\)/,
    );
  });

  it('options are checked before any work: empty --start-context, --min-lr above --lr', () => {
    const out = join(tmp, 'early');
    let r = gptkit('pretrain', '--model', cfg, '--start-context', '', '--out', out);
    assert.equal(r.code, 1);
    assert.match(r.err, /--start-context must be a non-empty text, got ''/);
    r = gptkit('pretrain', '--model', cfg, '--lr', '1e-4', '--min-lr', '1e-3', '--out', out);
    assert.equal(r.code, 1);
    assert.match(r.err, /minLr \(--min-lr\) 0\.001 is above the peak learning rate lr \(--lr\) 0\.0001/);
    assert.equal(existsSync(out), false, 'nothing left behind');
  });

  it('bad input: clear messages and exit code 1, before any training', () => {
    const empty = join(tmp, 'empty.txt');
    writeFileSync(empty, '');
    let r = gptkit(
      'pretrain',
      '--model',
      cfg,
      '--data',
      empty,
      '--context-length',
      '16',
      '--out',
      join(tmp, 'x'),
    );
    assert.equal(r.code, 1);
    assert.match(r.err, /has 0 tokens; training with a context length of 16 needs at least 17/);
    r = gptkit('pretrain', '--model', cfg, '--data', data, '--context-length', '64', '--out', join(tmp, 'x'));
    assert.match(r.err, /context length 64 is larger than the model's 16/);
    r = gptkit(
      'pretrain',
      '--model',
      cfg,
      '--data',
      data,
      '--context-length',
      '16',
      '--out',
      join(data, 'sub'),
    );
    assert.match(r.err, /output directory .*story\.txt\/sub cannot be created/);
    r = gptkit('pretrain', '--lr', 'fast');
    assert.match(r.err, /--lr must be a number >= 0, got 'fast'/);
    r = gptkit('pretrain', '--init', 'xavier', '--out', join(tmp, 'y'));
    assert.match(r.err, /--init must be one of book, gpt2, got 'xavier'/);
  });
});
