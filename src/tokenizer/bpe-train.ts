// BPE training. BpeTokenizerSimple is the book's bonus-material tokenizer (ch02/05_bpe-from-scratch,
// `BPETokenizerSimple`): characters, spaces as "Ġ", merges learned inside words. trainByteLevelBpe
// trains a GPT-2-style byte-level vocabulary that Gpt2Tokenizer loads. Neither is tuned for huge corpora.

import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { BYTE_TO_CHAR, GPT2_BYTE_ORDER, utf8Bytes } from './byte-level.js';
import { formatEncoderJson, formatVocabBpe } from './gpt2-files.js';
import { Gpt2Tokenizer, type AllowedSpecial } from './gpt2.js';
import { MergeTrainer, type TrainingWord } from './merge-trainer.js';
import { PairTable } from './pair-table.js';
import { InvalidUtf16Error, splitGpt2 } from './pretokenize.js';
import { checkDisallowedSpecials, splitOnSpecials } from './special-split.js';

/** Called after each merge during training: merges done so far, and the most that will be done. */
export type TrainProgress = (done: number, total: number) => void;

export interface SimpleBpeTrainOptions {
  /**
   * Size of the final vocabulary: 256 characters + the text's other characters + "Ġ" + specials + merges.
   * Smaller than the vocabulary before any merge is a VocabSizeError that gives the smallest possible.
   */
  vocabSize: number;
  /** Special tokens added to the vocabulary (the book's `allowed_special`). Default: <|endoftext|>. */
  allowedSpecial?: Iterable<string>;
  onProgress?: TrainProgress;
}

export interface SimpleBpeEncodeOptions {
  allowedSpecial?: AllowedSpecial;
  disallowedSpecial?: 'all' | 'none';
}

/** The JSON form written by BpeTokenizerSimple.save (one file: vocabulary, merges, special tokens). */
export interface SimpleBpeFile {
  format: 'gptkit-bpe-simple';
  version: 1;
  vocab: string[];
  merges: Array<[number, number, number]>;
  specialTokens: Record<string, number>;
}

const SPACE_MARK = 'Ġ';

/**
 * The book's pre-tokenisation: a newline is its own chunk, a word takes the single space before it
 * (as "Ġ"), and any further spaces are chunks of their own, so decoding restores the text exactly.
 */
function bookChunks(text: string, from: number, to: number, each: (chunk: string, at: number) => void): void {
  const re = /\n| ?[^ \n]+| /g;
  const part = text.slice(from, to);
  for (let m = re.exec(part); m !== null; m = re.exec(part)) {
    const c = m[0];
    each(c.charCodeAt(0) === 32 ? SPACE_MARK + c.slice(1) : c, from + m.index);
  }
}

function compareCodePoints(a: string, b: string): number {
  return a.codePointAt(0)! - b.codePointAt(0)!;
}

