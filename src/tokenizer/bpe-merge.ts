// The BPE merge loop for one pre-tokenised piece: repeatedly merge the adjacent pair of lowest rank
// (leftmost on ties), as tiktoken's `byte_pair_merge`. Not a tokenizer: no text, no vocabulary files.
// Short pieces use the simple quadratic scan; long ones a heap over a linked list, so the cost stays
// O(n log n) even for a 100 kB run of one character.

import { PairTable } from './pair-table.js';

const NO_RANK = 0x7fffffff;
// Below this many tokens the O(n^2) scan beats the heap's bookkeeping (measured on English text).
const SHORT_PIECE = 48;

/**
 * Merge rules: `pairs` maps (leftId, rightId) to a rank; `mergedIds[rank]` is the token the pair
 * becomes. Lower rank merges first.
 */
export class MergeRules {
  constructor(
    readonly pairs: PairTable,
    readonly mergedIds: Int32Array,
  ) {}

  private scratchTokens = new Int32Array(SHORT_PIECE);
  private scratchRanks = new Int32Array(SHORT_PIECE);

  /** Appends to `out` the token ids of a piece given as its initial tokens (one per byte). */
  merge(initial: Int32Array, n: number, out: number[]): void {
    if (n === 0) return;
    if (n === 1) {
      out.push(initial[0]);
      return;
    }
    if (n <= SHORT_PIECE) this.mergeShort(initial, n, out);
    else this.mergeLong(initial, n, out);
  }

  private rank(left: number, right: number): number {
    const r = this.pairs.get(left, right);
    return r < 0 ? NO_RANK : r;
  }

  private mergeShort(initial: Int32Array, n: number, out: number[]): void {
    const tok = this.scratchTokens;
    const ranks = this.scratchRanks;
    tok.set(initial.subarray(0, n));
    for (let i = 0; i < n - 1; i++) ranks[i] = this.rank(tok[i], tok[i + 1]);
    for (;;) {
      let min = NO_RANK;
      let at = -1;
      for (let i = 0; i < n - 1; i++) {
        if (ranks[i] < min) {
          min = ranks[i];
          at = i;
        }
      }
      if (at < 0) break;
      tok[at] = this.mergedIds[min];
      n--;
      tok.copyWithin(at + 1, at + 2, n + 1);
      ranks.copyWithin(at, at + 1, n);
      if (at < n - 1) ranks[at] = this.rank(tok[at], tok[at + 1]);
      if (at > 0) ranks[at - 1] = this.rank(tok[at - 1], tok[at]);
    }
    for (let i = 0; i < n; i++) out.push(tok[i]);
  }

  // Heap entries pack (rank, position) into one float64: rank * 2^28 + position, so the smallest
  // entry is the lowest rank and, among equal ranks, the leftmost pair. Stale entries are skipped
  // when popped (lazy deletion) by re-checking the pair now at that position.
  private mergeLong(initial: Int32Array, n: number, out: number[]): void {
    if (n >= POSITION_LIMIT)
      throw new Error(`BPE merge: a single piece of ${n} bytes is too long (limit ${POSITION_LIMIT})`);
    const tok = Int32Array.from(initial.subarray(0, n));
    const next = new Int32Array(n);
    const prev = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      next[i] = i + 1 < n ? i + 1 : -1;
      prev[i] = i - 1;
    }
    const heap = new MinHeap(n);
    for (let i = 0; i < n - 1; i++) {
      const r = this.rank(tok[i], tok[i + 1]);
      if (r !== NO_RANK) heap.push(r * POSITION_LIMIT + i);
    }
    while (heap.size > 0) {
      const key = heap.pop();
      const rank = Math.floor(key / POSITION_LIMIT);
      const at = key - rank * POSITION_LIMIT;
      const right = next[at];
      if (tok[at] < 0 || right < 0 || this.rank(tok[at], tok[right]) !== rank) continue;
      tok[at] = this.mergedIds[rank];
      tok[right] = -1; // dead
      const after = next[right];
      next[at] = after;
      if (after >= 0) {
        prev[after] = at;
        const r = this.rank(tok[at], tok[after]);
        if (r !== NO_RANK) heap.push(r * POSITION_LIMIT + at);
      }
      const before = prev[at];
      if (before >= 0) {
        const r = this.rank(tok[before], tok[at]);
        if (r !== NO_RANK) heap.push(r * POSITION_LIMIT + before);
      }
    }
    for (let i = 0; i >= 0; i = next[i]) out.push(tok[i]);
  }
}

const POSITION_LIMIT = 2 ** 28;

/** Binary min-heap of float64 keys. */
class MinHeap {
  private data: Float64Array;
  size = 0;

  constructor(capacity: number) {
    this.data = new Float64Array(Math.max(16, capacity));
  }

  push(key: number): void {
    if (this.size === this.data.length) {
      const bigger = new Float64Array(this.data.length * 2);
      bigger.set(this.data);
      this.data = bigger;
    }
    const d = this.data;
    let i = this.size++;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (d[parent] <= key) break;
      d[i] = d[parent];
      i = parent;
    }
    d[i] = key;
  }

  pop(): number {
    const d = this.data;
    const top = d[0];
    const last = d[--this.size];
    let i = 0;
    const n = this.size;
    for (;;) {
      let child = 2 * i + 1;
      if (child >= n) break;
      if (child + 1 < n && d[child + 1] < d[child]) child++;
      if (d[child] >= last) break;
      d[i] = d[child];
      i = child;
    }
    d[i] = last;
    return top;
  }
}
