// The counting core of BPE training: finds the most frequent adjacent pair over a bag of words and
// merges it, with incremental pair counts so a merge only touches the words that contain the pair.
// It knows nothing of text or vocabularies; bpe-train.ts turns text into words and ids into tokens.
//
// Ties go to the pair seen first, as the book's `max(Counter(zip(ids, ids[1:])).items())` does:
// Counter keeps first-insertion order, so among equal counts the pair whose first occurrence comes
// earliest in the text wins. With words numbered by first occurrence, that is the smallest
// (word, offset) key, where offset is the pair's original character position inside the word.

import { PairTable } from './pair-table.js';

/** One distinct word of the training text: its symbols (ids) and how often it occurs. */
export interface TrainingWord {
  symbols: ArrayLike<number>;
  count: number;
}

export interface BestPair {
  left: number;
  right: number;
  count: number;
}

export class MergeTrainer {
  private readonly syms: Int32Array[] = [];
  private readonly starts: Int32Array[] = [];
  private readonly lens: number[] = [];
  private readonly freqs: number[] = [];

  private readonly pairIds = new PairTable(1 << 16);
  private readonly pLeft: number[] = [];
  private readonly pRight: number[] = [];
  private readonly pCount: number[] = [];
  // Lower bound of the pair's first occurrence (word, offset); exact when it is checked at the top.
  private readonly pWord: number[] = [];
  private readonly pOff: number[] = [];
  private readonly pWords: (Set<number> | undefined)[] = [];

  // Max-heap of (count, -word, -offset) snapshots; stale snapshots are refreshed when they surface.
  private hPair = new Int32Array(1 << 16);
  private hCount = new Float64Array(1 << 16);
  private hWord = new Int32Array(1 << 16);
  private hOff = new Int32Array(1 << 16);
  private hSize = 0;

  // Per-merge bookkeeping: which pairs changed, and their count/key before the merge.
  private touched: number[] = [];
  private touchMark: number[] = [];
  private touchGen = 0;
  private beforeCount: number[] = [];
  private beforeWord: number[] = [];
  private beforeOff: number[] = [];

  constructor(words: readonly TrainingWord[]) {
    words.forEach((word, w) => {
      const n = word.symbols.length;
      this.syms.push(Int32Array.from(word.symbols));
      const start = new Int32Array(n);
      for (let i = 0; i < n; i++) start[i] = i;
      this.starts.push(start);
      this.lens.push(n);
      this.freqs.push(word.count);
      const s = this.syms[w];
      for (let i = 0; i + 1 < n; i++) this.addPair(s[i], s[i + 1], word.count, w, i);
    });
    for (let p = 0; p < this.pCount.length; p++) this.heapPush(p);
    this.touched = [];
  }

  /** The pair to merge next, or null when no word has two symbols left. */
  best(): BestPair | null {
    while (this.hSize > 0) {
      const p = this.hPair[0];
      const count = this.pCount[p];
      if (count <= 0) {
        this.heapPop();
        continue;
      }
      if (this.hCount[0] !== count || this.hWord[0] !== this.pWord[p] || this.hOff[0] !== this.pOff[p]) {
        this.heapPop();
        this.heapPush(p);
        continue;
      }
      const off = this.leftmost(p, this.pWord[p]);
      if (off === this.pOff[p]) return { left: this.pLeft[p], right: this.pRight[p], count };
      if (off >= 0) this.pOff[p] = off;
      else this.recomputeFirst(p);
      this.heapPop();
      this.heapPush(p);
    }
    return null;
  }

  /** Replaces every occurrence of (left, right) by `merged`, left to right within each word. */
  merge(left: number, right: number, merged: number): void {
    const p = this.pairIds.get(left, right);
    if (p < 0) return;
    const holders = this.pWords[p];
    if (!holders) return;
    this.touchGen++;
    this.touched.length = 0;
    for (const w of [...holders]) {
      if (this.leftmost(p, w) < 0) continue;
      const s = this.syms[w];
      const st = this.starts[w];
      const n = this.lens[w];
      const f = this.freqs[w];
      for (let i = 0; i + 1 < n; i++) this.addPair(s[i], s[i + 1], -f, w, st[i]);
      let j = 0;
      for (let i = 0; i < n;) {
        st[j] = st[i];
        if (i + 1 < n && s[i] === left && s[i + 1] === right) {
          s[j++] = merged;
          i += 2;
        } else s[j++] = s[i++];
      }
      this.lens[w] = j;
      for (let i = 0; i + 1 < j; i++) this.addPair(s[i], s[i + 1], f, w, st[i]);
    }
    this.pWords[p] = undefined;
    for (const q of this.touched) {
      const better =
        this.pCount[q] > this.beforeCount[q] ||
        this.pWord[q] < this.beforeWord[q] ||
        (this.pWord[q] === this.beforeWord[q] && this.pOff[q] < this.beforeOff[q]);
      if (better && this.pCount[q] > 0) this.heapPush(q);
    }
  }

