// The basic layers with PyTorch's default initialisations, so the book's runs behave the same:
// Linear (uniform +-1/sqrt(fan_in)), Embedding (N(0, 1)), the book's LayerNorm (scale/shift), Dropout, GELU.
import * as ops from '../ops/index.js';
import { globalRng, type Rng } from '../tensor/rng.js';
import type { Tensor } from '../tensor/tensor.js';
import { empty } from '../tensor/tensor.js';
import { Module, parameter } from './module.js';
import { packedEmbedding } from '../ops/linear.js';

let initialise = true;

/**
 * Build modules whose weights will be overwritten at once (loading a checkpoint): parameters are
 * allocated but not filled with random numbers, which for gpt2-xl saves drawing 1.5 billion of them.
 */
export function withoutInit<T>(build: () => T): T {
  const prev = initialise;
  initialise = false;
  try {
    return build();
  } finally {
    initialise = prev;
  }
}

/** Uniform(low, high) samples, or uninitialised memory inside withoutInit(). */
function uniformParam(shape: number[], low: number, high: number, rng: Rng) {
  return parameter(initialise ? ops.rand(shape, { low, high, rng }) : empty(shape));
}

export class Linear extends Module {
  /** (out, in), as torch.nn.Linear stores it. */
  weight: Tensor;
  bias: Tensor | null;

  constructor(
    readonly inFeatures: number,
    readonly outFeatures: number,
    { bias = true, rng = globalRng }: { bias?: boolean; rng?: Rng } = {},
  ) {
    super();
    const bound = 1 / Math.sqrt(inFeatures);
    this.weight = uniformParam([outFeatures, inFeatures], -bound, bound, rng);
    this.bias = bias ? uniformParam([outFeatures], -bound, bound, rng) : null;
  }

  /** x (..., in) -> (..., out) = x @ W^T + b; a bf16 / int8 weight (inference) takes the packed kernel. */
  forward(x: Tensor): Tensor {
    return ops.linear(x, this.weight, this.bias);
  }
}

export class Embedding extends Module {
  /** (num, dim) */
  weight: Tensor;

  constructor(
    readonly num: number,
    readonly dim: number,
    { rng = globalRng }: { rng?: Rng } = {},
  ) {
    super();
    this.weight = parameter(initialise ? ops.randn([num, dim], { rng }) : empty([num, dim]));
  }

  /** ids (...) int32 -> (..., dim); a bf16 / int8 weight (inference storage) is dequantized per row. */
  forward(ids: Tensor): Tensor {
    return this.weight.packed ? packedEmbedding(this.weight, ids) : ops.embedding(this.weight, ids);
  }
}

/** The book's LayerNorm: biased variance, eps 1e-5, parameters named scale and shift. */
export class LayerNorm extends Module {
  scale: Tensor;
  shift: Tensor;

  constructor(
    readonly dim: number,
    readonly eps = 1e-5,
  ) {
    super();
    this.scale = parameter(ops.ones([dim]));
    this.shift = parameter(ops.zeros([dim]));
  }

  forward(x: Tensor): Tensor {
    return ops.layerNorm(x, this.scale, this.shift, this.eps);
  }
}

export class Dropout extends Module {
  constructor(
    readonly p: number,
    readonly rng: Rng = globalRng,
  ) {
    super();
  }

  forward(x: Tensor): Tensor {
    return ops.dropout(x, this.p, this.training, this.rng);
  }
}

export class GELU extends Module {
  forward(x: Tensor): Tensor {
    return ops.gelu(x);
  }
}
