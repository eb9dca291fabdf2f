// The book's chapter 3-4 numbers: the attention example, parameter counts, and the fused attention path
// checked against the readable one; KV-cache generation equals uncached generation.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as ops from '../../ops/index.js';
import { backward } from '../../tensor/autograd.js';
import { Rng } from '../../tensor/rng.js';
import { tidy } from '../../tensor/tensor.js';
import {
  CausalAttention,
  MultiHeadAttention,
  MultiHeadAttentionWrapper,
  SelfAttentionV1,
  SelfAttentionV2,
  simplifiedSelfAttention,
} from './attention.js';
import { GPT2_PRESETS, presetConfig } from './config.js';
import { FastMultiHeadAttention, GPTModel } from './gpt.js';
import { generate } from './generate.js';

// "Your journey starts with one step" as the book's 3-d embeddings (section 3.3.1).
const inputs = ops.tensor([
  [0.43, 0.15, 0.89], // Your
  [0.55, 0.87, 0.66], // journey
  [0.57, 0.85, 0.64], // starts
  [0.22, 0.58, 0.33], // with
  [0.77, 0.25, 0.1], // one
  [0.05, 0.8, 0.55], // step
]);

function close(a: number[], b: number[], tol: number, what: string): void {
  assert.equal(a.length, b.length, `${what}: lengths`);
  a.forEach((x, i) => assert.ok(Math.abs(x - b[i]) <= tol, `${what}[${i}]: ${x} vs ${b[i]}`));
}

describe('attention (book chapter 3)', () => {
  it('simplified self-attention gives the book context vector for "journey"', () => {
    const context = simplifiedSelfAttention(inputs);
    close(ops.narrow(context, 0, 1, 1).toArray(), [0.4419, 0.6515, 0.5683], 5e-5, 'z(2)');
  });

  it('the trainable variants produce (T, dOut) context vectors and gradients', () => {
    const rng = new Rng(123);
    const v1 = new SelfAttentionV1(3, 2, rng);
    const v2 = new SelfAttentionV2(3, 2, { rng });
    assert.deepEqual(v1.forward(inputs).shape, [6, 2]);
    const out = v2.forward(inputs);
    assert.deepEqual(out.shape, [6, 2]);
    backward(ops.sum(out));
    assert.ok(v2.W_query.weight.grad, 'W_query gets a gradient');
  });

  it('causal attention ignores future tokens; the wrapper concatenates heads', () => {
    const batch = ops.concat([ops.unsqueeze(inputs, 0), ops.unsqueeze(inputs, 0)], 0); // (2, 6, 3)
    const ca = new CausalAttention(3, 2, 6, 0, { rng: new Rng(1) });
    const full = ca.forward(batch);
    const prefix = ca.forward(ops.narrow(batch, 1, 0, 3));
    close(ops.narrow(full, 1, 0, 3).toArray(), prefix.toArray(), 1e-6, 'prefix invariance');
    const wrapper = new MultiHeadAttentionWrapper(3, 2, 6, 0, 2, { rng: new Rng(1) });
    assert.deepEqual(wrapper.forward(batch).shape, [2, 6, 4]);
    const mha = new MultiHeadAttention(3, 2, 6, 0, 2, { rng: new Rng(1) });
    assert.deepEqual(mha.forward(batch).shape, [2, 6, 2]);
  });

  it('the fused attention path equals the readable MultiHeadAttention, forward and backward', () => {
    const x = ops.randn([2, 7, 8], { rng: new Rng(5) });
    const readable = new MultiHeadAttention(8, 8, 7, 0, 2, { qkvBias: true, rng: new Rng(9) });
    const fast = new FastMultiHeadAttention(8, 8, 7, 0, 2, { qkvBias: true, rng: new Rng(9) });
    const a = readable.forward(x);
    const b = fast.forward(x);
    close(b.toArray(), a.toArray(), 1e-5, 'forward');
    backward(ops.sum(ops.mul(a, a)));
    backward(ops.sum(ops.mul(b, b)));
    const ra = new Map(readable.namedParameters());
    for (const [name, p] of fast.namedParameters())
      close(p.grad!.toArray(), ra.get(name)!.grad!.toArray(), 1e-4, name);
  });
});

