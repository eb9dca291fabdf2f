// Open-addressing hash table from a pair of non-negative int32 ids to an int32 value.
// Not a general map: keys are never deleted; used for BPE merge lookups and training pair ids.

const EMPTY = -1;

export class PairTable {
  private lefts: Int32Array;
  private rights: Int32Array;
  private values: Int32Array;
  private mask: number;
  private count = 0;

  constructor(expected = 1024) {
    let cap = 16;
    while (cap < expected * 2) cap *= 2;
    this.lefts = new Int32Array(cap).fill(EMPTY);
    this.rights = new Int32Array(cap);
    this.values = new Int32Array(cap);
    this.mask = cap - 1;
  }

  get size(): number {
    return this.count;
  }

  /** The value stored for (left, right), or -1 when absent. */
  get(left: number, right: number): number {
    const lefts = this.lefts;
    let slot = (Math.imul(left, 0x9e3779b1) ^ Math.imul(right, 0x85ebca77)) & this.mask;
    for (;;) {
      const l = lefts[slot];
      if (l === left && this.rights[slot] === right) return this.values[slot];
      if (l === EMPTY) return -1;
      slot = (slot + 1) & this.mask;
    }
  }

  /** Stores value for (left, right); returns false (and keeps the old value) when the key exists. */
  setIfAbsent(left: number, right: number, value: number): boolean {
    if ((this.count + 1) * 2 > this.lefts.length) this.grow();
    let slot = (Math.imul(left, 0x9e3779b1) ^ Math.imul(right, 0x85ebca77)) & this.mask;
    for (;;) {
      const l = this.lefts[slot];
      if (l === EMPTY) {
        this.lefts[slot] = left;
        this.rights[slot] = right;
        this.values[slot] = value;
        this.count++;
        return true;
      }
      if (l === left && this.rights[slot] === right) return false;
      slot = (slot + 1) & this.mask;
    }
  }

  private grow(): void {
    const { lefts, rights, values } = this;
    const cap = lefts.length * 2;
    this.lefts = new Int32Array(cap).fill(EMPTY);
    this.rights = new Int32Array(cap);
    this.values = new Int32Array(cap);
    this.mask = cap - 1;
    this.count = 0;
    for (let i = 0; i < lefts.length; i++)
      if (lefts[i] !== EMPTY) this.setIfAbsent(lefts[i], rights[i], values[i]);
  }
}
