// The GPT-2 model of the book's chapter 4 (GPTModel, TransformerBlock, FeedForward), with parameter
// names as the book's code has them. Attention runs fused (scores, mask, softmax, weighted sum in one
// kernel, attention-weight dropout included, its mask regenerated in backward from a seeded hash).
import * as ops from '../../ops/index.js';
import { Module, parameter } from '../../nn/module.js';
import { Dropout, Embedding, GELU, LayerNorm, Linear } from '../../nn/layers.js';
import { globalRng, type Rng } from '../../tensor/rng.js';
import { empty, type Tensor } from '../../tensor/tensor.js';
import { MultiHeadAttention } from './attention.js';
import { parameterCount, validateConfig, type GPTConfig } from './config.js';
import { totalmem } from 'node:os';
import type { KVCache } from './kv-cache.js';

/** Multi-head causal attention with the book's parameters and a fused kernel on the fast path. */
export class FastMultiHeadAttention extends MultiHeadAttention {
  /**
   * x (B, T, C) -> (B, T, C). With a cache, x holds only the new tokens; their keys and values are
   * appended to the layer's cache and the queries attend to every cached position.
   */
  override forward(x: Tensor, cache?: KVCache, layer = 0): Tensor {
    const dropoutP = this.training ? this.dropout.p : 0;
    // A backend without fused attention dropout takes the book's readable path (explicit weights).
    if (dropoutP > 0 && !cache && !ops.canFuseAttentionDropout(x)) return super.forward(x);
    const [B, T] = x.shape;
    const queries = this.splitHeads(this.W_query.forward(x)); // (B, H, T, D)
    let keys = this.splitHeads(this.W_key.forward(x));
    let values = this.splitHeads(this.W_value.forward(x));
    if (cache) [keys, values] = cache.append(layer, keys, values); // (B, H, Tcached + T, D)
    const context = ops.causalAttention(queries, keys, values, { dropoutP, rng: this.dropout.rng }); // (B, H, T, D)
    const merged = ops.reshape(ops.transpose(context, 1, 2), [B, T, this.dOut]); // (B, T, C)
    return this.out_proj.forward(merged);
  }
}

/** Position-wise MLP: Linear(C, 4C) -> GELU -> Linear(4C, C), named layers.0 / layers.2 as in the book. */
export class FeedForward extends Module {
  layers: [Linear, GELU, Linear];

  constructor(embDim: number, rng: Rng = globalRng) {
    super();
    this.layers = [
      new Linear(embDim, 4 * embDim, { rng }),
      new GELU(),
      new Linear(4 * embDim, embDim, { rng }),
    ];
  }

  forward(x: Tensor): Tensor {
    return this.layers[2].forward(this.layers[1].forward(this.layers[0].forward(x)));
  }
}

/** Pre-LayerNorm transformer block with residual shortcuts (book 4.5). */
export class TransformerBlock extends Module {
  att: FastMultiHeadAttention;
  ff: FeedForward;
  norm1: LayerNorm;
  norm2: LayerNorm;
  drop_shortcut: Dropout;

  constructor(cfg: GPTConfig, rng: Rng = globalRng) {
    super();
    this.att = new FastMultiHeadAttention(
      cfg.embDim,
      cfg.embDim,
      cfg.contextLength,
      cfg.dropRate,
      cfg.nHeads,
      {
        qkvBias: cfg.qkvBias,
        rng,
      },
    );
    this.ff = new FeedForward(cfg.embDim, rng);
    this.norm1 = new LayerNorm(cfg.embDim);
    this.norm2 = new LayerNorm(cfg.embDim);
    this.drop_shortcut = new Dropout(cfg.dropRate, rng);
  }

  /** x (B, T, C) -> (B, T, C) */
  forward(x: Tensor, cache?: KVCache, layer = 0): Tensor {
    let h = this.drop_shortcut.forward(this.att.forward(this.norm1.forward(x), cache, layer));
    x = ops.add(x, h); // shortcut around attention
    h = this.drop_shortcut.forward(this.ff.forward(this.norm2.forward(x)));
    return ops.add(x, h); // shortcut around the MLP
  }
}

const gb = (bytes: number) => `${(bytes / 2 ** 30).toFixed(1)} GiB`;

/** Say what a configuration needs before trying to allocate it (else: "Array buffer allocation failed"). */
function checkMemory(cfg: GPTConfig): void {
  const bytes = 4 * parameterCount(cfg);
  const available = totalmem();
  const largest = Math.max(cfg.vocabSize, cfg.contextLength, 4 * cfg.embDim) * cfg.embDim;
  const sizes = `vocabSize ${cfg.vocabSize}, contextLength ${cfg.contextLength}, embDim ${cfg.embDim}, nLayers ${cfg.nLayers}`;
  if (bytes > available)
    throw new Error(
      `this model configuration needs ${gb(bytes)} for its parameters alone, more than this machine's ${gb(available)} of memory (${sizes})`,
    );
  if (largest > 2 ** 32 - 1)
    throw new Error(
      `this model configuration has a tensor of ${largest} elements, more than an array can hold (${sizes})`,
    );
}

