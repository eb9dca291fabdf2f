// Finite-difference gradient checks (float64, js backend) for every differentiable op.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { backward, detach, noGrad } from '../tensor/autograd.js';
import { Rng } from '../tensor/rng.js';
import { dropoutRowBase, dropoutUniform } from '../backend/backend.js';
import type { Tensor } from '../tensor/tensor.js';
import { gradcheck } from './gradcheck.js';
import * as ops from './index.js';

const rng = new Rng(42);
function r(shape: number[], scale = 1): Tensor {
  const t = ops.randn(shape, { dtype: 'float64', rng, std: scale });
  t.requiresGrad = true;
  return t;
}
function pos(shape: number[]): Tensor {
  const t = ops.rand(shape, { dtype: 'float64', rng, low: 0.5, high: 2 });
  t.requiresGrad = true;
  return t;
}
function ids(values: number[], shape = [values.length]): Tensor {
  return ops.fromArray(values, shape, 'int32');
}

const cases: Array<[string, () => void]> = [
  ['add (broadcast)', () => gradcheck(ops.add, [r([2, 3, 4]), r([3, 1])])],
  ['sub (broadcast)', () => gradcheck(ops.sub, [r([4]), r([2, 3, 4])])],
  ['mul (broadcast)', () => gradcheck(ops.mul, [r([2, 1, 4]), r([3, 4])])],
  ['div (broadcast)', () => gradcheck(ops.div, [r([2, 3]), pos([3])])],
  ['scalar ops', () => gradcheck((x) => ops.div(ops.sub(ops.mul(ops.add(x, 2), 3), 1), 4), [r([5])])],
  ['neg', () => gradcheck(ops.neg, [r([3, 2])])],
  ['exp', () => gradcheck(ops.exp, [r([3, 2])])],
  ['log', () => gradcheck(ops.log, [pos([3, 2])])],
  ['sqrt', () => gradcheck(ops.sqrt, [pos([3, 2])])],
  ['tanh', () => gradcheck(ops.tanh, [r([3, 2])])],
  ['pow', () => gradcheck((x) => ops.pow(x, 3), [r([4])])],
  ['pow fractional', () => gradcheck((x) => ops.pow(x, 0.5), [pos([4])])],
  ['sum all', () => gradcheck((x) => ops.sum(x), [r([2, 3])])],
  ['sum axis keepdim', () => gradcheck((x) => ops.sum(x, 1, { keepdim: true }), [r([2, 3, 4])])],
  ['mean axis', () => gradcheck((x) => ops.mean(x, -1), [r([2, 3, 4])])],
  ['var unbiased', () => gradcheck((x) => ops.variance(x, -1), [r([3, 5])])],
  [
    'var biased keepdim',
    () => gradcheck((x) => ops.variance(x, 0, { keepdim: true, correction: 0 }), [r([4, 3])]),
  ],
  ['max axis', () => gradcheck((x) => ops.max(x, 1).values, [r([3, 5])])],
  ['matmul 2d', () => gradcheck(ops.matmul, [r([3, 4]), r([4, 5])])],
  ['matmul batched broadcast', () => gradcheck(ops.matmul, [r([2, 3, 4]), r([4, 2])])],
  ['matmul batch broadcast both', () => gradcheck(ops.matmul, [r([2, 1, 3, 4]), r([3, 4, 2])])],
  [
    'matmul transposed operands',
    () => gradcheck((a, b) => ops.matmul(ops.transpose(a), ops.transpose(b)), [r([4, 3]), r([5, 4])]),
  ],
  ['linear with bias', () => gradcheck((x, w, b) => ops.linear(x, w, b), [r([2, 3, 4]), r([5, 4]), r([5])])],
  ['linear without bias', () => gradcheck((x, w) => ops.linear(x, w), [r([3, 4]), r([2, 4])])],
  [
    'linear on a non-leaf weight',
    () => gradcheck((x, w) => ops.linear(x, ops.mul(w, 2)), [r([3, 4]), r([2, 4])]),
  ],
  ['softmax last', () => gradcheck((x) => ops.softmax(x), [r([3, 5])])],
  ['softmax axis 0', () => gradcheck((x) => ops.softmax(x, 0), [r([3, 5])])],
  ['logSoftmax', () => gradcheck((x) => ops.logSoftmax(x, -1), [r([3, 5])])],
  ['layerNorm', () => gradcheck((x, w, b) => ops.layerNorm(x, w, b), [r([2, 3, 6]), r([6]), r([6])])],
  ['gelu', () => gradcheck(ops.gelu, [r([4, 5], 2)])],
  [
    'embedding (repeated ids)',
    () => gradcheck((w) => ops.embedding(w, ids([1, 3, 1, 0], [2, 2])), [r([5, 3])]),
  ],
  [
    'crossEntropy mean with ignoreIndex',
    () => gradcheck((x) => ops.crossEntropy(x, ids([1, -100, 4, 0], [2, 2])), [r([2, 2, 5])]),
  ],
  [
    'crossEntropy sum',
    () => gradcheck((x) => ops.crossEntropy(x, ids([2, 1]), { reduction: 'sum' }), [r([2, 4])]),
  ],
  [
    'crossEntropy none',
    () => gradcheck((x) => ops.crossEntropy(x, ids([2, 1, 0]), { reduction: 'none' }), [r([3, 4])]),
  ],
  ['dropout (fixed mask)', () => gradcheck((x) => ops.dropout(x, 0.5, true, new Rng(7)), [r([4, 6])])],
  ['maskedFill causal', () => gradcheck((x) => ops.maskedFill(x, ops.causalMask(4), -5), [r([2, 4, 4])])],
  ['where', () => gradcheck((a, b) => ops.where(ids([1, 0, 1], [3]), a, b), [r([2, 3]), r([3])])],
  ['concat', () => gradcheck((a, b) => ops.concat([a, b], 1), [r([2, 3]), r([2, 2])])],
  ['split', () => gradcheck((x) => ops.mul(ops.split(x, [1, 3], 1)[1], 2), [r([2, 4])])],
  ['indexSelect', () => gradcheck((x) => ops.indexSelect(x, 0, ids([2, 0, 2])), [r([3, 2])])],
  [
    'reshape/permute/contiguous',
    () => gradcheck((x) => ops.contiguous(ops.permute(ops.reshape(x, [2, 3, 2]), [2, 0, 1])), [r([3, 4])]),
  ],
  ['slice/narrow', () => gradcheck((x) => ops.slice(x, -1, 1, -1), [r([2, 5])])],
  ['expand', () => gradcheck((x) => ops.expand(x, [3, 2, 4]), [r([2, 1])])],
  ['unsqueeze/squeeze', () => gradcheck((x) => ops.squeeze(ops.unsqueeze(x, 1), 1), [r([2, 3])])],
  [
    'causalAttention fused',
    () =>
      gradcheck(
        (q, k, v) => ops.causalAttention(q, k, v),
        [r([1, 2, 4, 3]), r([1, 2, 4, 3]), r([1, 2, 4, 3])],
      ),
  ],
  [
    'causalAttention with fused dropout (fixed seed)',
    () =>
      gradcheck(
        (q, k, v) => ops.causalAttention(q, k, v, { dropoutP: 0.3, rng: new Rng(11) }),
        [r([1, 2, 5, 3]), r([1, 2, 5, 3]), r([1, 2, 5, 3])],
      ),
  ],
  [
    'causalAttention KV-cache shape (Tq < Tk)',
    () =>
      gradcheck(
        (q, k, v) => ops.causalAttention(q, k, v),
        [r([2, 1, 2, 3]), r([2, 1, 5, 3]), r([2, 1, 5, 3])],
      ),
  ],
];

