// GPT-2 byte-level BPE tokenizer, identical in output to tiktoken's `gpt2` (r50k_base) encoding.
// Loads OpenAI's encoder.json + vocab.bpe or any vocabulary of the same form; it does not train (see
// bpe-train.ts) and it does not download anything.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BYTE_TO_CHAR, isWellFormedUtf8, tokenStringToBytes, utf8Bytes } from './byte-level.js';
import { MergeRules } from './bpe-merge.js';
import { parseEncoderJson, parseVocabBpe } from './gpt2-files.js';
import { PairTable } from './pair-table.js';
import { hashRange, PieceTable } from './piece-table.js';
import { gpt2PieceEnd, InvalidUtf16Error } from './pretokenize.js';
import { checkDisallowedSpecials, splitOnSpecials } from './special-split.js';
import { StreamingDecoder } from './streaming-decoder.js';
import { dataPath } from '../data/paths.js';

// Re-exported so code that imports the tokenizer module gets its decoder type too.
export { StreamingDecoder };

/** What a GPT-2-style tokenizer is made of: the token -> id map and the merges in rank order. */
export interface Gpt2TokenizerSpec {
  encoder: ReadonlyMap<string, number> | Readonly<Record<string, number>>;
  merges: ReadonlyArray<readonly [string, string]>;
  /**
   * Special tokens (text -> id); they never come out of BPE. Default: the encoder's entries that look
   * like `<|...|>`, which for GPT-2 is `<|endoftext|>` -> 50256.
   */
  specialTokens?: Readonly<Record<string, number>>;
  /** Used in error messages: the files the spec came from, and the file line of each merge. */
  source?: { encoderFile?: string; mergesFile?: string; mergeLines?: readonly number[] };
  /** A label for messages, e.g. "gpt2". */
  name?: string;
}

/** Which special tokens `encode` may turn into their ids: 'all', or a set of their texts. */
export type AllowedSpecial = 'all' | ReadonlySet<string>;

export interface EncodeOptions {
  /** Special tokens to encode as their ids. Default: none. */
  allowedSpecial?: AllowedSpecial;
  /**
   * 'all' (default): text containing a special token that is not allowed is an error, as in tiktoken.
   * 'none': such text is encoded as ordinary text.
   */
  disallowedSpecial?: 'all' | 'none';
}

const EMPTY_SET: ReadonlySet<string> = new Set();
// FNV-1a, as piece-table.ts's hashRange, so pieces hashed while scanning find their table entries.
const FNV_OFFSET = 0x811c9dc5 | 0;
const FNV_PRIME = 0x01000193;
const ASCII_LETTER = new Uint8Array(128);
for (let c = 65; c <= 90; c++) ASCII_LETTER[c] = ASCII_LETTER[c + 32] = 1;
// Pieces longer than this are not cached: they are rare, and would let one input fill the cache.
const CACHE_MAX_PIECE = 64;
const CACHE_MAX_ENTRIES = 100_000;

const utf8Decoder = new TextDecoder('utf-8', { ignoreBOM: true });

export class Gpt2Tokenizer {
  readonly name: string;
  /** One more than the largest id. */
  readonly vocabSize: number;
  readonly specialTokens: ReadonlyMap<string, number>;
  /** Id of `<|endoftext|>`, if the vocabulary has it. */
  readonly endOfTextId: number | undefined;

  private readonly tokenStrings: (string | undefined)[];
  private readonly byteOffsets: Uint32Array;
  private readonly bytePool: Uint8Array;
  private readonly byteToken = new Int32Array(256);
  private readonly asciiToken = new Int32Array(128);
  private readonly rules: MergeRules;
  // Raw text of every ordinary token that is valid UTF-8 on its own -> id (most pieces are one
  // token), plus a bounded cache of the multi-token pieces met so far.
  private readonly pieces: PieceTable;
  private readonly pinnedPieces: number;
  private readonly present: Uint8Array; // 1 where an id has a token
  private scratch = new Int32Array(256);
  private readonly textDecoder = new TextDecoder('utf-8', { ignoreBOM: true });

