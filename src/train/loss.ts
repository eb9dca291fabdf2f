// The book's loss helpers (chapter 5.1): calc_loss_batch, calc_loss_loader, evaluate_model, perplexity.
// They work on token batches ({inputs, targets} int32, B x T); the loaders themselves live in src/data.
import * as ops from '../ops/index.js';
import { noGrad } from '../tensor/autograd.js';
import { fromTypedArray, tidy, type Tensor } from '../tensor/tensor.js';
import type { GPTModel } from '../models/gpt/gpt.js';

/** One batch of next-token examples: row-major [batchSize, seqLen] ids; targets are inputs shifted by one. */
export interface TokenBatch {
  inputs: Int32Array;
  targets: Int32Array;
  batchSize: number;
  seqLen: number;
}

/** Anything that yields token batches (a DataLoader, an array of batches). */
export type BatchSource = Iterable<TokenBatch>;

function batchTensor(ids: Int32Array, batch: TokenBatch, what: string): Tensor {
  const { batchSize: B, seqLen: T } = batch;
  if (ids.length !== B * T)
    throw new Error(`calcLossBatch: ${what} has ${ids.length} ids, expected ${B} x ${T}`);
  return fromTypedArray(ids, [B, T]); // wraps, no copy
}

/**
 * calc_loss_batch: mean cross-entropy of the model's logits (B, T, V) against the targets (B, T).
 * Recorded for autograd unless called under noGrad.
 */
export function calcLossBatch(model: GPTModel, batch: TokenBatch): Tensor {
  const inputs = batchTensor(batch.inputs, batch, 'inputs');
  const targets = batchTensor(batch.targets, batch, 'targets');
  const logits = model.forward(inputs); // (B, T, V)
  return ops.crossEntropy(logits, targets);
}

/**
 * calc_loss_loader: the mean of the per-batch mean losses over the first `numBatches` batches (all when
 * omitted), in eval mode (no dropout) and without recording gradients. NaN for a source with no batches,
 * as the book returns. The model's train/eval mode is restored afterwards.
 */
export function calcLossLoader(model: GPTModel, source: BatchSource, numBatches?: number): number {
  if (numBatches !== undefined && !(Number.isInteger(numBatches) && numBatches >= 1)) {
    throw new Error(`calcLossLoader: numBatches must be a positive integer, got ${numBatches}`);
  }
  const wasTraining = model.training;
  model.eval();
  let total = 0;
  let count = 0;
  try {
    for (const batch of source) {
      if (numBatches !== undefined && count >= numBatches) break;
      total += tidy(() => noGrad(() => calcLossBatch(model, batch).item()));
      count++;
    }
  } finally {
    model.train(wasTraining);
  }
  return count === 0 ? NaN : total / count;
}

/** evaluate_model: training and validation loss over the first `evalIter` batches of each source. */
export function evaluateModel(
  model: GPTModel,
  train: BatchSource,
  val: BatchSource,
  evalIter: number,
): { trainLoss: number; valLoss: number } {
  return { trainLoss: calcLossLoader(model, train, evalIter), valLoss: calcLossLoader(model, val, evalIter) };
}

/** The first n items of an iterable (the book's evaluations read the first eval_iter batches). */
export function* firstN<T>(it: Iterable<T>, n: number): Generator<T> {
  let i = 0;
  for (const x of it) {
    if (i++ >= n) return;
    yield x;
  }
}

/** Perplexity of a mean cross-entropy loss (in nats): exp(loss). */
export function perplexity(loss: number): number {
  return Math.exp(loss);
}
