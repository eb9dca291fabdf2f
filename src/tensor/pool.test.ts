// The memory pool: size classes, reuse, and the steady-state guarantee that a repeated training step
// allocates no new large buffers once warmed up.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { BufferPool, pool, sizeClass } from './pool.js';
import { empty, tidy } from './tensor.js';
import { backward } from './autograd.js';
import { Rng } from './rng.js';
import * as ops from '../ops/index.js';
import { GPTModel } from '../models/gpt/gpt.js';
import { presetConfig } from '../models/gpt/config.js';
import { AdamW } from '../optim/index.js';

describe('buffer pool', () => {
  it('rounds sizes up by at most 12.5% and reuses released buffers', () => {
    for (const n of [1025, 4096, 5000, 123457, 50257 * 768]) {
      const c = sizeClass(n);
      assert.ok(c >= n && c <= n * 1.125, `class ${c} for ${n}`);
    }
    const p = new BufferPool();
    const a = p.acquire('float32', 5000);
    assert.equal(a.length, 5000);
    p.release(a);
    const b = p.acquire('float32', 4990);
    assert.equal(b.buffer, a.buffer, 'same class reuses the buffer');
    assert.deepEqual([p.stats.allocations, p.stats.reuses], [1, 1]);
  });

  it('backward after the forward tidy() scope ended fails loudly instead of reading reused memory', () => {
    const w = ops.randn([64, 64]);
    w.requiresGrad = true;
    const loss = tidy(() => ops.sum(ops.matmul(ops.gelu(w), w)));
    assert.throws(
      () => backward(loss),
      /was disposed \(its tidy\(\) scope ended\); call backward inside the same tidy\(\)/,
    );
  });

  it('disposed tensors return storage; use after dispose fails loudly', () => {
    const t = empty([4096]);
    t.dispose();
    assert.throws(() => t.data, /was disposed/);
  });

  it('a repeated forward+backward+AdamW step allocates no new pooled buffers after warm-up', () => {
    const model = new GPTModel(
      presetConfig('gpt2-small', {
        vocabSize: 300,
        contextLength: 32,
        embDim: 64,
        nHeads: 4,
        nLayers: 2,
        dropRate: 0.1,
      }),
      new Rng(1),
    );
    model.train();
    const opt = new AdamW(model.parameters(), { lr: 1e-3, weightDecay: 0.1 });
    const ids = ops.fromArray(
      Array.from({ length: 64 }, (_, i) => (i * 13) % 300),
      [2, 32],
      'int32',
    );
    const targets = ops.fromArray(
      Array.from({ length: 64 }, (_, i) => (i * 7) % 300),
      [2, 32],
      'int32',
    );
    const step = () =>
      tidy(() => {
        opt.zeroGrad();
        const loss = ops.crossEntropy(model.forward(ids), targets);
        backward(loss);
        opt.step();
        return loss.item();
      });
    for (let i = 0; i < 3; i++) step();
    const before = pool.stats.allocations;
    for (let i = 0; i < 5; i++) step();
    assert.equal(pool.stats.allocations - before, 0, 'no fresh buffers in steady state');
  });

  it('a smaller request reuses a free buffer up to twice its size; the buffer goes back to its own class', () => {
    const p = new BufferPool();
    const big = p.acquire('float32', 8000);
    p.release(big);
    const small = p.acquire('float32', 5000);
    assert.equal(small.buffer, big.buffer, 'reused the larger free buffer');
    assert.equal(small.length, 5000);
    p.release(small);
    assert.equal(p.acquire('float32', 8000).buffer, big.buffer, 'released into the 8000 class');
    const other = p.acquire('float32', 3000);
    assert.notEqual(other.buffer, big.buffer);
    p.release(other);
    assert.notEqual(p.acquire('float32', 1400).buffer, other.buffer, 'never more than twice the size');
  });

  it('training steps on batches of varying length stop allocating once the longest was seen', () => {
    const model = new GPTModel(
      presetConfig('gpt2-small', { vocabSize: 300, contextLength: 64, embDim: 64, nHeads: 4, nLayers: 2 }),
      new Rng(2),
    );
    model.train();
    const opt = new AdamW(model.parameters(), { lr: 1e-3, weightDecay: 0.1 });
    const step = (T: number) =>
      tidy(() => {
        const ids = ops.fromArray(
          Array.from({ length: 4 * T }, (_, i) => (i * 13) % 300),
          [4, T],
          'int32',
        );
        opt.zeroGrad();
        backward(ops.crossEntropy(model.forward(ids), ids));
        opt.step();
      });
    step(60);
    step(60);
    const before = pool.stats.allocations;
    for (const T of [33, 59, 41, 50, 37, 60, 45, 55]) step(T);
    assert.equal(pool.stats.allocations - before, 0, 'shorter batches reuse the buffers of the longest');
  });
});