  constructor(spec: Gpt2TokenizerSpec) {
    this.name = spec.name ?? 'custom';
    const encoderFile = spec.source?.encoderFile ?? 'encoder';
    const mergesFile = spec.source?.mergesFile ?? 'merges';
    const encoder = spec.encoder instanceof Map ? spec.encoder : new Map(Object.entries(spec.encoder));

    const specials = new Map<string, number>();
    if (spec.specialTokens) for (const [t, id] of Object.entries(spec.specialTokens)) specials.set(t, id);
    else for (const [t, id] of encoder) if (/^<\|.+\|>$/s.test(t)) specials.set(t, id);
    this.specialTokens = specials;
    this.endOfTextId = specials.get('<|endoftext|>');

    let maxId = -1;
    for (const [token, id] of [...encoder, ...specials]) {
      if (!Number.isInteger(id) || id < 0 || id >= 2 ** 25) {
        throw new Error(
          `${encoderFile}: token ${JSON.stringify(token)} has id ${id}; ids must be integers in 0..${2 ** 25 - 1}`,
        );
      }
      maxId = Math.max(maxId, id);
    }
    this.vocabSize = maxId + 1;

    // Token bytes, for decoding and for finding all the ways a token splits into two tokens.
    const strings: (string | undefined)[] = new Array(this.vocabSize);
    const bytesById: (Uint8Array | undefined)[] = new Array(this.vocabSize);
    for (const [token, id] of encoder) {
      if (specials.has(token)) continue;
      const bytes = tokenStringToBytes(token);
      if (bytes === null) {
        throw new Error(
          `${encoderFile}: token ${JSON.stringify(token)} (id ${id}) has a character that is not one of ` +
            "GPT-2's 256 byte characters; this is not a byte-level BPE vocabulary",
        );
      }
      strings[id] = token;
      bytesById[id] = bytes;
    }
    for (const [token, id] of specials) {
      if (strings[id] !== undefined)
        throw new Error(
          `special token ${JSON.stringify(token)} reuses id ${id} of ${JSON.stringify(strings[id])}`,
        );
      bytesById[id] = utf8Bytes(token);
    }
    this.tokenStrings = strings;
    let total = 0;
    for (const b of bytesById) total += b ? b.length : 0;
    this.byteOffsets = new Uint32Array(this.vocabSize + 1);
    this.bytePool = new Uint8Array(total);
    const present = new Uint8Array(this.vocabSize);
    for (let id = 0, at = 0; id < this.vocabSize; id++) {
      this.byteOffsets[id] = at;
      const b = bytesById[id];
      if (b) {
        this.bytePool.set(b, at);
        at += b.length;
        present[id] = 1;
      }
      this.byteOffsets[id + 1] = at;
    }
    this.present = present;

    for (let b = 0; b < 256; b++) {
      const id = encoder.get(BYTE_TO_CHAR[b]);
      if (id === undefined) {
        throw new Error(
          `${encoderFile}: missing the token for byte 0x${b.toString(16).padStart(2, '0')} (${JSON.stringify(BYTE_TO_CHAR[b])}); a byte-level vocabulary needs all 256`,
        );
      }
      this.byteToken[b] = id;
    }
    for (let c = 0; c < 128; c++) this.asciiToken[c] = this.byteToken[c];

    this.rules = this.buildRules(encoder, specials, spec, encoderFile, mergesFile);

    const whole: Array<[string, number]> = [];
    for (let id = 0; id < this.vocabSize; id++) {
      const b = bytesById[id];
      if (!b || strings[id] === undefined) continue;
      if (isWellFormedUtf8(b)) whole.push([utf8Decoder.decode(b), id]);
    }
    this.pieces = new PieceTable(whole, whole.length + CACHE_MAX_ENTRIES);
    this.pinnedPieces = whole.length;
  }

  // Ranks follow the merges' order. As in tiktoken, any two adjacent tokens whose concatenation is a
  // token may merge (at that token's rank), not only the pair its merge line names.
  private buildRules(
    encoder: ReadonlyMap<string, number>,
    specials: ReadonlyMap<string, number>,
    spec: Gpt2TokenizerSpec,
    encoderFile: string,
    mergesFile: string,
  ): MergeRules {
    const where = (i: number): string => {
      const line = spec.source?.mergeLines?.[i];
      return line !== undefined ? `${mergesFile} line ${line}` : `${mergesFile}[${i}]`;
    };
    const rankOf = new Int32Array(this.vocabSize).fill(-1);
    const mergedIds: number[] = [];
    const pairs = new PairTable(spec.merges.length * 3);
    spec.merges.forEach(([a, b], i) => {
      const left = encoder.get(a);
      const right = encoder.get(b);
      const merged = encoder.get(a + b);
      const missing = left === undefined ? a : right === undefined ? b : merged === undefined ? a + b : null;
      if (missing !== null) {
        throw new Error(
          `${where(i)}: merge "${a} ${b}" uses token ${JSON.stringify(missing)}, which is not in ${encoderFile}`,
        );
      }
      if (rankOf[merged!] < 0) {
        rankOf[merged!] = mergedIds.length;
        mergedIds.push(merged!);
      }
    });
    // Multi-byte tokens that no merge creates still merge, after all merged ones (tiktoken ranks by id).
    for (const [token, id] of encoder) {
      if (!specials.has(token) && token.length > 1 && rankOf[id] < 0) {
        rankOf[id] = mergedIds.length;
        mergedIds.push(id);
      }
    }
    // Probing by hash of a string range avoids slicing every prefix and suffix (250k substrings).
    const ordinary: Array<[string, number]> = [];
    for (const [token, id] of encoder) if (!specials.has(token)) ordinary.push([token, id]);
    const vocab = new PieceTable(ordinary, ordinary.length);
    for (const id of mergedIds) {
      const s = this.tokenStrings[id]!;
      let prefixHash = 0x811c9dc5 | 0;
      for (let k = 1; k < s.length; k++) {
        prefixHash = Math.imul(prefixHash ^ s.charCodeAt(k - 1), 0x01000193);
        const left = vocab.find(s, 0, k, prefixHash);
        if (left < 0) continue;
        const right = vocab.find(s, k, s.length, hashRange(s, k, s.length));
        if (right < 0) continue;
        pairs.setIfAbsent(vocab.single(left), vocab.single(right), rankOf[id]);
      }
    }
    return new MergeRules(pairs, Int32Array.from(mergedIds));
  }

