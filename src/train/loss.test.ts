// calc_loss_batch / calc_loss_loader semantics checked against a hand computation in float64 from the logits.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { GPTModel } from '../models/gpt/gpt.js';
import { noGrad } from '../tensor/autograd.js';
import { Rng } from '../tensor/rng.js';
import { fromTypedArray } from '../tensor/tensor.js';
import { calcLossBatch, calcLossLoader, evaluateModel, perplexity, type TokenBatch } from './loss.js';
import { tinyConfig } from './tiny-run.fixture.js';

const rng = new Rng(5);
function randomBatch(B: number, T: number): TokenBatch {
  const inputs = new Int32Array(B * T).map(() => rng.int(256));
  const targets = new Int32Array(B * T).map(() => rng.int(256));
  return { inputs, targets, batchSize: B, seqLen: T };
}

/** Mean over rows of -log softmax(logits)[target], in float64. */
function handLoss(model: GPTModel, b: TokenBatch): number {
  const logits = noGrad(() => model.forward(fromTypedArray(b.inputs, [b.batchSize, b.seqLen])));
  const V = logits.shape[2];
  const d = logits.data;
  let total = 0;
  for (let r = 0; r < b.batchSize * b.seqLen; r++) {
    let max = -Infinity;
    for (let j = 0; j < V; j++) max = Math.max(max, d[r * V + j]);
    let sum = 0;
    for (let j = 0; j < V; j++) sum += Math.exp(d[r * V + j] - max);
    total += -(d[r * V + b.targets[r]] - max - Math.log(sum));
  }
  return total / (b.batchSize * b.seqLen);
}

describe('losses (book 5.1)', () => {
  // Heavy dropout: evaluation must switch it off, or the numbers would be random.
  const model = new GPTModel({ ...tinyConfig, dropRate: 0.5 }, new Rng(1));
  const batches = [randomBatch(2, 16), randomBatch(2, 16), randomBatch(1, 16)];

  it('calcLossLoader is the mean of per-batch mean losses over the first numBatches batches, in eval mode', () => {
    model.eval();
    const per = batches.map((b) => handLoss(model, b));
    model.train();
    const close = (a: number, b: number) => assert.ok(Math.abs(a - b) <= 1e-5 * Math.abs(b), `${a} vs ${b}`);
    close(calcLossLoader(model, batches, 2), (per[0] + per[1]) / 2);
    close(calcLossLoader(model, batches), (per[0] + per[1] + per[2]) / 3); // not weighted by batch size, as the book
    close(calcLossLoader(model, batches, 10), (per[0] + per[1] + per[2]) / 3); // min(numBatches, len(loader))
    assert.equal(model.training, true, 'train mode is restored');
    assert.ok(
      model.parameters().every((p) => p.grad === null),
      'no gradients are recorded',
    );
    assert.ok(Number.isNaN(calcLossLoader(model, [])), 'an empty loader gives NaN, as the book');
    assert.throws(() => calcLossLoader(model, batches, 0), /numBatches must be a positive integer/);
    const ev = evaluateModel(model, batches, batches.slice(2), 1);
    close(ev.trainLoss, per[0]);
    close(ev.valLoss, per[2]);
  });

  it('calcLossBatch is differentiable and matches the hand computation in eval mode', () => {
    model.eval();
    const b = batches[0];
    const loss = calcLossBatch(model, b);
    assert.ok(loss.requiresGrad);
    assert.ok(Math.abs(loss.item() - handLoss(model, b)) < 1e-5 * loss.item());
    model.train();
    assert.throws(() => calcLossBatch(model, { ...b, seqLen: 15 }), /inputs has 32 ids, expected 2 x 15/);
  });

  it('perplexity = exp(loss): a uniform model over 256 tokens has perplexity 256', () => {
    assert.ok(Math.abs(perplexity(Math.log(256)) - 256) < 1e-9);
    assert.ok(Math.abs(perplexity(10.794) - 48725.8) < 5); // the book, 5.1.2: loss 10.7940 (rounded), perplexity 48725.8
  });
});
