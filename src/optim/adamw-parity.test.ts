// AdamW parity with torch.optim.AdamW on the gpt2-tiny fixture: the loss after one step and the losses of
// ten steps on one batch (as llm.c's test_gpt2 checks its trainer), plus schedule and clipping unit checks.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import * as ops from '../ops/index.js';
import { backward } from '../tensor/autograd.js';
import { tidy } from '../tensor/tensor.js';
import { availableBackends, setBackend } from '../backend/index.js';
import { loadGPT2 } from '../models/gpt/gpt2-weights.js';
import { AdamW, clipGradNorm, lrAt, SGD } from './index.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const fixtureDir = join(root, 'test', 'fixtures', 'gpt2-tiny');
const expected = JSON.parse(readFileSync(join(fixtureDir, 'expected.json'), 'utf8')) as {
  batch: { inputs: number[][]; targets: number[][] };
  adamw: {
    lr: number;
    weight_decay: number;
    betas: [number, number];
    eps: number;
    loss_after_one_step: number;
    losses_10_steps: number[];
  };
};

for (const backendName of availableBackends()) {
  describe(`AdamW on gpt2-tiny matches PyTorch (${backendName})`, () => {
    it('ten steps give the reference losses (rel err <= 1e-4)', async () => {
      setBackend(backendName);
      const model = (await loadGPT2(join(fixtureDir, 'model'))).train();
      const a = expected.adamw;
      const opt = new AdamW(model.parameters(), {
        lr: a.lr,
        weightDecay: a.weight_decay,
        betas: a.betas,
        eps: a.eps,
      });
      const inputs = ops.fromArray(expected.batch.inputs.flat(), [2, 32], 'int32');
      const targets = ops.fromArray(expected.batch.targets.flat(), [2, 32], 'int32');
      const losses: number[] = [];
      for (let step = 0; step < 10; step++) {
        losses.push(
          tidy(() => {
            opt.zeroGrad();
            const loss = ops.crossEntropy(model.forward(inputs), targets);
            backward(loss);
            opt.step();
            return loss.item();
          }),
        );
      }
      assert.ok(
        Math.abs(losses[1] - a.loss_after_one_step) / a.loss_after_one_step <= 1e-5,
        `after one step ${losses[1]}`,
      );
      losses.forEach((l, i) => {
        const want = a.losses_10_steps[i];
        assert.ok(Math.abs(l - want) / want <= 1e-4, `step ${i}: loss ${l} vs ${want}`);
      });
    });
  });
}

describe('schedules and clipping', () => {
  it('warmup then cosine decay, as appendix D', () => {
    const o = { peakLr: 0.01, initialLr: 0.0001, warmupSteps: 10, totalSteps: 110, minLr: 0.001 };
    assert.equal(lrAt(0, o), 0.0001);
    assert.ok(Math.abs(lrAt(5, o) - (0.0001 + 0.00099 * 5)) < 1e-12);
    assert.ok(Math.abs(lrAt(10, o) - 0.01) < 1e-12);
    assert.ok(Math.abs(lrAt(60, o) - (0.001 + 0.009 * 0.5)) < 1e-12);
    assert.ok(Math.abs(lrAt(110, o) - 0.001) < 1e-12);
  });
  it('clipGradNorm scales to the max norm and returns the prior norm', () => {
    const p = ops.fromArray([3, 4], [2]);
    p.requiresGrad = true;
    p.grad = ops.fromArray([3, 4], [2]);
    const norm = clipGradNorm([p], 1);
    assert.equal(norm, 5);
    const g = p.grad.toArray();
    assert.ok(Math.abs(Math.hypot(g[0], g[1]) - 1) < 1e-5);
  });
  it('SGD with momentum follows torch.optim.SGD', () => {
    const p = ops.fromArray([1], [1], 'float64');
    p.requiresGrad = true;
    const opt = new SGD([p], { lr: 0.1, momentum: 0.9 });
    p.grad = ops.fromArray([1], [1], 'float64');
    opt.step(); // buf = 1, p = 0.9
    opt.step(); // buf = 0.9 + 1 = 1.9, p = 0.9 - 0.19
    assert.ok(Math.abs(p.item() - 0.71) < 1e-12);
  });
});
