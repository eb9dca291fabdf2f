// Edge cases and bad input for the ops, on every backend: large magnitudes, ignored targets, zero-size
// dimensions, and clear errors (naming the op and the shapes) for shape, index and dtype mistakes.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { availableBackends, setBackend } from '../backend/index.js';
import { backward } from '../tensor/autograd.js';
import * as ops from './index.js';

for (const name of availableBackends()) {
  describe(`op edge cases (${name} backend)`, () => {
    it('softmax is stable at +-1000 and fully masked rows give zeros, not NaN', () => {
      setBackend(name);
      const p = ops
        .softmax(
          ops.tensor([
            [1000, -1000, 1000],
            [-Infinity, -Infinity, -Infinity],
          ]),
        )
        .toArray();
      const want = [0.5, 0, 0.5, 0, 0, 0];
      p.forEach((v, i) => assert.ok(Math.abs(v - want[i]) < 1e-7, `${i}: ${v}`));
    });

    it('cross-entropy is stable at +-1000 and skips ignored targets in the mean', () => {
      setBackend(name);
      const logits = ops.tensor([
        [1000, -1000, 0],
        [-1000, 1000, 0],
        [5, 5, 5],
      ]);
      logits.requiresGrad = true;
      const targets = ops.fromArray([0, 0, -100], [3], 'int32');
      const loss = ops.crossEntropy(logits, targets);
      // row 0: 0; row 1: 2000; row 2 ignored -> mean over 2 rows
      assert.ok(Math.abs(loss.item() - 1000) < 1e-3, `loss ${loss.item()}`);
      backward(loss);
      const g = logits.grad!.toArray();
      assert.deepEqual(g.slice(6), [0, 0, 0], 'ignored row has no gradient');
      assert.ok(Math.abs(g[3] + 0.5) < 1e-6 && Math.abs(g[4] - 0.5) < 1e-6, `row 1 grad ${g.slice(3, 6)}`);
      const all = ops.crossEntropy(ops.tensor([[1, 2]]), ops.fromArray([-100], [1], 'int32'));
      assert.ok(Number.isNaN(all.item()), 'all targets ignored gives NaN under mean, as PyTorch');
    });

    it('zero-size dimensions work through matmul, sum, softmax, layerNorm and concat', () => {
      setBackend(name);
      assert.deepEqual(ops.matmul(ops.zeros([0, 3]), ops.zeros([3, 4])).shape, [0, 4]);
      assert.deepEqual(ops.matmul(ops.ones([2, 0]), ops.ones([0, 3])).toArray(), [0, 0, 0, 0, 0, 0]);
      assert.deepEqual(ops.sum(ops.zeros([2, 0]), 1).toArray(), [0, 0]);
      assert.deepEqual(ops.softmax(ops.zeros([0, 5])).shape, [0, 5]);
      assert.deepEqual(ops.layerNorm(ops.zeros([0, 4]), ops.ones([4]), ops.zeros([4])).shape, [0, 4]);
      assert.deepEqual(ops.concat([ops.zeros([2, 0]), ops.ones([2, 1])], 1).toArray(), [1, 1]);
      assert.deepEqual(ops.linear(ops.zeros([0, 3]), ops.ones([2, 3]), ops.ones([2])).shape, [0, 2]);
    });
  });
}

