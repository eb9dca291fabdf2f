// Key/value cache for generation: each layer's keys and values of past positions, so a new token costs
// one position of compute instead of the whole prefix. Buffers are allocated once per generation.
import * as ops from '../../ops/index.js';
import { empty, keep, shapeStr, type Tensor } from '../../tensor/tensor.js';

export class KVCache {
  /** Number of positions cached (the next token's position). */
  length = 0;
  private keys: Tensor[] = [];
  private values: Tensor[] = [];

  constructor(
    readonly nLayers: number,
    readonly maxLength: number,
  ) {}

  /**
   * Store the new keys / values (B, H, Tn, D) of a layer at positions [length, length + Tn) and
   * return all cached keys and values (B, H, length + Tn, D).
   */
  append(layer: number, k: Tensor, v: Tensor): [Tensor, Tensor] {
    const [B, H, Tn, D] = k.shape;
    if (this.length + Tn > this.maxLength) {
      throw new Error(`KVCache: ${this.length + Tn} positions exceed the cache size ${this.maxLength}`);
    }
    if (!this.keys[layer]) {
      this.keys[layer] = keep(empty([B, H, this.maxLength, D], k.dtype));
      this.values[layer] = keep(empty([B, H, this.maxLength, D], v.dtype));
    }
    const kc = this.keys[layer];
    const vc = this.values[layer];
    if (kc.shape[0] !== B || kc.shape[1] !== H || kc.shape[3] !== D) {
      throw new Error(
        `KVCache: layer ${layer} holds ${shapeStr(kc.shape)}, got new keys ${shapeStr(k.shape)}`,
      );
    }
    ops.assignInto(ops.narrow(kc, 2, this.length, Tn), k);
    ops.assignInto(ops.narrow(vc, 2, this.length, Tn), v);
    const T = this.length + Tn;
    return [ops.narrow(kc, 2, 0, T), ops.narrow(vc, 2, 0, T)];
  }

  /** Called by the model after all layers appended Tn positions. */
  advance(Tn: number): void {
    this.length += Tn;
  }

  reset(): void {
    this.length = 0;
  }

  dispose(): void {
    for (const t of [...this.keys, ...this.values]) t?.dispose();
    this.keys = [];
    this.values = [];
    this.length = 0;
  }
}
