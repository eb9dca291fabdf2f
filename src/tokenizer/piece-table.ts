// Hash table from a piece of text (a range of a larger string) to its token ids, looked up without
// slicing the string: the encoder's hot path does one lookup per piece, and allocating a substring
// plus a Map lookup per piece cost more than the whole pre-tokenisation scan. Not a general map.

const EMPTY = 0;

/** FNV-1a over UTF-16 code units of text[start, end). */
export function hashRange(text: string, start: number, end: number): number {
  let h = 0x811c9dc5 | 0;
  for (let i = start; i < end; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return h;
}

export class PieceTable {
  private keys: string[] = [];
  private singles: number[] = []; // the id when the piece is one token, else -1
  private lists: (readonly number[] | undefined)[] = [];
  private slots: Int32Array; // entry index + 1, or EMPTY
  private slotHashes: Int32Array;
  private mask: number;
  private readonly pinned: number; // entries below this index survive clearUnpinned()

  constructor(initial: Iterable<readonly [string, number]>, expected: number) {
    let cap = 1024;
    while (cap < expected * 2) cap *= 2;
    this.slots = new Int32Array(cap);
    this.slotHashes = new Int32Array(cap);
    this.mask = cap - 1;
    for (const [text, id] of initial) this.add(text, id, undefined);
    this.pinned = this.keys.length;
  }

  get size(): number {
    return this.keys.length;
  }

  /** Entry index of text[start, end) (hash from hashRange), or -1. */
  find(text: string, start: number, end: number, hash: number): number {
    const slots = this.slots;
    const len = end - start;
    let slot = hash & this.mask;
    for (;;) {
      const e = slots[slot];
      if (e === EMPTY) return -1;
      if (this.slotHashes[slot] === hash) {
        const key = this.keys[e - 1];
        if (key.length === len) {
          let k = 0;
          while (k < len && key.charCodeAt(k) === text.charCodeAt(start + k)) k++;
          if (k === len) return e - 1;
        }
      }
      slot = (slot + 1) & this.mask;
    }
  }

  /** The id of a one-token entry, or -1 when the entry holds several ids. */
  single(entry: number): number {
    return this.singles[entry];
  }

  /** The ids of an entry that holds several. */
  list(entry: number): readonly number[] {
    return this.lists[entry]!;
  }

  /** Adds a piece (the caller checked it is absent): one id, or the ids of a multi-token piece. */
  add(text: string, id: number, ids: readonly number[] | undefined): void {
    if ((this.keys.length + 1) * 2 > this.slots.length) this.rehash(this.slots.length * 2);
    this.keys.push(text);
    this.singles.push(ids ? -1 : id);
    this.lists.push(ids);
    this.insertSlot(this.keys.length - 1, hashRange(text, 0, text.length));
  }

  /** Drops every entry added after construction (the bounded cache part). */
  clearUnpinned(): void {
    this.keys.length = this.pinned;
    this.singles.length = this.pinned;
    this.lists.length = this.pinned;
    this.rehash(this.slots.length);
  }

  private insertSlot(entry: number, hash: number): void {
    let slot = hash & this.mask;
    while (this.slots[slot] !== EMPTY) slot = (slot + 1) & this.mask;
    this.slots[slot] = entry + 1;
    this.slotHashes[slot] = hash;
  }

  private rehash(capacity: number): void {
    this.slots = new Int32Array(capacity);
    this.slotHashes = new Int32Array(capacity);
    this.mask = capacity - 1;
    for (let e = 0; e < this.keys.length; e++)
      this.insertSlot(e, hashRange(this.keys[e], 0, this.keys[e].length));
  }
}