describe('bad input gives errors that name the op and the shapes', () => {
  const cases: Array<[string, () => unknown, RegExp]> = [
    [
      'matmul inner dims',
      () => ops.matmul(ops.zeros([2, 3]), ops.zeros([4, 5])),
      /matmul: inner dimensions differ: \[2, 3\] @ \[4, 5\]/,
    ],
    [
      'matmul rank',
      () => ops.matmul(ops.zeros([3]), ops.zeros([3, 2])),
      /matmul: operands must be at least 2-d/,
    ],
    [
      'broadcast',
      () => ops.add(ops.zeros([2, 3]), ops.zeros([4])),
      /add: shapes \[2, 3\] and \[4\] cannot be broadcast/,
    ],
    ['reshape', () => ops.reshape(ops.zeros([2, 3]), [4, 2]), /reshape: cannot reshape \[2, 3\]/],
    ['axis', () => ops.sum(ops.zeros([2, 3]), 2), /sum: axis 2 out of range for a 2-d tensor/],
    [
      'narrow',
      () => ops.narrow(ops.zeros([2, 3]), 1, 2, 2),
      /narrow: range \[2, 4\) out of bounds for axis 1 of \[2, 3\]/,
    ],
    [
      'embedding index',
      () => ops.embedding(ops.zeros([5, 2]), ops.fromArray([1, 7], [2], 'int32')),
      /embedding: index 7 at position 1 is out of range \[0, 5\)/,
    ],
    [
      'embedding dtype',
      () => ops.embedding(ops.zeros([5, 2]), ops.zeros([2])),
      /embedding: indices must be int32, got float32 \[2\]/,
    ],
    [
      'cross-entropy target',
      () => ops.crossEntropy(ops.zeros([2, 3]), ops.fromArray([0, 3], [2], 'int32')),
      /crossEntropy: target 3 at position 1 is out of range \[0, 3\)/,
    ],
    [
      'cross-entropy shapes',
      () => ops.crossEntropy(ops.zeros([2, 3]), ops.fromArray([0, 1, 2], [3], 'int32')),
      /crossEntropy: logits \[2, 3\] do not match targets \[3\]/,
    ],
    [
      'float op on int32',
      () => ops.exp(ops.fromArray([1], [1], 'int32')),
      /exp: expected a float tensor, got int32 \[1\]/,
    ],
    [
      'dtype mix',
      () => ops.add(ops.zeros([2]), ops.zeros([2], 'float64')),
      /add: dtype mismatch float32 \[2\] vs float64 \[2\]/,
    ],
    [
      'layerNorm params',
      () => ops.layerNorm(ops.zeros([2, 4]), ops.ones([3]), ops.zeros([3])),
      /layerNorm: weight \[3\] and bias \[3\] must have the last dim of the input \[2, 4\]/,
    ],
    [
      'linear',
      () => ops.linear(ops.zeros([2, 4]), ops.zeros([3, 5])),
      /linear: input \[2, 4\], weight \[3, 5\] do not fit/,
    ],
    [
      'attention',
      () => ops.causalAttention(ops.zeros([1, 2, 3, 4]), ops.zeros([1, 2, 2, 4]), ops.zeros([1, 2, 2, 4])),
      /causalAttention: incompatible shapes/,
    ],
    ['topk', () => ops.topk(ops.zeros([2, 3]), 4), /topk: k=4 out of range for last dim 3 of \[2, 3\]/],
    [
      'multinomial',
      () => ops.multinomial(ops.tensor([[0.5, -1]])),
      /multinomial: invalid probability -1 at row 0, index 1/,
    ],
    [
      'dropout p',
      () => ops.dropout(ops.zeros([2]), 1.5, true),
      /dropout: probability must be in \[0, 1\], got 1.5/,
    ],
    [
      'backward non-scalar',
      () => backward(Object.assign(ops.zeros([2]), { requiresGrad: true })),
      /gradient can only be implied for a scalar/,
    ],
  ];
  for (const [what, fn, re] of cases) it(what, () => assert.throws(fn, re));
});

describe('selection ops', () => {
  it('topk, argmax and multinomial', () => {
    const x = ops.tensor([
      [1, 5, 3, 5],
      [0, -1, 2, 1],
    ]);
    const { values, indices } = ops.topk(x, 2);
    assert.deepEqual(values.toArray(), [5, 5, 2, 1]);
    assert.deepEqual(indices.toArray(), [1, 3, 2, 3]);
    assert.deepEqual(ops.argmax(x, -1).toArray(), [1, 2]);
    const s = ops.multinomial(
      ops.tensor([
        [0, 0, 1],
        [1, 0, 0],
      ]),
    );
    assert.deepEqual(s.toArray(), [2, 0]);
  });
});