const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : 's'}`;

/**
 * A vocabulary size smaller than the base vocabulary the trainer starts from (before any merge), which
 * would otherwise be exceeded silently. `minimum` is the smallest size that works; `base` says why.
 */
export class VocabSizeError extends Error {
  constructor(
    readonly requested: number,
    readonly minimum: number,
    readonly base: string,
    trainer: string,
  ) {
    super(`${trainer}: vocabSize must be an integer of at least ${minimum} (${base}), got ${requested}`);
    this.name = 'VocabSizeError';
  }
}

export class BpeTokenizerSimple {
  /** Token strings by id ("Ġ" stands for a space). */
  readonly vocab: readonly string[];
  /** Merges in the order learned: [left id, right id, new id]. */
  readonly merges: ReadonlyArray<readonly [number, number, number]>;
  readonly specialTokens: ReadonlyMap<string, number>;
  private readonly inverse = new Map<string, number>();
  private readonly mergeTable = new PairTable(1024);

  private constructor(
    vocab: string[],
    merges: Array<[number, number, number]>,
    specials: Map<string, number>,
  ) {
    this.vocab = vocab;
    this.merges = merges;
    this.specialTokens = specials;
    // As the book: later entries win when two merges spell the same string.
    vocab.forEach((t, id) => this.inverse.set(t, id));
    for (const [l, r, id] of merges) this.mergeTable.setIfAbsent(l, r, id);
  }

  get vocabSize(): number {
    return this.vocab.length;
  }

  /**
   * Trains on `text` until the vocabulary has `vocabSize` entries (or no pair is left). Each step merges
   * the most frequent adjacent pair inside the words; ties go to the pair that occurs first in the text.
   * Text between special tokens is trained on separately, so no merge spans one.
   */
  static train(text: string, options: SimpleBpeTrainOptions): BpeTokenizerSimple {
    const specials = [...(options.allowedSpecial ?? ['<|endoftext|>'])];
    const chunkIndex = new Map<string, number>();
    const chunkList: string[] = [];
    const counts: number[] = [];
    const addChunk = (c: string): void => {
      const i = chunkIndex.get(c);
      if (i !== undefined) counts[i]++;
      else {
        chunkIndex.set(c, chunkList.length);
        chunkList.push(c);
        counts.push(1);
      }
    };
    splitOnSpecials(
      text,
      new Set(specials),
      (from, to) => bookChunks(text, from, to, addChunk),
      () => {},
    );

    // The book's initial vocabulary: chr(0..255), then the text's other characters sorted, then "Ġ".
    const vocab: string[] = [];
    for (let i = 0; i < 256; i++) vocab.push(String.fromCharCode(i));
    const extra = new Set<string>();
    for (const c of chunkList) for (const ch of c) if (ch.codePointAt(0)! > 255) extra.add(ch);
    vocab.push(...[...extra].sort(compareCodePoints));
    if (!extra.has(SPACE_MARK)) vocab.push(SPACE_MARK);
    const specialIds = new Map<string, number>();
    let addedSpecials = 0;
    for (const s of specials) {
      if (!vocab.includes(s)) {
        vocab.push(s);
        addedSpecials++;
      }
      specialIds.set(s, vocab.indexOf(s));
    }
    if (!Number.isInteger(options.vocabSize) || options.vocabSize < vocab.length) {
      const others = extra.size - (extra.has(SPACE_MARK) ? 1 : 0);
      const parts = ['256 single characters'];
      if (others > 0) parts.push(`${plural(others, 'other character')} of the text`);
      parts.push('"Ġ" for a space');
      if (addedSpecials > 0) parts.push(plural(addedSpecials, 'special token'));
      throw new VocabSizeError(
        options.vocabSize,
        vocab.length,
        parts.join(' + '),
        'BpeTokenizerSimple.train',
      );
    }
    const idOf = new Map<string, number>();
    vocab.forEach((t, id) => idOf.set(t, id));

    const words: TrainingWord[] = chunkList.map((c, i) => ({
      symbols: Array.from(c, (ch) => idOf.get(ch)!),
      count: counts[i],
    }));
    const trainer = new MergeTrainer(words);
    const merges: Array<[number, number, number]> = [];
    const total = Math.max(0, options.vocabSize - vocab.length);
    while (vocab.length < options.vocabSize) {
      const best = trainer.best();
      if (!best) break;
      const id = vocab.length;
      trainer.merge(best.left, best.right, id);
      merges.push([best.left, best.right, id]);
      vocab.push(vocab[best.left] + vocab[best.right]);
      options.onProgress?.(merges.length, total);
    }
    return new BpeTokenizerSimple(vocab, merges, specialIds);
  }

  /** Token ids of `text`; special tokens follow the same rules as Gpt2Tokenizer.encode. */
  encode(text: string, options: SimpleBpeEncodeOptions = {}): number[] {
    const allowed: ReadonlySet<string> =
      options.allowedSpecial === 'all'
        ? new Set(this.specialTokens.keys())
        : (options.allowedSpecial ?? new Set());
    for (const s of allowed)
      if (!this.specialTokens.has(s))
        throw new Error(`encode: ${JSON.stringify(s)} is not a special token of this tokenizer`);
    if ((options.disallowedSpecial ?? 'all') === 'all')
      checkDisallowedSpecials(text, this.specialTokens, allowed);
    const out: number[] = [];
    splitOnSpecials(
      text,
      allowed,
      (from, to) => bookChunks(text, from, to, (chunk, at) => this.encodeChunk(chunk, at, out)),
      (token) => out.push(this.specialTokens.get(token)!),
    );
    return out;
  }

  // The book's tokenize_with_bpe for a trained tokenizer: whole-chunk lookup, else repeated left-to-right
  // passes that merge any adjacent pair with a learned merge (pass order, not merge rank).
  private encodeChunk(chunk: string, at: number, out: number[]): void {
    const whole = this.inverse.get(chunk);
    if (whole !== undefined) {
      out.push(whole);
      return;
    }
    let ids: number[] = [];
    let offset = at;
    for (const ch of chunk) {
      const id = this.inverse.get(ch);
      if (id === undefined) {
        const cp = ch.codePointAt(0)!;
        if (cp >= 0xd800 && cp <= 0xdfff)
          throw new Error(`encode: ${new InvalidUtf16Error(offset, cp).message}`);
        const hex = cp.toString(16).toUpperCase().padStart(4, '0');
        throw new Error(
          `encode: character ${JSON.stringify(ch)} (U+${hex}) at index ${offset} is not in the vocabulary (it did not occur in the training text)`,
        );
      }
      ids.push(id);
      offset += ch.length;
    }
    let merged = true;
    while (merged && ids.length > 1) {
      merged = false;
      const next: number[] = [];
      let i = 0;
      while (i < ids.length - 1) {
        const m = this.mergeTable.get(ids[i], ids[i + 1]);
        if (m >= 0) {
          next.push(m);
          i += 2;
          merged = true;
        } else next.push(ids[i++]);
      }
      if (i < ids.length) next.push(ids[i]);
      ids = next;
    }
    for (const id of ids) out.push(id);
  }

  /** Text of the ids ("Ġ" back to spaces). Throws on an unknown id, naming it and its position. */
  decode(ids: readonly number[]): string {
    let s = '';
    ids.forEach((id, i) => {
      const t = Number.isInteger(id) ? this.vocab[id] : undefined;
      if (t === undefined)
        throw new Error(
          `decode: unknown token id ${id} at position ${i} (vocabulary has ids 0..${this.vocab.length - 1})`,
        );
      s += this.specialTokens.has(t) ? t : t.replaceAll(SPACE_MARK, ' ');
    });
    return s;
  }

  toJSON(): SimpleBpeFile {
    return {
      format: 'gptkit-bpe-simple',
      version: 1,
      vocab: [...this.vocab],
      merges: this.merges.map(([l, r, id]) => [l, r, id]),
      specialTokens: Object.fromEntries(this.specialTokens),
    };
  }

  /** Rebuilds a tokenizer from toJSON()'s output; `source` names the origin in error messages. */
  static fromJSON(data: unknown, source = 'tokenizer JSON'): BpeTokenizerSimple {
    const fail = (what: string): never => {
      throw new Error(`${source}: ${what}`);
    };
    const d = data as Partial<SimpleBpeFile> | null;
    if (!d || typeof d !== 'object' || d.format !== 'gptkit-bpe-simple')
      fail('not a gptkit-bpe-simple file (missing "format": "gptkit-bpe-simple")');
    if (d!.version !== 1) fail(`unsupported version ${JSON.stringify(d!.version)} (expected 1)`);
    const vocab = d!.vocab;
    if (!Array.isArray(vocab) || !vocab.every((t) => typeof t === 'string'))
      fail('"vocab" must be an array of strings');
    const merges = d!.merges;
    if (!Array.isArray(merges)) fail('"merges" must be an array of [left, right, newId]');
    const n = vocab!.length;
    merges!.forEach((m, i) => {
      const ok = Array.isArray(m) && m.length === 3 && m.every((x) => Number.isInteger(x) && x >= 0 && x < n);
      if (!ok)
        fail(`merges[${i}] must be [left, right, newId] with ids in 0..${n - 1}, got ${JSON.stringify(m)}`);
      if (vocab![m[2]] !== vocab![m[0]] + vocab![m[1]])
        fail(`merges[${i}]: vocab[${m[2]}] is not vocab[${m[0]}] + vocab[${m[1]}]`);
    });
    const specials = new Map<string, number>();
    for (const [t, id] of Object.entries(d!.specialTokens ?? {})) {
      if (vocab![id] !== t) fail(`special token ${JSON.stringify(t)} does not match vocab[${id}]`);
      specials.set(t, id);
    }
    return new BpeTokenizerSimple(
      [...vocab!],
      merges!.map(([l, r, id]) => [l, r, id]),
      specials,
    );
  }

  /** Writes the tokenizer as one JSON file. */
  save(path: string): void {
    writeFileSync(path, JSON.stringify(this.toJSON()));
  }

  static load(path: string): BpeTokenizerSimple {
    let data: unknown;
    try {
      data = JSON.parse(readFileSync(path, 'utf8'));
    } catch (err) {
      throw new Error(`${path}: cannot read tokenizer (${err instanceof Error ? err.message : String(err)})`);
    }
    return BpeTokenizerSimple.fromJSON(data, path);
  }
}

// ------------------------------------------------------------------------------------------------
// GPT-2-style byte-level training

export interface ByteLevelTrainOptions {
  /** Final vocabulary size: 256 byte tokens + merges + special tokens. */
  vocabSize: number;
  /** Special tokens, appended after the merged tokens. Default: <|endoftext|>. */
  specialTokens?: readonly string[];
  onProgress?: TrainProgress;
}

/** A trained byte-level BPE in GPT-2's file form: encoder.json's map and vocab.bpe's merges. */
export interface ByteLevelBpe {
  encoder: Map<string, number>;
  merges: Array<[string, string]>;
  specialTokens: Record<string, number>;
}

/**
 * Trains a byte-level BPE as GPT-2's was: GPT-2 pre-tokenisation, bytes as the 256 base tokens (ids in
 * GPT-2's byte order), merges of the most frequent adjacent pair within pieces (ties: first seen).
 */
export function trainByteLevelBpe(text: string, options: ByteLevelTrainOptions): ByteLevelBpe {
  const specials = [...(options.specialTokens ?? ['<|endoftext|>'])];
  const targetMerges = options.vocabSize - 256 - specials.length;
  if (!Number.isInteger(options.vocabSize) || targetMerges < 0) {
    throw new VocabSizeError(
      options.vocabSize,
      256 + specials.length,
      `256 bytes + ${plural(specials.length, 'special token')}`,
      'trainByteLevelBpe',
    );
  }
  const pieceIndex = new Map<string, number>();
  const pieces: string[] = [];
  const counts: number[] = [];
  splitOnSpecials(
    text,
    new Set(specials),
    (from, to) => {
      let parts: string[];
      try {
        parts = splitGpt2(text.slice(from, to));
      } catch (err) {
        if (err instanceof InvalidUtf16Error)
          throw new Error(
            `trainByteLevelBpe: ${err.message.replace(/index \d+/, `index ${from + err.index}`)}`,
          );
        throw err;
      }
      for (const p of parts) {
        const i = pieceIndex.get(p);
        if (i !== undefined) counts[i]++;
        else {
          pieceIndex.set(p, pieces.length);
          pieces.push(p);
          counts.push(1);
        }
      }
    },
    () => {},
  );

  const byteId = new Int32Array(256);
  const tokens: string[] = [];
  GPT2_BYTE_ORDER.forEach((b, i) => {
    byteId[b] = i;
    tokens.push(BYTE_TO_CHAR[b]);
  });
  const encoder = new Map<string, number>(tokens.map((t, i) => [t, i]));
  const words: TrainingWord[] = pieces.map((p, i) => ({
    symbols: Array.from(utf8Bytes(p), (b) => byteId[b]),
    count: counts[i],
  }));
  const trainer = new MergeTrainer(words);
  const merges: Array<[string, string]> = [];
  while (merges.length < targetMerges) {
    const best = trainer.best();
    if (!best) break;
    const a = tokens[best.left];
    const b = tokens[best.right];
    // Two different pairs can spell the same bytes; the token then keeps its first id.
    let id = encoder.get(a + b);
    if (id === undefined) {
      id = tokens.length;
      tokens.push(a + b);
      encoder.set(a + b, id);
    }
    trainer.merge(best.left, best.right, id);
    merges.push([a, b]);
    options.onProgress?.(merges.length, targetMerges);
  }
  const specialTokens: Record<string, number> = {};
  for (const s of specials) {
    specialTokens[s] = tokens.length;
    encoder.set(s, tokens.length);
    tokens.push(s);
  }
  return { encoder, merges, specialTokens };
}

/** A Gpt2Tokenizer over a trained byte-level BPE. */
export function byteLevelTokenizer(bpe: ByteLevelBpe, name = 'byte-level BPE'): Gpt2Tokenizer {
  return new Gpt2Tokenizer({
    encoder: bpe.encoder,
    merges: bpe.merges,
    specialTokens: bpe.specialTokens,
    name,
  });
}

/**
 * Writes encoder.json and vocab.bpe into `dir` (created if missing); Gpt2Tokenizer.fromDirectory reads
 * them. Special tokens live in encoder.json, so on loading only those spelled `<|...|>` are special again.
 */
export function saveByteLevelBpe(dir: string, bpe: ByteLevelBpe): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'encoder.json'), formatEncoderJson(bpe.encoder));
  writeFileSync(join(dir, 'vocab.bpe'), formatVocabBpe(bpe.merges));
}
