// `gptkit finetune-instruct`, `gptkit respond` and `gptkit dpo` end to end on the tiny GPT-2 fixture
// (context 64): the book's log lines, the saved model's template used by respond, the answers file, the
// DPO log line, and bad input with exit code 1 and nothing half-written.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
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

const ENTRIES = [
  ['Name a color.', '', 'Blue.'],
  ['Say hello.', '', 'Hello there!'],
  ['Translate to French.', 'cat', 'chat'],
  ['Give the opposite.', 'hot', 'cold'],
  ['Count to three.', '', '1, 2, 3'],
  ['Name a fruit.', '', 'An apple.'],
  ['Spell it backwards.', 'abc', 'cba'],
  ['What is 2 + 2?', '', '4'],
  ['Name an animal.', '', 'A dog.'],
  ['Name a planet.', '', 'Mars.'],
].map(([instruction, input, output]) => ({ instruction, input, output }));

describe('gptkit finetune-instruct / respond / dpo', () => {
  let tmp: string;
  let data: string;
  before(() => {
    tmp = mkdtempSync(join(tmpdir(), 'gptkit-instruct-cli-'));
    data = join(tmp, 'data.json');
    writeFileSync(data, JSON.stringify(ENTRIES));
  });
  after(() => rmSync(tmp, { recursive: true, force: true }));

  it('trains with the book log, saves the model and the test answers; respond uses its template', () => {
    const run = join(tmp, 'run');
    const r = gptkit(
      'finetune-instruct',
      ...['--model', tinyLM, '--data', data, '--template', 'phi3', '--mask-instructions'],
      ...['--epochs', '30', '--batch-size', '4', '--lr', '5e-3', '--eval-freq', '20', '--eval-iter', '1'],
      ...['--max-new-tokens', '24', '--out', run, '--json'],
    );
    assert.equal(r.code, 0, r.err);
    assert.match(
      r.err,
      /Instruction fine-tuning: .*template phi3; 8 training \/ 1 validation \/ 1 test entries/,
    );
    assert.match(r.err, /^Ep 1 \(Step 000000\): Train loss \d+\.\d{3}, Val loss \d+\.\d{3}$/m);
    const summary = JSON.parse(r.out.trim().split('\n').pop()!) as {
      model_dir: string;
      responses_file: string;
    };
    assert.equal(summary.model_dir, join(run, 'model'));
    const answered = JSON.parse(readFileSync(summary.responses_file, 'utf8')) as Array<
      Record<string, string>
    >;
    assert.deepEqual(Object.keys(answered[0]), ['instruction', 'input', 'output', 'model_response']);

    const one = gptkit(
      'respond',
      '--model',
      run,
      '--instruction',
      'Translate to French.',
      '--input',
      'cat',
      '--max-new-tokens',
      '24',
    );
    assert.equal(one.code, 0, one.err);
    assert.equal(one.out, 'chat\n');
    const out = join(tmp, 'answers.json');
    const all = gptkit('respond', '--model', run, '--data', data, '--out', out, '--max-new-tokens', '24');
    assert.equal(all.code, 0, all.err);
    assert.match(all.out, /^Answered 10 entries \(template phi3\); wrote /);
    const got = JSON.parse(readFileSync(out, 'utf8')) as Array<Record<string, string>>;
    assert.deepEqual(
      got.slice(0, 8).map((e) => e.model_response),
      ENTRIES.slice(0, 8).map((e) => e.output),
    );

    const pairs = join(tmp, 'pairs.json');
    writeFileSync(pairs, JSON.stringify(ENTRIES.map((e) => ({ ...e, chosen: e.output, rejected: 'No.' }))));
    const d = gptkit(
      'dpo',
      '--model',
      run,
      '--data',
      pairs,
      '--batch-size',
      '4',
      '--eval-freq',
      '1',
      '--eval-iter',
      '1',
      '--out',
      join(tmp, 'dpo'),
    );
    assert.equal(d.code, 0, d.err);
    assert.match(d.out, /Preference tuning \(DPO\): .*template phi3; 8 training \/ 1 validation pairs/);
    assert.match(
      d.out,
      /^Ep 1 \(Step 000000\): Train loss \d\.\d{3}, Val loss \d\.\d{3}, Train reward margins -?\d+\.\d{3}, Val reward margins -?\d+\.\d{3}$/m,
    );
    assert.ok(existsSync(join(tmp, 'dpo', 'model', 'model.safetensors')));
  });

  it('bad input: exit code 1, one clear line, nothing written', () => {
    const bad = join(tmp, 'bad.json');
    writeFileSync(
      bad,
      JSON.stringify([
        { instruction: 'a', output: 'b' },
        { instruction: 'c', input: 1, output: 'd' },
      ]),
    );
    const r = gptkit('finetune-instruct', '--model', tinyLM, '--data', bad, '--out', join(tmp, 'bad-run'));
    assert.equal(r.code, 1);
    assert.match(r.err, /entry 1: "input" must be a string, got 1/);
    assert.equal(existsSync(join(tmp, 'bad-run')), false);
    const both = gptkit('respond', '--model', tinyLM, '--instruction', 'x', '--data', data);
    assert.equal(both.code, 1);
    assert.match(both.err, /give either --instruction TEXT .* or --data FILE --out FILE/);
    const long = gptkit('respond', '--model', tinyLM, '--instruction', 'word '.repeat(80));
    assert.equal(long.code, 1);
    assert.match(long.err, /the prompt has \d+ tokens; the model's context length is 64/);
    const noModel = gptkit('dpo', '--data', data);
    assert.equal(noModel.code, 1);
    assert.match(noModel.err, /--model DIR is required/);
  });
});