  /** Loads encoder.json and vocab.bpe from the given paths. Errors name the file and line. */
  static fromFiles(encoderPath: string, mergesPath: string, name?: string): Gpt2Tokenizer {
    const encoder = parseEncoderJson(readFileSync(encoderPath, 'utf8'), encoderPath);
    const { merges, lines } = parseVocabBpe(readFileSync(mergesPath, 'utf8'), mergesPath);
    return new Gpt2Tokenizer({
      encoder,
      merges,
      name: name ?? encoderPath,
      source: { encoderFile: encoderPath, mergesFile: mergesPath, mergeLines: lines },
    });
  }

  /** Loads `encoder.json` + `vocab.bpe` from a folder (the layout saveByteLevelBpe writes). */
  static fromDirectory(dir: string): Gpt2Tokenizer {
    return Gpt2Tokenizer.fromFiles(join(dir, 'encoder.json'), join(dir, 'vocab.bpe'), dir);
  }

  /** Token ids of `text`. Special tokens follow tiktoken's rules (see EncodeOptions). */
  encode(text: string, options: EncodeOptions = {}): number[] {
    const allowed = this.allowedSet(options.allowedSpecial);
    if ((options.disallowedSpecial ?? 'all') === 'all')
      checkDisallowedSpecials(text, this.specialTokens, allowed);
    const out: number[] = [];
    if (allowed.size === 0) {
      this.encodeSegment(text, 0, text.length, out);
      return out;
    }
    splitOnSpecials(
      text,
      allowed,
      (from, to) => this.encodeSegment(text, from, to, out),
      (token) => out.push(this.specialTokens.get(token)!),
    );
    return out;
  }

  /** Token ids of `text` with special-token text treated as ordinary text (tiktoken's encode_ordinary). */
  encodeOrdinary(text: string): number[] {
    const out: number[] = [];
    this.encodeSegment(text, 0, text.length, out);
    return out;
  }

  private allowedSet(allowed: AllowedSpecial | undefined): ReadonlySet<string> {
    if (allowed === undefined) return EMPTY_SET;
    if (allowed === 'all') return new Set(this.specialTokens.keys());
    for (const s of allowed) {
      if (!this.specialTokens.has(s)) {
        throw new Error(
          `encode: allowedSpecial names ${JSON.stringify(s)}, which is not a special token of ${this.name} (known: ${[...this.specialTokens.keys()].join(', ') || 'none'})`,
        );
      }
    }
    return allowed;
  }

  private encodeSegment(text: string, start: number, end: number, out: number[]): void {
    if (start === end) return;
    const segment = start === 0 && end === text.length ? text : text.slice(start, end);
    try {
      this.encodeText(segment, out);
    } catch (err) {
      if (err instanceof InvalidUtf16Error) {
        throw new Error(`encode: ${err.message.replace(/index \d+/, `index ${start + err.index}`)}`);
      }
      throw err;
    }
  }

