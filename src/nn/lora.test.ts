// LoRA adapters (book appendix E): forward against a loop oracle, float64 gradients, the book's trainable
// counts, freezing, merging, and option errors. Runs on whichever backend is active.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as ops from '../ops/index.js';
import { gradcheck } from '../ops/gradcheck.js';
import { backward, noGrad } from '../tensor/autograd.js';
import { globalRng, Rng } from '../tensor/rng.js';
import type { Tensor } from '../tensor/tensor.js';
import { GPTModel } from '../models/gpt/gpt.js';
import { presetConfig, type GPTConfig } from '../models/gpt/config.js';
import { Linear, withoutInit } from './layers.js';
import { Module } from './module.js';
import { applyLoRA, LoRALayer, LoRALinear, loraParameters, mergeLoRA, type LoRAOptions } from './lora.js';

const rng = new Rng(42);
function r64(shape: number[]): Tensor {
  const t = ops.randn(shape, { dtype: 'float64', rng });
  t.requiresGrad = true;
  return t;
}

/** A float64 Linear(in, out) with random weight and bias, for gradient checks. */
function linear64(inF: number, outF: number): Linear {
  const lin = withoutInit(() => new Linear(inF, outF));
  lin.weight = r64([outF, inF]);
  lin.bias = r64([outF]);
  return lin;
}

/** y = x W^T + b + s (x A) B by plain loops, x (rows, in): the independent forward oracle. */
function loraOracle(x: Tensor, layer: LoRALinear): number[] {
  const [inF, outF, rank] = [layer.inFeatures, layer.outFeatures, layer.lora.rank];
  const [xv, W, b, A, B] = [x, layer.weight, layer.bias!, layer.lora.A, layer.lora.B].map((t) => t.toArray());
  const rows = xv.length / inF;
  const y: number[] = [];
  for (let i = 0; i < rows; i++) {
    const xA = new Array<number>(rank).fill(0);
    for (let k = 0; k < rank; k++) for (let j = 0; j < inF; j++) xA[k] += xv[i * inF + j] * A[j * rank + k];
    for (let o = 0; o < outF; o++) {
      let s = b[o];
      for (let j = 0; j < inF; j++) s += xv[i * inF + j] * W[o * inF + j];
      let u = 0;
      for (let k = 0; k < rank; k++) u += xA[k] * B[k * outF + o];
      y.push(s + layer.lora.scaling * u);
    }
  }
  return y;
}

function maxAbsDiff(a: number[], b: number[]): number {
  assert.equal(a.length, b.length);
  return a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);
}

/** The book's chapter-6 shape in miniature: a small GPT with a 2-class head (untied, no dropout). */
function smallClassifier(seed = 1, vocabSize = 50257): GPTModel {
  const cfg: GPTConfig = {
    vocabSize,
    contextLength: 64,
    embDim: 48,
    nHeads: 4,
    nLayers: 2,
    dropRate: 0,
    qkvBias: true,
    tiedHead: false,
  };
  const model = new GPTModel(cfg, new Rng(seed));
  model.out_head = new Linear(48, 2, { rng: new Rng(seed + 1) });
  return model;
}

const ids = ops.fromArray([5, 17, 300, 42, 9, 50000, 1, 2], [2, 4], 'int32');