describe('finite-difference gradient checks (float64)', () => {
  for (const [name, run] of cases) it(name, run);
});

describe('fused attention dropout', () => {
  it('equals explicit weights times the hashed keep mask / (1 - p)', () => {
    const [H, T, D] = [2, 6, 3];
    const q = r([1, H, T, D]);
    const k = r([1, H, T, D]);
    const v = r([1, H, T, D]);
    const p = 0.4;
    const seed = new Rng(21).nextUint32();
    const fused = ops.causalAttention(q, k, v, { dropoutP: p, rng: new Rng(21) }).toArray();
    const weights = ops.softmax(
      ops.maskedFill(
        ops.mul(ops.matmul(q, ops.transpose(k)), 1 / Math.sqrt(D)),
        ops.causalMask(T),
        -Infinity,
      ),
    );
    const z = ops.zeros([1, H, T, T], 'float64');
    let kept = 0;
    for (let h = 0; h < H; h++)
      for (let i = 0; i < T; i++) {
        const base = dropoutRowBase(seed, h, i);
        for (let j = 0; j <= i; j++) {
          const keep = dropoutUniform(base, j) >= p;
          kept += keep ? 1 : 0;
          z.data[(h * T + i) * T + j] = keep ? 1 / (1 - p) : 0;
        }
      }
    assert.ok(kept > 0 && kept < (H * T * (T + 1)) / 2, 'some weights dropped, some kept');
    const explicit = ops.matmul(ops.mul(weights, z), v).toArray();
    fused.forEach((f, i) =>
      assert.ok(Math.abs(f - explicit[i]) < 1e-12, `element ${i}: ${f} vs ${explicit[i]}`),
    );
  });

  it('keeps a fraction 1 - p of the weights', () => {
    let kept = 0;
    const n = 200_000;
    for (let j = 0; j < n; j++) kept += dropoutUniform(dropoutRowBase(7, j % 13, j >> 4), j) >= 0.1 ? 1 : 0;
    assert.ok(Math.abs(kept / n - 0.9) < 0.005, `kept ${kept / n}`);
  });
});

describe('gradient semantics', () => {
  it('accumulates across backward calls and detaches', () => {
    const x = r([3]);
    for (let i = 0; i < 2; i++) backward(ops.sum(ops.mul(x, 2)));
    assert.deepEqual(x.grad!.toArray(), [4, 4, 4]);
    const y = detach(ops.mul(x, 3));
    assert.equal(y.requiresGrad, false);
    const z = noGrad(() => ops.mul(x, 3));
    assert.equal(z.requiresGrad, false);
  });
  it('fused attention equals the readable mask + softmax composition', () => {
    const q = r([1, 2, 5, 3]);
    const k = r([1, 2, 5, 3]);
    const v = r([1, 2, 5, 3]);
    const fused = ops.causalAttention(q, k, v).toArray();
    const scores = ops.mul(ops.matmul(q, ops.transpose(k)), 1 / Math.sqrt(3));
    const masked = ops.maskedFill(scores, ops.causalMask(5), -Infinity);
    const readable = ops.matmul(ops.softmax(masked), v).toArray();
    fused.forEach((f, i) =>
      assert.ok(Math.abs(f - readable[i]) < 1e-12, `element ${i}: ${f} vs ${readable[i]}`),
    );
  });
});