describe('GPT model (book chapter 4)', () => {
  it('parameter counts match the book', () => {
    const count = (cfg: typeof GPT2_PRESETS.x) => {
      const C = cfg.embDim;
      const block = 4 * C * C + (cfg.qkvBias ? 3 * C : 0) + C + 2 * (4 * C * C) + 4 * C + C + 4 * C;
      return (
        cfg.vocabSize * C +
        cfg.contextLength * C +
        cfg.nLayers * block +
        2 * C +
        (cfg.tiedHead ? 0 : cfg.vocabSize * C)
      );
    };
    // The formula above is checked against a real (small-vocab) model first, then applied to the presets
    // without allocating 1.5B parameters.
    const small = { ...GPT2_PRESETS['gpt2-small'], vocabSize: 100, contextLength: 16, nLayers: 2 };
    assert.equal(new GPTModel(small).numParameters(), count(small));
    assert.equal(
      new GPTModel({ ...small, tiedHead: true, qkvBias: true }).numParameters(),
      count({ ...small, tiedHead: true, qkvBias: true }),
    );
    assert.equal(count(GPT2_PRESETS['gpt2-small']), 163_009_536);
    assert.equal(count({ ...GPT2_PRESETS['gpt2-small'], tiedHead: true, qkvBias: true }), 124_439_808);
    assert.equal(count({ ...GPT2_PRESETS['gpt2-medium'], tiedHead: true, qkvBias: true }), 354_823_168);
    assert.equal(count({ ...GPT2_PRESETS['gpt2-large'], tiedHead: true, qkvBias: true }), 774_030_080);
    assert.equal(count({ ...GPT2_PRESETS['gpt2-xl'], tiedHead: true, qkvBias: true }), 1_557_611_200);
  });

  it('forward gives (B, T, V) logits and rejects bad input', () => {
    const model = new GPTModel(
      presetConfig('gpt2-small', { vocabSize: 50, contextLength: 8, embDim: 16, nHeads: 2, nLayers: 2 }),
    );
    const ids = ops.fromArray([1, 2, 3, 4, 5, 6], [2, 3], 'int32');
    assert.deepEqual(model.forward(ids).shape, [2, 3, 50]);
    assert.throws(
      () => model.forward(ops.fromArray([1, 2], [2], 'int32')),
      /expected int32 token ids of shape \(B, T\)/,
    );
    assert.throws(
      () => model.forward(ops.fromArray([1, 99], [1, 2], 'int32')),
      /index 99 .* out of range \[0, 50\)/,
    );
    assert.throws(
      () => model.forward(ops.fromArray(new Array(9).fill(1), [1, 9], 'int32')),
      /exceed the context length 8/,
    );
    assert.throws(() => presetConfig('gpt3'), /unknown model configuration 'gpt3'/);
  });

  it('KV-cache generation equals uncached generation, also past the context length', () => {
    const model = new GPTModel(
      presetConfig('gpt2-small', { vocabSize: 64, contextLength: 12, embDim: 32, nHeads: 4, nLayers: 2 }),
      new Rng(3),
    );
    const prompt = [5, 9, 1];
    const cached = generate(model, prompt, { maxNewTokens: 20 });
    const uncached = generate(model, prompt, { maxNewTokens: 20, useCache: false });
    assert.deepEqual(cached, uncached);
    // A prompt longer than the context is cropped to its last contextLength tokens.
    const long = Array.from({ length: 30 }, (_, i) => (i * 7) % 64);
    assert.deepEqual(
      generate(model, long, { maxNewTokens: 5 }),
      generate(model, long.slice(-12), { maxNewTokens: 5, useCache: false }),
    );
    // Sampling is reproducible with a seed and stops at a stop token.
    const s1 = generate(model, prompt, { maxNewTokens: 10, temperature: 1.4, topK: 20, seed: 7 });
    const s2 = generate(model, prompt, { maxNewTokens: 10, temperature: 1.4, topK: 20, seed: 7 });
    assert.deepEqual(s1, s2);
    const stop = generate(model, prompt, { maxNewTokens: 20, stopTokens: [cached[3]] });
    assert.deepEqual(stop, cached.slice(0, cached.indexOf(cached[3])));
    const nucleus = generate(model, prompt, { maxNewTokens: 10, temperature: 1, topP: 1e-9, seed: 1 });
    assert.deepEqual(nucleus, generate(model, prompt, { maxNewTokens: 10 }), 'top-p near 0 is greedy');
  });

  it('a training step through the readable (dropout) path reduces the loss', () => {
    const model = new GPTModel(
      presetConfig('gpt2-small', {
        vocabSize: 40,
        contextLength: 8,
        embDim: 16,
        nHeads: 2,
        nLayers: 1,
        dropRate: 0.1,
      }),
      new Rng(1),
    );
    const ids = ops.fromArray([1, 2, 3, 4, 5, 6, 7, 8], [1, 8], 'int32');
    const targets = ops.fromArray([2, 3, 4, 5, 6, 7, 8, 9], [1, 8], 'int32');
    const losses: number[] = [];
    for (let i = 0; i < 5; i++) {
      losses.push(
        tidy(() => {
          model.zeroGrad();
          const loss = ops.crossEntropy(model.forward(ids), targets);
          backward(loss);
          for (const p of model.parameters())
            for (let j = 0; j < p.size; j++) p.data[j] -= 0.05 * p.grad!.data[j];
          return loss.item();
        }),
      );
    }
    assert.ok(losses[4] < losses[0], `losses ${losses}`);
  });
});
