// Instruction fine-tuning (chapter 7) against PyTorch running the book's code on the tiny model
// (test/fixtures/gpt2-tiny/finetune.json: three AdamW losses on the collated batch), then the task end to
// end: a tiny model memorises a handful of instructions, and the saved model answers them with its own
// template; resume equals an uninterrupted run; bad input.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packageRootPath } from '../data/paths.js';
import { collateInstructions, type InstructionEntry } from '../data/instruction.js';
import { loadGPT2 } from '../models/gpt/gpt2-weights.js';
import { resolveModel } from '../models/gpt/source.js';
import { AdamW } from '../optim/index.js';
import { backward } from '../tensor/autograd.js';
import { tidy } from '../tensor/tensor.js';
import { loadGpt2Tokenizer } from '../tokenizer/gpt2.js';
import { finetuneInstruct, RESPONSES_FILE } from './instruct.js';
import { calcLossBatch } from './loss.js';
import { respondTo } from './respond.js';

const fixtureDir = join(packageRootPath(), 'test', 'fixtures', 'gpt2-tiny');
const fx = JSON.parse(readFileSync(join(fixtureDir, 'finetune.json'), 'utf8')) as {
  instruction: { ids: number[][]; allowed_max_length: number; losses_3_steps: number[] };
};

describe('instruction fine-tuning parity with the book (PyTorch, tiny model)', () => {
  it('three AdamW steps on the collated batch give the book losses (untied head as the book loads it)', async () => {
    const model = (await loadGPT2(join(fixtureDir, 'model'))).untieHead();
    assert.equal(model.cfg.tiedHead, false);
    assert.notEqual(model.out_head.weight, model.tok_emb.weight);
    const batch = collateInstructions(fx.instruction.ids, {
      allowedMaxLength: fx.instruction.allowed_max_length,
    });
    const optimizer = new AdamW(model.parameters(), { lr: 1e-3, weightDecay: 0.1 });
    const losses: number[] = [];
    for (let step = 0; step < 3; step++)
      tidy(() => {
        optimizer.zeroGrad();
        const loss = calcLossBatch(model, batch);
        losses.push(loss.item());
        backward(loss);
        optimizer.step();
      });
    losses.forEach((l, i) => {
      const want = fx.instruction.losses_3_steps[i];
      assert.ok(Math.abs(l - want) <= 1e-4 * Math.abs(want), `step ${i}: ${l} vs ${want}`);
    });
  });
});

// Ten short entries: the first 8 train (85%), one tests, one validates.
const ENTRIES: InstructionEntry[] = [
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

describe('finetuneInstruct end to end (tiny model)', () => {
  let tmp: string;
  let data: string;
  before(() => {
    tmp = mkdtempSync(join(tmpdir(), 'gptkit-instruct-'));
    data = join(tmp, 'data.json');
    writeFileSync(data, JSON.stringify(ENTRIES));
  });
  after(() => rmSync(tmp, { recursive: true, force: true }));

  const base = () => ({
    model: join(fixtureDir, 'model'),
    data,
    template: 'phi3',
    epochs: 30,
    batchSize: 4,
    lr: 5e-3,
    evalFreq: 20,
    evalIter: 1,
    maxNewTokens: 24,
    log: () => {},
  });

  it('memorises its training entries; the saved model answers them with its stored template', async () => {
    const lines: string[] = [];
    // Only the answers are learned (exercise 7.2): the first word of an instruction cannot be predicted.
    const r = await finetuneInstruct({
      ...base(),
      maskInstructions: true,
      outDir: join(tmp, 'run'),
      log: (l) => lines.push(l),
    });
    assert.equal(r.steps, 60);
    assert.ok(
      lines.some((l) => /^Ep 1 \(Step 000000\): Train loss \d+\.\d{3}, Val loss \d+\.\d{3}$/.test(l)),
    );
    assert.ok(
      lines.some((l) => l.startsWith('<|user|> Name a planet.')),
      'per-epoch sample of the validation entry',
    );
    assert.ok(r.trainLoss < 0.05, `train loss ${r.trainLoss}`);
    // The test set (entry 8) was answered and written in the book's layout.
    const written = JSON.parse(readFileSync(join(r.outDir, RESPONSES_FILE), 'utf8')) as InstructionEntry[];
    assert.deepEqual(written, r.responses);
    assert.equal(written.length, 1);
    assert.equal(written[0].instruction, 'Name an animal.');
    assert.equal(typeof written[0].model_response, 'string');

    const src = await resolveModel(r.outDir);
    assert.equal(src.template?.name, 'phi3');
    const model = (await src.build()).eval();
    const tokenizer = loadGpt2Tokenizer();
    const answers = ENTRIES.slice(0, 8).map((e) =>
      respondTo(model, tokenizer, src.template!, e, { maxNewTokens: 24 }),
    );
    assert.deepEqual(
      answers,
      ENTRIES.slice(0, 8).map((e) => e.output),
    );
  });

  it('a resumed run equals an uninterrupted one', async () => {
    const o = { ...base(), epochs: 2, respond: false };
    const full = await finetuneInstruct({ ...o, outDir: join(tmp, 'full') });
    const cut = await finetuneInstruct({ ...o, outDir: join(tmp, 'cut'), stopAfterSteps: 3, saveEvery: 3 });
    assert.equal(cut.stopped, true);
    assert.equal(existsSync(join(tmp, 'cut', 'model')), false);
    const resumed = await finetuneInstruct({ outDir: join(tmp, 'cut'), resume: true, log: () => {} });
    assert.equal(resumed.steps, full.steps);
    assert.deepEqual(resumed.model.out_head.weight.toArray(), full.model.out_head.weight.toArray());
    assert.deepEqual(
      resumed.history.map((h) => h.valLoss),
      full.history.map((h) => h.valLoss),
    );
  });

  it('LoRA on every Linear layer: only adapters train, and they are saved alone', async () => {
    const r = await finetuneInstruct({
      ...base(),
      epochs: 1,
      loraRank: 4,
      respond: false,
      outDir: join(tmp, 'lora'),
    });
    // Per block: 4 attention (48x48) + 48->192 + 192->48, and the head 48 -> 50257; A: in x r, B: r x out.
    const r4 = (i: number, o: number) => 4 * (i + o);
    const perBlock = 4 * r4(48, 48) + r4(48, 192) + r4(192, 48);
    assert.equal(r.trainableParams, 2 * perBlock + r4(48, 50257));
    assert.ok(existsSync(join(r.outDir, 'model', 'adapter_config.json')));
    const src = await resolveModel(r.outDir);
    assert.equal(src.kind, 'adapters');
    assert.equal(src.template?.name, 'phi3');
  });

  it('bad input: a classifier, a template without a marker, too few entries', async () => {
    const file = join(tmp, 'bad-template.json');
    writeFileSync(
      file,
      JSON.stringify({ prompt: '{instruction}{input}', input: '{input}', response: '{output}' }),
    );
    await assert.rejects(
      finetuneInstruct({ ...base(), template: file, outDir: join(tmp, 'bad1') }),
      /no response marker/,
    );
    assert.equal(existsSync(join(tmp, 'bad1')), false, 'nothing half-written');
    const few = join(tmp, 'few.json');
    writeFileSync(few, JSON.stringify(ENTRIES.slice(0, 3)));
    await assert.rejects(
      finetuneInstruct({ ...base(), data: few, outDir: join(tmp, 'bad2') }),
      /2 training entries .* fewer than one batch of 4/,
    );
  });
});
