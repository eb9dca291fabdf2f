// The chapter-6 classifier and appendix-E LoRA against PyTorch running the book's code on the tiny model
// (test/fixtures/gpt2-tiny/finetune.json), then the task end to end: frozen parts untouched, the reused
// frozen prefix exact, resume equal to an uninterrupted run, adapters saved alone and loaded back, merge.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packageRootPath } from '../data/paths.js';
import { readSafetensors } from '../io/safetensors.js';
import { loadGPT2 } from '../models/gpt/gpt2-weights.js';
import type { GPTModel } from '../models/gpt/gpt.js';
import { applyLoRA, LoRALinear, mergeLoRA } from '../nn/lora.js';
import * as ops from '../ops/index.js';
import { AdamW } from '../optim/index.js';
import { backward, noGrad } from '../tensor/autograd.js';
import { fromTypedArray, tidy } from '../tensor/tensor.js';
import { finetuneClassifier, frozenBlocks, selectToken, setTrainable } from './classifier.js';
import { classifyTexts, loadClassifier } from './classify.js';

const fixtureDir = join(packageRootPath(), 'test', 'fixtures', 'gpt2-tiny');
const fx = JSON.parse(readFileSync(join(fixtureDir, 'finetune.json'), 'utf8')) as {
  classifier: {
    input_ids: number[][];
    labels: number[];
    trainable_params: number;
    last_token_logits_before: number[][];
    losses_5_steps: number[];
    grad_l2_norms_step0: Record<string, number>;
    last_token_logits_after: number[][];
    predictions_after: number[];
  };
  lora: {
    rank: number;
    alpha: number;
    trainable_params: number;
    losses_5_steps: number[];
    last_token_logits_after: number[][];
    merged_last_token_logits: number[][];
  };
};

function closeRel(actual: number[], expected: number[], rel: number, what: string, abs = 1e-6): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  actual.forEach((a, i) => {
    const e = expected[i];
    assert.ok(Math.abs(a - e) <= rel * Math.abs(e) + abs, `${what}[${i}]: ${a} vs ${e}`);
  });
}

const batch = () => {
  const ids = fx.classifier.input_ids;
  const T = ids[0].length;
  return {
    inputs: fromTypedArray(Int32Array.from(ids.flat()), [ids.length, T]),
    labels: fromTypedArray(Int32Array.from(fx.classifier.labels), [ids.length]),
    lengths: new Int32Array(ids.length).fill(T),
  };
};

const lastLogits = (model: GPTModel): number[] =>
  tidy(() => noGrad(() => selectToken(model.forward(batch().inputs), 'last', batch().lengths).toArray()));

/** The fixture model as the book loads it, with the book's new 2-class head (initial weights from PyTorch). */
async function bookClassifier(): Promise<GPTModel> {
  const model = (await loadGPT2(join(fixtureDir, 'model'))).eval();
  model.useClassifierHead(2);
  const t = await readSafetensors(join(fixtureDir, 'finetune-tensors.safetensors'));
  model.out_head.weight.data.set(t.get('classifier.out_head.weight')!.data);
  model.out_head.bias!.data.set(t.get('classifier.out_head.bias')!.data);
  return model;
}

/** Five AdamW steps on the fixture batch with the loss on the last token, as the recipes say. */
function train5(model: GPTModel, lr: number, onFirstGrad?: () => void): number[] {
  const optimizer = new AdamW(model.parameters(), { lr, weightDecay: 0.1 });
  const b = batch();
  const losses: number[] = [];
  for (let step = 0; step < 5; step++) {
    tidy(() => {
      optimizer.zeroGrad();
      const loss = ops.crossEntropy(selectToken(model.forward(b.inputs), 'last', b.lengths), b.labels);
      losses.push(loss.item());
      backward(loss);
      if (step === 0) onFirstGrad?.();
      optimizer.step();
    });
  }
  return losses;
}

const l2 = (a: ArrayLike<number>) => Math.sqrt(Array.from(a).reduce((s, x) => s + x * x, 0));