describe('LoRALayer / LoRALinear', () => {
  it('forward equals x W^T + b + scaling (x A) B (both scalings) and a 1-d input works', () => {
    for (const scaling of ['alpha-over-rank', 'alpha'] as const) {
      const layer = new LoRALinear(linear64(5, 3), { rank: 2, alpha: 3, scaling, rng });
      layer.lora.B = r64([2, 3]);
      assert.equal(layer.lora.scaling, scaling === 'alpha' ? 3 : 1.5);
      const x = ops.randn([2, 3, 5], { dtype: 'float64', rng });
      const got = noGrad(() => layer.forward(x));
      assert.deepEqual(got.shape, [2, 3, 3]);
      assert.ok(maxAbsDiff(got.toArray(), loraOracle(x, layer)) < 1e-12, scaling);
      const v = ops.randn([5], { dtype: 'float64', rng });
      const y1 = noGrad(() => layer.forward(v));
      assert.deepEqual(y1.shape, [3]);
      assert.ok(maxAbsDiff(y1.toArray(), loraOracle(v, layer)) < 1e-12);
    }
  });

  it('gradients wrt x, A, B, W and b pass a float64 finite-difference check', () => {
    const layer = new LoRALinear(linear64(4, 3), { rank: 2, alpha: 5, rng });
    layer.lora.B = r64([2, 3]); // nonzero, so dA is not trivially zero
    assert.equal(layer.lora.A.dtype, 'float64', 'the adapter takes the wrapped weight dtype');
    const { A, B } = layer.lora;
    gradcheck((x) => layer.forward(x), [r64([2, 3, 4]), A, B, layer.weight, layer.bias!]);
    gradcheck((x) => layer.forward(x), [r64([4]), A, B]);
    const alone = new LoRALayer(4, 3, { rank: 3, alpha: 1, scaling: 'alpha', dtype: 'float64', rng });
    alone.B = r64([3, 3]);
    gradcheck((x) => alone.forward(x), [r64([3, 4]), alone.A, alone.B]);
  });

  it('at init B = 0, so the output is the wrapped Linear exactly; A is Uniform(+-1/sqrt(rank)) from rng', () => {
    const lin = new Linear(16, 8, { rng: new Rng(3) });
    const globalState = globalRng.getState();
    const layer = new LoRALinear(lin, { rank: 4, alpha: 8, rng: new Rng(9) });
    assert.deepEqual(globalRng.getState(), globalState, 'wrapping draws nothing from globalRng');
    assert.equal(layer.weight, lin.weight, 'the same weight tensor, not a copy');
    assert.equal(layer.bias, lin.bias);
    assert.deepEqual([layer.inFeatures, layer.outFeatures], [16, 8]);
    assert.deepEqual(
      layer.namedParameters().map(([n, p]) => [n, p.shape]),
      [
        ['weight', [8, 16]],
        ['bias', [8]],
        ['lora.A', [16, 4]],
        ['lora.B', [4, 8]],
      ],
    );
    assert.ok(layer.lora.B.toArray().every((v) => v === 0));
    const A = layer.lora.A.toArray();
    assert.ok(
      A.every((v) => Math.abs(v) <= 0.5),
      'within 1/sqrt(4)',
    );
    assert.ok(new Set(A).size > 60, 'not all equal');
    // Exactly the first 64 draws of the given rng: nothing else was drawn from it before A.
    const expected = ops.rand([16, 4], { low: -0.5, high: 0.5, rng: new Rng(9) }).toArray();
    assert.deepEqual(A, expected);
    const x = ops.randn([3, 16], { rng });
    const a = noGrad(() => lin.forward(x)).toArray();
    const b = noGrad(() => layer.forward(x)).toArray();
    assert.ok(
      a.every((v, i) => v === b[i]),
      'bit-identical',
    );
  });

  it('refuses to wrap a layer that already has an adapter', () => {
    const layer = new LoRALinear(new Linear(4, 4), { rank: 1, alpha: 1 });
    assert.throws(() => new LoRALinear(layer, { rank: 1, alpha: 1 }), /already has a LoRA adapter/);
  });
});

