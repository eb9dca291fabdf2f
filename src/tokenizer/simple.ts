// The book's word-level tokenizers (chapter 2): a regex split, a vocabulary of the sorted unique
// words, SimpleTokenizerV1 (unknown words are an error) and V2 (<|unk|> and <|endoftext|>).
// For teaching and small experiments; real models use the GPT-2 BPE tokenizer in gpt2.ts.

// The book's `re.split(r'([,.:;?_!"()\']|--|\s)', text)`: the captured delimiters are kept.
const SPLIT = /([,.:;?_!"()']|--|\s)/;
// The book's decode clean-up `re.sub(r'\s+([,.?!"()\'])', r'\1', text)`.
const SPACE_BEFORE_PUNCT = /\s+([,.?!"()'])/g;

export const END_OF_TEXT = '<|endoftext|>';
export const UNKNOWN = '<|unk|>';

/** Splits text into words and punctuation as the book does, dropping empty and whitespace-only items. */
export function simpleTokenize(text: string): string[] {
  const out: string[] = [];
  for (const item of text.split(SPLIT)) {
    const t = item.trim();
    if (t !== '') out.push(t);
  }
  return out;
}

// Python compares strings by code point; JavaScript's default sort by UTF-16 code unit differs only
// when characters outside the BMP meet ones in U+E000..U+FFFF.
function compareCodePoints(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.codePointAt(i)!;
    const y = b.codePointAt(i)!;
    if (x !== y) return x - y;
    if (x > 0xffff) i++;
  }
  return a.length - b.length;
}

/** Vocabulary word -> id of the sorted unique tokens (Python's `sorted(set(tokens))`), plus `extra` at the end. */
export function buildVocab(text: string, extra: readonly string[] = []): Map<string, number> {
  const unique = [...new Set(simpleTokenize(text))].sort(compareCodePoints);
  const vocab = new Map<string, number>();
  for (const t of unique) vocab.set(t, vocab.size);
  for (const t of extra) if (!vocab.has(t)) vocab.set(t, vocab.size);
  return vocab;
}

/** Text of words joined with spaces, with the space before punctuation removed as the book does. */
function joinWords(words: readonly string[]): string {
  return words.join(' ').replace(SPACE_BEFORE_PUNCT, '$1');
}

abstract class WordTokenizer {
  readonly vocab: ReadonlyMap<string, number>;
  protected readonly words: string[];

  constructor(vocab: ReadonlyMap<string, number>) {
    this.vocab = vocab;
    this.words = [];
    for (const [w, id] of vocab) this.words[id] = w;
  }

  get vocabSize(): number {
    return this.words.length;
  }

  abstract encode(text: string): number[];

  decode(ids: readonly number[]): string {
    const words = ids.map((id, i) => {
      const w = Number.isInteger(id) ? this.words[id] : undefined;
      if (w === undefined)
        throw new Error(
          `decode: unknown token id ${id} at position ${i} (vocabulary has ids 0..${this.words.length - 1})`,
        );
      return w;
    });
    return joinWords(words);
  }
}

/** The book's SimpleTokenizerV1: a word not in the vocabulary is an error. */
export class SimpleTokenizerV1 extends WordTokenizer {
  encode(text: string): number[] {
    return simpleTokenize(text).map((w) => {
      const id = this.vocab.get(w);
      if (id === undefined) {
        throw new Error(
          `encode: the word ${JSON.stringify(w)} is not in the vocabulary (use SimpleTokenizerV2 to map unknown words to ${UNKNOWN})`,
        );
      }
      return id;
    });
  }
}

/** The book's SimpleTokenizerV2: unknown words become <|unk|>; the vocabulary must contain it. */
export class SimpleTokenizerV2 extends WordTokenizer {
  private readonly unknownId: number;

  constructor(vocab: ReadonlyMap<string, number>) {
    super(vocab);
    const unk = vocab.get(UNKNOWN);
    if (unk === undefined)
      throw new Error(
        `SimpleTokenizerV2: the vocabulary has no ${UNKNOWN} token; build it with buildVocab(text, ['${END_OF_TEXT}', '${UNKNOWN}'])`,
      );
    this.unknownId = unk;
  }

  /** Builds the book's V2 vocabulary from a text (unique words + <|endoftext|> + <|unk|>). */
  static fromText(text: string): SimpleTokenizerV2 {
    return new SimpleTokenizerV2(buildVocab(text, [END_OF_TEXT, UNKNOWN]));
  }

  encode(text: string): number[] {
    return simpleTokenize(text).map((w) => this.vocab.get(w) ?? this.unknownId);
  }
}
