// The book's chapter-3 attention mechanisms, written to be read: each step is one op, shapes in comments.
// GPTModel does not use these; it uses FastMultiHeadAttention (gpt.ts), which is checked against them.
import * as ops from '../../ops/index.js';
import { Module, parameter } from '../../nn/module.js';
import { Dropout, Linear } from '../../nn/layers.js';
import { globalRng, type Rng } from '../../tensor/rng.js';
import type { Tensor } from '../../tensor/tensor.js';

/** Simplified self-attention without trainable weights (book section 3.3): inputs (T, d) -> (T, d). */
export function simplifiedSelfAttention(inputs: Tensor): Tensor {
  const scores = ops.matmul(inputs, ops.transpose(inputs)); // (T, T) dot products
  const weights = ops.softmax(scores, -1); // each row sums to 1
  return ops.matmul(weights, inputs); // (T, d) context vectors
}

/** Self-attention with trainable weight matrices (book 3.4.2): (T, dIn) -> (T, dOut). */
export class SelfAttentionV1 extends Module {
  W_query: Tensor; // (dIn, dOut)
  W_key: Tensor;
  W_value: Tensor;

  constructor(dIn: number, dOut: number, rng: Rng = globalRng) {
    super();
    // torch.rand: uniform [0, 1), as the book's nn.Parameter(torch.rand(d_in, d_out))
    this.W_query = parameter(ops.rand([dIn, dOut], { rng }));
    this.W_key = parameter(ops.rand([dIn, dOut], { rng }));
    this.W_value = parameter(ops.rand([dIn, dOut], { rng }));
  }

  forward(x: Tensor): Tensor {
    const keys = ops.matmul(x, this.W_key);
    const queries = ops.matmul(x, this.W_query);
    const values = ops.matmul(x, this.W_value);
    const scores = ops.matmul(queries, ops.transpose(keys)); // (T, T)
    const weights = ops.softmax(ops.div(scores, Math.sqrt(keys.shape[keys.ndim - 1])), -1);
    return ops.matmul(weights, values);
  }
}

/** Self-attention with Linear layers (book 3.4.2, V2): (T, dIn) -> (T, dOut). */
export class SelfAttentionV2 extends Module {
  W_query: Linear;
  W_key: Linear;
  W_value: Linear;

  constructor(
    dIn: number,
    dOut: number,
    { qkvBias = false, rng = globalRng }: { qkvBias?: boolean; rng?: Rng } = {},
  ) {
    super();
    this.W_query = new Linear(dIn, dOut, { bias: qkvBias, rng });
    this.W_key = new Linear(dIn, dOut, { bias: qkvBias, rng });
    this.W_value = new Linear(dIn, dOut, { bias: qkvBias, rng });
  }

  forward(x: Tensor): Tensor {
    const keys = this.W_key.forward(x);
    const queries = this.W_query.forward(x);
    const values = this.W_value.forward(x);
    const scores = ops.matmul(queries, ops.transpose(keys));
    const weights = ops.softmax(ops.div(scores, Math.sqrt(keys.shape[keys.ndim - 1])), -1);
    return ops.matmul(weights, values);
  }
}

/** Causal (masked) attention with dropout on the weights (book 3.5): (B, T, dIn) -> (B, T, dOut). */
export class CausalAttention extends Module {
  W_query: Linear;
  W_key: Linear;
  W_value: Linear;
  dropout: Dropout;

  constructor(
    dIn: number,
    dOut: number,
    readonly contextLength: number,
    dropRate: number,
    { qkvBias = false, rng = globalRng }: { qkvBias?: boolean; rng?: Rng } = {},
  ) {
    super();
    this.W_query = new Linear(dIn, dOut, { bias: qkvBias, rng });
    this.W_key = new Linear(dIn, dOut, { bias: qkvBias, rng });
    this.W_value = new Linear(dIn, dOut, { bias: qkvBias, rng });
    this.dropout = new Dropout(dropRate, rng);
  }

  forward(x: Tensor): Tensor {
    const T = x.shape[1];
    const keys = this.W_key.forward(x); // (B, T, dOut)
    const queries = this.W_query.forward(x);
    const values = this.W_value.forward(x);
    const scores = ops.matmul(queries, ops.transpose(keys, 1, 2)); // (B, T, T)
    const masked = ops.maskedFill(scores, ops.causalMask(T), -Infinity); // future positions -> -inf
    let weights = ops.softmax(ops.div(masked, Math.sqrt(keys.shape[2])), -1);
    weights = this.dropout.forward(weights);
    return ops.matmul(weights, values); // (B, T, dOut)
  }
}

/** Several CausalAttention heads side by side, outputs concatenated (book 3.6.1). */
export class MultiHeadAttentionWrapper extends Module {
  heads: CausalAttention[];

  constructor(
    dIn: number,
    dOut: number,
    contextLength: number,
    dropRate: number,
    numHeads: number,
    opts: { qkvBias?: boolean; rng?: Rng } = {},
  ) {
    super();
    this.heads = Array.from(
      { length: numHeads },
      () => new CausalAttention(dIn, dOut, contextLength, dropRate, opts),
    );
  }

  forward(x: Tensor): Tensor {
    return ops.concat(
      this.heads.map((h) => h.forward(x)),
      -1,
    ); // (B, T, numHeads * dOut)
  }
}

/** Multi-head attention with weight splits and an output projection (book 3.6.2). */
export class MultiHeadAttention extends Module {
  W_query: Linear;
  W_key: Linear;
  W_value: Linear;
  out_proj: Linear;
  dropout: Dropout;
  readonly headDim: number;

  constructor(
    readonly dIn: number,
    readonly dOut: number,
    readonly contextLength: number,
    dropRate: number,
    readonly numHeads: number,
    { qkvBias = false, rng = globalRng }: { qkvBias?: boolean; rng?: Rng } = {},
  ) {
    super();
    if (dOut % numHeads !== 0)
      throw new Error(`MultiHeadAttention: dOut ${dOut} must be divisible by numHeads ${numHeads}`);
    this.headDim = dOut / numHeads;
    this.W_query = new Linear(dIn, dOut, { bias: qkvBias, rng });
    this.W_key = new Linear(dIn, dOut, { bias: qkvBias, rng });
    this.W_value = new Linear(dIn, dOut, { bias: qkvBias, rng });
    this.out_proj = new Linear(dOut, dOut, { rng });
    this.dropout = new Dropout(dropRate, rng);
  }

  /** Split (B, T, dOut) into heads: (B, H, T, D). */
  protected splitHeads(x: Tensor): Tensor {
    const [B, T] = x.shape;
    return ops.transpose(ops.reshape(x, [B, T, this.numHeads, this.headDim]), 1, 2);
  }

  forward(x: Tensor): Tensor {
    const [B, T] = x.shape;
    const keys = this.splitHeads(this.W_key.forward(x)); // (B, H, T, D)
    const queries = this.splitHeads(this.W_query.forward(x));
    const values = this.splitHeads(this.W_value.forward(x));
    const scores = ops.matmul(queries, ops.transpose(keys, 2, 3)); // (B, H, T, T)
    const masked = ops.maskedFill(scores, ops.causalMask(T), -Infinity);
    let weights = ops.softmax(ops.div(masked, Math.sqrt(this.headDim)), -1);
    weights = this.dropout.forward(weights);
    const context = ops.transpose(ops.matmul(weights, values), 1, 2); // (B, T, H, D)
    return this.out_proj.forward(ops.reshape(context, [B, T, this.dOut]));
  }
}