describe('classifier parity with the book (PyTorch, tiny model)', () => {
  it('last block + final norm + head: trainable count, logits, 5 AdamW losses, gradient norms, predictions', async () => {
    const model = await bookClassifier();
    setTrainable(model, 'last-block');
    assert.equal(model.numParameters({ trainableOnly: true }), fx.classifier.trainable_params);
    closeRel(lastLogits(model), fx.classifier.last_token_logits_before.flat(), 1e-4, 'logits before');
    const frozenBefore = model.trf_blocks[0].att.W_query.weight.toArray();
    const names = new Map(model.namedParameters());
    const losses = train5(model, 1e-3, () => {
      for (const [name, norm] of Object.entries(fx.classifier.grad_l2_norms_step0)) {
        const g = names.get(name)!.grad!;
        closeRel([l2(g.toArray())], [norm], 1e-3, `grad norm ${name}`, 1e-6);
      }
      for (const [name, p] of names)
        if (!(name in fx.classifier.grad_l2_norms_step0)) assert.equal(p.grad, null, `${name} is frozen`);
    });
    closeRel(losses, fx.classifier.losses_5_steps, 1e-4, 'losses');
    const after = lastLogits(model);
    closeRel(after, fx.classifier.last_token_logits_after.flat(), 1e-4, 'logits after');
    const predictions = fx.classifier.input_ids.map((_, b) => (after[2 * b + 1] > after[2 * b] ? 1 : 0));
    assert.deepEqual(predictions, fx.classifier.predictions_after);
    assert.deepEqual(
      model.trf_blocks[0].att.W_query.weight.toArray(),
      frozenBefore,
      'frozen block unchanged',
    );
  });

  it('LoRA on every Linear incl. the head: trainable count, 5 AdamW losses, logits after, merged logits', async () => {
    const model = await bookClassifier();
    for (const p of model.parameters()) p.requiresGrad = false;
    const layers = applyLoRA(model, { rank: fx.lora.rank, alpha: fx.lora.alpha });
    const t = await readSafetensors(join(fixtureDir, 'finetune-tensors.safetensors'));
    for (const [name, p] of model.namedParameters())
      if (name.endsWith('.lora.A')) p.data.set(t.get(`lora.${name}`)!.data);
    assert.equal(layers.length, 13);
    assert.equal(model.numParameters({ trainableOnly: true }), fx.lora.trainable_params);
    const losses = train5(model, 1e-2);
    closeRel(losses, fx.lora.losses_5_steps, 1e-4, 'losses', 1e-5);
    closeRel(lastLogits(model), fx.lora.last_token_logits_after.flat(), 1e-4, 'logits after', 1e-5);
    mergeLoRA(model);
    assert.ok(!(model.out_head instanceof LoRALinear));
    closeRel(lastLogits(model), fx.lora.merged_last_token_logits.flat(), 1e-4, 'merged logits', 1e-5);
  });
});