  // The hot loop: split into pieces, then one hash-table probe per piece in the common case. Words of
  // ASCII letters (with their leading space) are scanned and hashed in one pass here; every other
  // piece goes through the general scanner. Profiling showed the scan, not BPE, dominates on prose.
  private encodeText(text: string, out: number[]): void {
    const n = text.length;
    const asciiToken = this.asciiToken;
    const pieces = this.pieces;
    let i = 0;
    while (i < n) {
      let c = text.charCodeAt(i);
      let end = -1;
      let hash = 0;
      let j = i;
      let h = FNV_OFFSET;
      if (c === 32 && i + 1 < n) {
        const d = text.charCodeAt(i + 1);
        if (d < 128 && ASCII_LETTER[d] === 1) {
          h = Math.imul(h ^ 32, FNV_PRIME);
          j = i + 1;
          c = d;
        }
      }
      if (c < 128 && ASCII_LETTER[c] === 1) {
        do {
          h = Math.imul(h ^ c, FNV_PRIME);
          c = ++j < n ? text.charCodeAt(j) : 0;
        } while (c < 128 && ASCII_LETTER[c] === 1);
        // A non-ASCII character may continue the run of letters ("café"): leave that to the scanner.
        if (c < 128) {
          end = j;
          hash = h;
        }
      }
      if (end < 0) {
        end = gpt2PieceEnd(text, i);
        const first = text.charCodeAt(i);
        if (end === i + 1 && first < 128) {
          out.push(asciiToken[first]);
          i = end;
          continue;
        }
        hash = end - i <= CACHE_MAX_PIECE ? hashRange(text, i, end) : 0;
      }
      const entry = end - i <= CACHE_MAX_PIECE ? pieces.find(text, i, end, hash) : -1;
      if (entry >= 0) {
        const id = pieces.single(entry);
        if (id >= 0) out.push(id);
        else {
          const ids = pieces.list(entry);
          for (let k = 0; k < ids.length; k++) out.push(ids[k]);
        }
      } else this.encodePiece(text.slice(i, end), out);
      i = end;
    }
  }

  private encodePiece(piece: string, out: number[]): void {
    const bytes = utf8Bytes(piece);
    if (this.scratch.length < bytes.length) this.scratch = new Int32Array(bytes.length * 2);
    const initial = this.scratch;
    for (let k = 0; k < bytes.length; k++) initial[k] = this.byteToken[bytes[k]];
    const from = out.length;
    this.rules.merge(initial, bytes.length, out);
    if (piece.length <= CACHE_MAX_PIECE) {
      if (this.pieces.size >= this.pinnedPieces + CACHE_MAX_ENTRIES) this.pieces.clearUnpinned();
      if (out.length - from === 1) this.pieces.add(piece, out[from], undefined);
      else this.pieces.add(piece, -1, out.slice(from));
    }
  }

  /** The bytes the ids stand for, concatenated. Throws on an unknown id, naming it and its position. */
  decodeBytes(ids: ArrayLike<number>): Uint8Array {
    const offsets = this.byteOffsets;
    let total = 0;
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i];
      if (!(id >= 0 && id < this.vocabSize && this.present[id] === 1 && Number.isInteger(id))) {
        throw new Error(
          `decode: unknown token id ${id} at position ${i} (${this.name} has ids 0..${this.vocabSize - 1})`,
        );
      }
      total += offsets[id + 1] - offsets[id];
    }
    const out = new Uint8Array(total);
    const pool = this.bytePool;
    for (let i = 0, at = 0; i < ids.length; i++) {
      const id = ids[i];
      const from = offsets[id];
      const to = offsets[id + 1];
      if (to - from === 1) out[at++] = pool[from];
      else {
        out.set(pool.subarray(from, to), at);
        at += to - from;
      }
    }
    return out;
  }

  /** Text of the ids; byte sequences that are not valid UTF-8 become U+FFFD (as tiktoken's decode). */
  decode(ids: ArrayLike<number>): string {
    return this.textDecoder.decode(this.decodeBytes(ids));
  }

  /** The raw bytes of one token. */
  tokenBytes(id: number): Uint8Array {
    return this.decodeBytes([id]);
  }

  /** A token as written in encoder.json ("Ġthe"), or the special token's text. */
  tokenString(id: number): string {
    const s = this.tokenStrings[id];
    if (s !== undefined) return s;
    for (const [t, sid] of this.specialTokens) if (sid === id) return t;
    throw new Error(`tokenString: unknown token id ${id} (${this.name} has ids 0..${this.vocabSize - 1})`);
  }

  /** A decoder for ids that arrive one at a time (generation): it only ever returns whole characters. */
  streamingDecoder(): StreamingDecoder {
    return new StreamingDecoder(this);
  }
}

let gpt2Singleton: Gpt2Tokenizer | undefined;

/** OpenAI's GPT-2 tokenizer from the files bundled in data/gpt2 (loaded once, then shared). */
export function loadGpt2Tokenizer(): Gpt2Tokenizer {
  if (!gpt2Singleton) {
    const t = Gpt2Tokenizer.fromFiles(
      dataPath('gpt2', 'encoder.json'),
      dataPath('gpt2', 'vocab.bpe'),
      'gpt2',
    );
    gpt2Singleton = t;
  }
  return gpt2Singleton;
}