export class GPTModel extends Module {
  readonly cfg: GPTConfig;
  tok_emb: Embedding;
  pos_emb: Embedding;
  drop_emb: Dropout;
  trf_blocks: TransformerBlock[];
  final_norm: LayerNorm;
  /** Output head (V, C); the same tensor as tok_emb.weight when cfg.tiedHead; (numClasses, C) with bias for a classifier. */
  out_head: Linear;

  constructor(cfg: GPTConfig, rng: Rng = globalRng) {
    super();
    this.cfg = validateConfig({ ...cfg });
    checkMemory(this.cfg);
    this.tok_emb = new Embedding(cfg.vocabSize, cfg.embDim, { rng });
    this.pos_emb = new Embedding(cfg.contextLength, cfg.embDim, { rng });
    this.drop_emb = new Dropout(cfg.dropRate, rng);
    this.trf_blocks = Array.from({ length: cfg.nLayers }, () => new TransformerBlock(cfg, rng));
    this.final_norm = new LayerNorm(cfg.embDim);
    this.out_head =
      cfg.numClasses === undefined
        ? new Linear(cfg.embDim, cfg.vocabSize, { bias: false, rng })
        : new Linear(cfg.embDim, cfg.numClasses, { rng });
    if (cfg.tiedHead) this.out_head.weight = this.tok_emb.weight;
  }

  /**
   * The book's chapter 6: replace the language-model head by a new Linear(C, numClasses) with bias and
   * PyTorch's default init drawn from rng. The model then returns class logits (B, T, numClasses).
   */
  useClassifierHead(numClasses: number, rng: Rng = globalRng): this {
    validateConfig({ ...this.cfg, tiedHead: false, numClasses });
    this.cfg.tiedHead = false;
    this.cfg.numClasses = numClasses;
    this.out_head = new Linear(this.cfg.embDim, numClasses, { rng });
    return this;
  }

  /**
   * Give the output head its own copy of the token embedding, as the book's load_weights_into_gpt does
   * (chapter 5): fine-tuning then updates the two separately, as in the book. A no-op when untied.
   */
  untieHead(): this {
    if (!this.cfg.tiedHead) return this;
    const w = this.tok_emb.weight;
    const copy = empty(w.shape);
    copy.data.set(w.data.subarray(w.offset, w.offset + w.size));
    this.out_head.weight = parameter(copy);
    this.out_head.weight.requiresGrad = w.requiresGrad;
    this.cfg.tiedHead = false;
    return this;
  }

  /**
   * Token ids (B, T) int32 -> logits (B, T, V), or (B, T, numClasses) for a classifier. With a KV cache,
   * ids are the new tokens only and positions continue from the cache's length.
   */
  forward(ids: Tensor, cache?: KVCache): Tensor {
    return this.forwardFrom(this.hidden(ids, 0, cache), 0, cache);
  }

  /**
   * The residual stream (B, T, C) entering block `upTo`: embeddings, then blocks [0, upTo). Split from
   * forwardFrom so a fine-tuning task can compute a frozen prefix once and reuse it.
   */
  hidden(ids: Tensor, upTo: number, cache?: KVCache): Tensor {
    if (ids.ndim !== 2 || ids.dtype !== 'int32') {
      throw new Error(`GPTModel.forward: expected int32 token ids of shape (B, T), got ${ids}`);
    }
    const T = ids.shape[1];
    const start = cache ? cache.length : 0;
    if (start + T > this.cfg.contextLength) {
      throw new Error(
        `GPTModel.forward: ${start + T} positions exceed the context length ${this.cfg.contextLength}; crop the input`,
      );
    }
    const posIds = ops.fromArray(
      Array.from({ length: T }, (_, i) => start + i),
      [T],
      'int32',
    );
    let x = ops.add(this.tok_emb.forward(ids), this.pos_emb.forward(posIds)); // (B, T, C)
    x = this.drop_emb.forward(x);
    for (let i = 0; i < upTo; i++) x = this.trf_blocks[i].forward(x, cache, i);
    return x;
  }

  /** Residual stream x (B, T, C) entering block `from` -> logits (B, T, V or numClasses). */
  forwardFrom(x: Tensor, from: number, cache?: KVCache): Tensor {
    const T = x.shape[1];
    for (let i = from; i < this.trf_blocks.length; i++) x = this.trf_blocks[i].forward(x, cache, i);
    if (cache) cache.advance(T);
    x = this.final_norm.forward(x);
    return this.out_head.forward(x);
  }
}