  private addPair(a: number, b: number, delta: number, w: number, off: number): void {
    let q = this.pairIds.get(a, b);
    if (q < 0) {
      q = this.pCount.length;
      this.pairIds.setIfAbsent(a, b, q);
      this.pLeft.push(a);
      this.pRight.push(b);
      this.pCount.push(0);
      this.pWord.push(w);
      this.pOff.push(off);
      this.pWords.push(undefined);
      this.touchMark.push(0);
      this.beforeCount.push(0);
      this.beforeWord.push(0x7fffffff);
      this.beforeOff.push(0x7fffffff);
    }
    if (this.touchMark[q] !== this.touchGen) {
      this.touchMark[q] = this.touchGen;
      this.beforeCount[q] = this.pCount[q];
      this.beforeWord[q] = this.pWord[q];
      this.beforeOff[q] = this.pOff[q];
      this.touched.push(q);
    }
    this.pCount[q] += delta;
    if (delta > 0) {
      let set = this.pWords[q];
      if (!set) this.pWords[q] = set = new Set();
      set.add(w);
      // The stored first occurrence only ever moves down here; best() corrects it upwards lazily.
      if (w < this.pWord[q] || (w === this.pWord[q] && off < this.pOff[q])) {
        this.pWord[q] = w;
        this.pOff[q] = off;
      }
    }
  }

  // Original offset of the first occurrence of pair p in word w, or -1.
  private leftmost(p: number, w: number): number {
    const s = this.syms[w];
    const n = this.lens[w];
    const a = this.pLeft[p];
    const b = this.pRight[p];
    for (let i = 0; i + 1 < n; i++) if (s[i] === a && s[i + 1] === b) return this.starts[w][i];
    return -1;
  }

  private recomputeFirst(p: number): void {
    const set = this.pWords[p];
    let best = -1;
    if (set) {
      for (const w of set) {
        if (this.leftmost(p, w) < 0) set.delete(w);
        else if (best < 0 || w < best) best = w;
      }
    }
    if (best < 0) {
      this.pCount[p] = 0;
      return;
    }
    this.pWord[p] = best;
    this.pOff[p] = this.leftmost(p, best);
  }

  // --- heap of snapshots: higher count first, then smaller (word, offset) ---

  private above(i: number, j: number): boolean {
    if (this.hCount[i] !== this.hCount[j]) return this.hCount[i] > this.hCount[j];
    if (this.hWord[i] !== this.hWord[j]) return this.hWord[i] < this.hWord[j];
    return this.hOff[i] < this.hOff[j];
  }

  private swap(i: number, j: number): void {
    const { hPair, hCount, hWord, hOff } = this;
    [hPair[i], hPair[j]] = [hPair[j], hPair[i]];
    [hCount[i], hCount[j]] = [hCount[j], hCount[i]];
    [hWord[i], hWord[j]] = [hWord[j], hWord[i]];
    [hOff[i], hOff[j]] = [hOff[j], hOff[i]];
  }

  private heapPush(p: number): void {
    if (this.hSize === this.hPair.length) this.growHeap();
    let i = this.hSize++;
    this.hPair[i] = p;
    this.hCount[i] = this.pCount[p];
    this.hWord[i] = this.pWord[p];
    this.hOff[i] = this.pOff[p];
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.above(i, parent)) break;
      this.swap(i, parent);
      i = parent;
    }
  }

  private heapPop(): void {
    const last = --this.hSize;
    if (last > 0) this.swap(0, last);
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= this.hSize) break;
      let c = l;
      if (l + 1 < this.hSize && this.above(l + 1, l)) c = l + 1;
      if (!this.above(c, i)) break;
      this.swap(i, c);
      i = c;
    }
  }

  private growHeap(): void {
    const cap = this.hPair.length * 2;
    const grow = <T extends Int32Array | Float64Array>(a: T, make: (n: number) => T): T => {
      const b = make(cap);
      b.set(a);
      return b;
    };
    this.hPair = grow(this.hPair, (n) => new Int32Array(n));
    this.hCount = grow(this.hCount, (n) => new Float64Array(n));
    this.hWord = grow(this.hWord, (n) => new Int32Array(n));
    this.hOff = grow(this.hOff, (n) => new Int32Array(n));
  }
}