describe('finetuneClassifier (tiny model, end to end)', () => {
  let tmp: string;
  let csv: string;
  const words = ['win cash now', 'free prize claim', 'urgent reply win', 'call to claim your award'];
  const hams = [
    'see you at lunch',
    'are we still on for tonight',
    'thanks for the notes',
    'running late sorry',
  ];
  before(() => {
    tmp = mkdtempSync(join(tmpdir(), 'gptkit-cls-'));
    const rows = ['Label,Text'];
    for (let i = 0; i < 16; i++) rows.push(`spam,"${words[i % 4]} ${i}"`, `ham,"${hams[i % 4]} ${i}"`);
    csv = join(tmp, 'data.csv');
    writeFileSync(csv, rows.join('\n') + '\n');
  });
  after(() => rmSync(tmp, { recursive: true, force: true }));

  let n = 0;
  const base = (extra: Record<string, unknown> = {}) => ({
    model: join(fixtureDir, 'model'),
    train: csv,
    val: csv,
    test: csv,
    epochs: 2,
    batchSize: 4,
    lr: 1e-3,
    evalFreq: 3,
    evalIter: 2,
    checkpointMinutes: 0,
    outDir: join(tmp, `run-${n++}`),
    log: () => {},
    ...extra,
  });

  it('reusing the frozen prefix gives the same losses as recomputing it', async () => {
    const a = await finetuneClassifier(base({ reuseFrozen: true }));
    const b = await finetuneClassifier(base({ reuseFrozen: false }));
    assert.equal(frozenBlocks(a.model), 1);
    closeRel(
      a.history.map((r) => r.trainLoss),
      b.history.map((r) => r.trainLoss),
      1e-5,
      'train losses',
    );
    closeRel([a.testAccuracy], [b.testAccuracy], 0, 'test accuracy');
    assert.equal(
      a.confusion.flat().reduce((s, x) => s + x, 0),
      32,
    );
    // the saved model classifies like the trained one
    const c = await loadClassifier(a.modelDir!);
    assert.deepEqual(c.labels, ['ham', 'spam']);
    const r = classifyTexts(c, ['win cash now 3', 'see you at lunch 2']);
    assert.equal(r.length, 2);
    for (const x of r)
      closeRel([Object.values(x.probabilities).reduce((s, p) => s + p, 0)], [1], 1e-6, 'sum');
  });

  it('resumes exactly: stop after 5 steps, resume, equals an uninterrupted run', async () => {
    const full = await finetuneClassifier(base());
    const outDir = join(tmp, 'resumed');
    const first = await finetuneClassifier(base({ outDir, stopAfterSteps: 5, saveEvery: 5 }));
    assert.equal(first.stopped, true);
    const second = await finetuneClassifier({ outDir, resume: true, log: () => {}, checkpointMinutes: 0 });
    assert.equal(second.steps, full.steps);
    assert.deepEqual(
      second.history.map((r) => r.trainLoss),
      full.history.map((r) => r.trainLoss),
    );
    assert.deepEqual(second.model.out_head.weight.toArray(), full.model.out_head.weight.toArray());
  });

  it('LoRA: adapters saved alone load back onto the base model; --merge gives the same classifier', async () => {
    const r = await finetuneClassifier(base({ loraRank: 4, loraAlpha: 8 }));
    assert.equal(r.trainableParams, fx.lora.trainable_params);
    assert.ok(readFileSync(join(r.modelDir!, 'adapter_config.json'), 'utf8').includes('gptkit-lora'));
    const adapted = await loadClassifier(r.modelDir!);
    const m = await finetuneClassifier(base({ loraRank: 4, loraAlpha: 8, merge: true }));
    const merged = await loadClassifier(m.modelDir!);
    const texts = ['free prize claim 9', 'thanks for the notes 1', 'urgent reply win 6'];
    const pa = classifyTexts(adapted, texts).flatMap((x) => Object.values(x.probabilities));
    const pm = classifyTexts(merged, texts).flatMap((x) => Object.values(x.probabilities));
    closeRel(pa, pm, 1e-4, 'adapted vs merged', 1e-6);
    assert.ok(Math.abs(r.testAccuracy - m.testAccuracy) < 1e-9);
  });

  it('--keep-best keeps the epoch with the best validation accuracy', async () => {
    const r = await finetuneClassifier(base({ keepBest: true, epochs: 3 }));
    const full = r.epochs.map((e) => e.values.fullValAccuracy);
    const bestEpoch = full.indexOf(Math.max(...full)) + 1;
    assert.equal(r.keptEpoch, bestEpoch);
    assert.equal(r.valAccuracy, full[bestEpoch - 1]);
  });

  it('bad input: clear errors before any training', async () => {
    await assert.rejects(
      finetuneClassifier(base({ loraRank: 0 })),
      /loraRank \(--lora-rank\) must be a positive integer, got 0/,
    );
    await assert.rejects(
      finetuneClassifier(base({ trainable: 'lora' })),
      /--trainable lora needs --lora-rank/,
    );
    const long = join(tmp, 'long.csv');
    writeFileSync(long, 'Label,Text\na,' + 'word '.repeat(100) + '\nb,short\n');
    await assert.rejects(finetuneClassifier(base({ train: long, val: long, test: long })), /--max-length/);
    const one = join(tmp, 'one.csv');
    writeFileSync(one, 'Label,Text\na,x\na,y\n');
    await assert.rejects(finetuneClassifier(base({ train: one, val: one, test: one })), /two classes/);
  });
});
