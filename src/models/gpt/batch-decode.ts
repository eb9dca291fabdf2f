// One decoding step for several independent sequences at once (continuous batching in `gptkit serve`):
// each sequence has its own KV cache and position, and may add one token or its whole prompt. Not a
// training path: no gradients, no dropout (the model runs as in eval mode).
//
// Why: decoding one token on a CPU is bound by reading the weights (~500 MB for gpt2-small). Packing
// the new tokens of every sequence into the rows of one (1, N, C) activation makes each Linear read its
// weights once per step for all sequences; only attention, which is per-sequence anyway, runs apart.
import { getBackend } from '../../backend/index.js';
import * as ops from '../../ops/index.js';
import { noGrad } from '../../tensor/autograd.js';
import { tidy, type Tensor } from '../../tensor/tensor.js';
import type { GPTModel } from './gpt.js';
import type { KVCache } from './kv-cache.js';

export interface DecodeSlot {
  /** This sequence's cache: its length is the position of ids[0]. Advanced by ids.length. */
  cache: KVCache;
  /** The tokens this sequence adds in this step: its prompt on the first step, then one sampled token. */
  ids: readonly number[];
}

/**
 * Run the tokens of every slot through the model in one pass and return, per slot (same order), the
 * logits (V) of its last new token. Equal (up to float rounding in the GEMM) to model.forward over each
 * sequence alone with its own cache; decode-batch.test.ts checks it against that.
 */
export function decodeStep(model: GPTModel, slots: readonly DecodeSlot[]): Float32Array[] {
  if (slots.length === 0) return [];
  const { contextLength, vocabSize, embDim } = model.cfg;
  if (model.cfg.numClasses !== undefined)
    throw new Error('decodeStep: this model is a classifier; decoding needs a language-model head');
  const offsets: number[] = [];
  const positions: number[] = [];
  const ids: number[] = [];
  for (const [s, { cache, ids: newIds }] of slots.entries()) {
    if (newIds.length === 0) throw new Error(`decodeStep: slot ${s} has no new tokens`);
    const end = cache.length + newIds.length;
    if (end > Math.min(contextLength, cache.maxLength))
      throw new Error(
        `decodeStep: slot ${s} would reach ${end} positions, beyond its cache (${cache.maxLength}) or the context length ${contextLength}`,
      );
    for (const id of newIds)
      if (!Number.isInteger(id) || id < 0 || id >= vocabSize)
        throw new Error(
          `decodeStep: token id ${id} in slot ${s} is outside the vocabulary [0, ${vocabSize})`,
        );
    offsets.push(ids.length);
    for (let i = 0; i < newIds.length; i++) positions.push(cache.length + i);
    ids.push(...newIds);
  }
  const N = ids.length;
  // Every Linear multiplies N decoding rows by its weight: let the GEMM stream each weight once for all of
  // them instead of packing it (BENCHMARKS.md, serving). Scoped to this step: training keeps the default.
  const backend = getBackend();
  const previousGemvRows = backend.setGemvRows?.(16);
  let lastRows: Tensor;
  try {
    lastRows = tidy(() =>
      noGrad(() => {
        let x = ops.add(
          model.tok_emb.forward(ops.fromArray(ids, [1, N], 'int32')),
          model.pos_emb.forward(ops.fromArray(positions, [N], 'int32')),
        ); // (1, N, C)
        for (const [layer, block] of model.trf_blocks.entries()) {
          const att = block.att;
          const h = block.norm1.forward(x);
          const q = att.W_query.forward(h); // (1, N, C), all sequences' rows
          const k = att.W_key.forward(h);
          const v = att.W_value.forward(h);
          const contexts = slots.map(({ cache, ids: newIds }, s) => {
            const T = newIds.length;
            // (1, T, C) rows of this sequence -> (1, H, T, D)
            const heads = (t: Tensor) =>
              ops.transpose(
                ops.reshape(ops.narrow(t, 1, offsets[s], T), [1, T, att.numHeads, att.headDim]),
                1,
                2,
              );
            const [keys, values] = cache.append(layer, heads(k), heads(v)); // (1, H, cached + T, D)
            const context = ops.causalAttention(heads(q), keys, values); // (1, H, T, D)
            return ops.reshape(ops.transpose(context, 1, 2), [1, T, embDim]);
          });
          const merged = contexts.length === 1 ? contexts[0] : ops.concat(contexts, 1); // (1, N, C)
          x = ops.add(x, att.out_proj.forward(merged));
          const [up, gelu, down] = block.ff.layers;
          x = ops.add(x, down.forward(gelu.forward(up.forward(block.norm2.forward(x)))));
        }
        // Only each sequence's last row needs the (V, C) head: (1, S, C) -> (1, S, V).
        const last = slots.map((slot, s) => ops.narrow(x, 1, offsets[s] + slot.ids.length - 1, 1));
        const rows = last.length === 1 ? last[0] : ops.concat(last, 1);
        return ops.contiguous(model.out_head.forward(model.final_norm.forward(rows)));
      }),
    );
  } finally {
    if (previousGemvRows !== undefined) backend.setGemvRows?.(previousGemvRows);
  }
  for (const slot of slots) slot.cache.advance(slot.ids.length);
  const out = slots.map((_, s) =>
    lastRows.data.slice(lastRows.offset + s * vocabSize, lastRows.offset + (s + 1) * vocabSize),
  );
  lastRows.dispose();
  return out as Float32Array[];
}