describe('applyLoRA / mergeLoRA', () => {
  it("the book's trainable counts: 7,112 on a small classifier, 2,666,528 on gpt2-small at rank 16", () => {
    const model = smallClassifier();
    const namesBefore = model.namedParameters().map(([n]) => n);
    const wrapped = applyLoRA(model, { rank: 4, alpha: 8 });
    assert.equal(wrapped.length, 2 * 6 + 1);
    // By hand: rank * (in + out) per Linear; per block 4 * 4 * (48 + 48) + 2 * 4 * (48 + 192), head 4 * (48 + 2).
    assert.equal(2 * (4 * 4 * 96 + 2 * 4 * 240) + 4 * 50, 7112);
    assert.equal(
      wrapped.reduce((s, l) => s + l.lora.rank * (l.inFeatures + l.outFeatures), 0),
      7112,
    );
    assert.equal(model.numParameters({ trainableOnly: true }), 7112);
    // The old names are all still there (a state dict still loads); the new ones are exactly the adapters.
    const namesAfter = model.namedParameters().map(([n]) => n);
    const added = namesAfter.filter((n) => !namesBefore.includes(n));
    assert.deepEqual(
      namesAfter.filter((n) => namesBefore.includes(n)),
      namesBefore,
    );
    assert.deepEqual(
      added,
      loraParameters(model).map(([n]) => n),
    );
    assert.equal(added.length, 26);
    assert.deepEqual(added.slice(0, 4), [
      'trf_blocks.0.att.W_query.lora.A',
      'trf_blocks.0.att.W_query.lora.B',
      'trf_blocks.0.att.W_key.lora.A',
      'trf_blocks.0.att.W_key.lora.B',
    ]);
    assert.deepEqual(added.slice(-2), ['out_head.lora.A', 'out_head.lora.B']);

    const big = withoutInit(() => {
      const m = new GPTModel(presetConfig('gpt2-small', { qkvBias: true, dropRate: 0 }));
      m.out_head = new Linear(768, 2);
      return m;
    });
    assert.equal(big.numParameters(), 124441346);
    applyLoRA(big, { rank: 16, alpha: 16 });
    assert.equal(big.numParameters({ trainableOnly: true }), 2666528);
  });

  it('wraps in module order (A drawn in that order from rng), every Linear once, shared ones once', () => {
    const model = smallClassifier();
    const wrapped = applyLoRA(model, { rank: 2, alpha: 4, rng: new Rng(5) });
    const [b0, b1] = model.trf_blocks;
    const order = [b0, b1].flatMap((b) => [
      b.att.W_query,
      b.att.W_key,
      b.att.W_value,
      b.att.out_proj,
      b.ff.layers[0],
      b.ff.layers[2],
    ]);
    assert.deepEqual(wrapped, [...order, model.out_head]);
    assert.ok(wrapped.every((l) => l instanceof LoRALinear));
    const stream = new Rng(5);
    for (const l of wrapped) {
      const b = 1 / Math.sqrt(2);
      const want = ops.rand(l.lora.A.shape, { low: -b, high: b, rng: stream }).toArray();
      assert.deepEqual(l.lora.A.toArray(), want);
    }

    class Shared extends Module {
      first: Linear;
      again: Linear;
      list: Module[];
      constructor() {
        super();
        this.first = new Linear(3, 3);
        this.again = this.first;
        this.list = [this.first, new Linear(3, 2)];
      }
    }
    const shared = new Shared();
    const w = applyLoRA(shared, { rank: 1, alpha: 1 });
    assert.equal(w.length, 2);
    assert.equal(shared.first, w[0]);
    assert.equal(shared.again, w[0]);
    assert.equal(shared.list[0], w[0]);
    assert.equal(shared.list[1], w[1]);
  });

  it('a tied head stays tied while wrapped', () => {
    const model = new GPTModel(
      {
        vocabSize: 64,
        contextLength: 8,
        embDim: 8,
        nHeads: 2,
        nLayers: 1,
        dropRate: 0,
        qkvBias: false,
        tiedHead: true,
      },
      new Rng(2),
    );
    applyLoRA(model, { rank: 2, alpha: 2 });
    assert.ok(model.out_head instanceof LoRALinear);
    assert.equal(model.out_head.weight, model.tok_emb.weight);
    assert.equal(model.tok_emb.weight.requiresGrad, false);
  });

  it('only A and B require grad; backward leaves .grad null on every frozen parameter', () => {
    const model = smallClassifier();
    applyLoRA(model, { rank: 4, alpha: 8, rng: new Rng(7) });
    for (const [name, p] of model.namedParameters()) {
      assert.equal(p.requiresGrad, /\.lora\.[AB]$/.test(name), name);
    }
    for (const [, B] of loraParameters(model).filter(([n]) => n.endsWith('.B'))) {
      B.data.set(ops.randn(B.shape, { std: 0.1, rng }).toArray());
    }
    const logits = model.forward(ids); // (2, 4, 2)
    const loss = ops.crossEntropy(ops.narrow(logits, 1, 3, 1), ops.fromArray([0, 1], [2, 1], 'int32'));
    backward(loss);
    for (const [name, p] of model.namedParameters()) {
      if (/\.lora\.[AB]$/.test(name)) {
        assert.ok(p.grad, `${name} has a gradient`);
        assert.ok(
          p.grad.toArray().some((v) => v !== 0),
          `${name} gradient is nonzero`,
        );
      } else assert.equal(p.grad, null, `${name} is frozen`);
    }
  });

  it('merging gives the same outputs and a model without adapters', () => {
    const plain = smallClassifier(11);
    const namesBefore = plain.namedParameters().map(([n]) => n);
    const paramsBefore = plain.numParameters();
    applyLoRA(plain, { rank: 4, alpha: 8, rng: new Rng(3) });
    const stream = new Rng(4);
    for (const [, B] of loraParameters(plain).filter(([n]) => n.endsWith('.B'))) {
      B.data.set(ops.randn(B.shape, { std: 0.1, rng: stream }).toArray());
    }
    plain.eval();
    const withLoRA = noGrad(() => plain.forward(ids)).toArray();
    const before = (plain.out_head as LoRALinear).merged();
    assert.equal(mergeLoRA(plain), 13);
    const merged = noGrad(() => plain.forward(ids)).toArray();
    const diff = maxAbsDiff(withLoRA, merged);
    assert.ok(diff < 1e-5, `max |diff| ${diff}`);
    const untouched = noGrad(() => smallClassifier(11).forward(ids)).toArray();
    assert.ok(maxAbsDiff(withLoRA, untouched) > 1e-3, 'the adapters changed the output');

    assert.equal(loraParameters(plain).length, 0);
    assert.deepEqual(
      plain.namedParameters().map(([n]) => n),
      namesBefore,
    );
    assert.equal(plain.numParameters(), paramsBefore);
    assert.ok(!(plain.out_head instanceof LoRALinear) && plain.out_head instanceof Linear);
    assert.equal(plain.out_head.training, false, 'keeps eval mode');
    assert.deepEqual(plain.out_head.weight.toArray(), before.weight.toArray());
    assert.deepEqual(plain.out_head.weight.shape, [2, 48]);
    assert.equal(plain.out_head.weight.requiresGrad, false, 'as the frozen W was');
    assert.equal(mergeLoRA(plain), 0);
  });

  it('merged() computes W + scaling (A B)^T in float64', () => {
    const layer = new LoRALinear(linear64(3, 2), { rank: 2, alpha: 6, scaling: 'alpha', rng });
    layer.lora.B = r64([2, 2]);
    const m = layer.merged();
    const [W, A, B] = [layer.weight, layer.lora.A, layer.lora.B].map((t) => t.toArray());
    const want = W.map((w, i) => {
      const [o, j] = [Math.floor(i / 3), i % 3];
      return w + 6 * (A[j * 2] * B[o] + A[j * 2 + 1] * B[2 + o]);
    });
    assert.ok(maxAbsDiff(m.weight.toArray(), want) < 1e-12);
    assert.equal(m.bias, layer.bias);
    assert.equal(m.weight.requiresGrad, true);
  });

  it('bad options and misuse throw errors that name the problem', () => {
    const lin = () => new Linear(4, 4);
    const cases: Array<[Partial<LoRAOptions>, RegExp]> = [
      [{ rank: 0 }, /LoRA rank must be a positive integer, got 0/],
      [{ rank: 1.5 }, /LoRA rank must be a positive integer, got 1.5/],
      [{ rank: -2 }, /LoRA rank must be a positive integer, got -2/],
      [{ rank: NaN }, /LoRA rank must be a positive integer, got NaN/],
      [{ alpha: 0 }, /LoRA alpha must be a finite number > 0, got 0/],
      [{ alpha: -1 }, /LoRA alpha must be a finite number > 0, got -1/],
      [{ alpha: Infinity }, /LoRA alpha must be a finite number > 0, got Infinity/],
      [
        { scaling: 'rank' as LoRAOptions['scaling'] },
        /LoRA scaling must be 'alpha-over-rank' or 'alpha', got rank/,
      ],
    ];
    for (const [bad, message] of cases) {
      const opts = { rank: 2, alpha: 4, ...bad } as LoRAOptions;
      assert.throws(() => new LoRALinear(lin(), opts), message);
      assert.throws(() => new LoRALayer(4, 4, opts), message);
      const model = smallClassifier(1, 64);
      assert.throws(() => applyLoRA(model, opts), message);
      assert.ok(!(model.out_head instanceof LoRALinear), 'the model is left unchanged');
      assert.ok(model.parameters().every((p) => p.requiresGrad));
    }
    const model = smallClassifier(1, 64);
    applyLoRA(model, { rank: 1, alpha: 1 });
    assert.throws(
      () => applyLoRA(model, { rank: 1, alpha: 1 }),
      /already has LoRA adapters; merge them first/,
    );
    assert.throws(() => applyLoRA(lin(), { rank: 1, alpha: 1 }), /root is itself a Linear/);
    assert.throws(() => mergeLoRA(model.out_head), /root is itself a LoRALinear/);
  });
});
