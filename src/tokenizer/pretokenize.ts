// GPT-2 pre-tokenisation: splits text into the pieces that BPE then encodes one by one.
// A hand-written scanner with exactly the semantics of GPT2_PATTERN (tiktoken's r50k_base regex);
// it is not a general regex engine. The regex itself stays here as the specification and test oracle.

/**
 * The GPT-2 split pattern, as in OpenAI's encoder.py and tiktoken. `\s` is written as
 * `\p{White_Space}` because JavaScript's `\s` differs from Python's and Rust's on U+0085 and U+FEFF.
 */
export const GPT2_PATTERN =
  /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\p{White_Space}\p{L}\p{N}]+|\p{White_Space}+(?!\P{White_Space})|\p{White_Space}+/gu;

// Character classes of the pattern. OTHER is [^\s\p{L}\p{N}] (punctuation, symbols, marks, controls).
const LETTER = 1;
const NUMBER = 2;
const SPACE = 3;
const OTHER = 4;

const isLetter = /^\p{L}$/u;
const isNumber = /^\p{N}$/u;
const isSpace = /^\p{White_Space}$/u;

function classifyCodePoint(cp: number): number {
  const ch = String.fromCodePoint(cp);
  if (isLetter.test(ch)) return LETTER;
  if (isNumber.test(ch)) return NUMBER;
  if (isSpace.test(ch)) return SPACE;
  return OTHER;
}

// Classes of the Basic Multilingual Plane, filled on first use (0 = not yet classified): the regex
// property test costs ~100 ns, a table read ~1 ns, and real text reuses a small set of characters.
const bmpClass = new Uint8Array(0x10000);
for (let c = 0; c < 128; c++) bmpClass[c] = classifyCodePoint(c);
const astralClass = new Map<number, number>();

function classOfBmp(c: number): number {
  const k = bmpClass[c];
  if (k !== 0) return k;
  return (bmpClass[c] = classifyCodePoint(c));
}

function classOfAstral(cp: number): number {
  let k = astralClass.get(cp);
  if (k === undefined) {
    k = classifyCodePoint(cp);
    if (astralClass.size < 65536) astralClass.set(cp, k);
  }
  return k;
}

/** Thrown on a lone surrogate; carries the index so callers can report where the text is broken. */
export class InvalidUtf16Error extends Error {
  constructor(
    readonly index: number,
    codeUnit: number,
  ) {
    const kind = codeUnit <= 0xdbff ? 'high' : 'low';
    const hex = codeUnit.toString(16).toUpperCase().padStart(4, '0');
    super(
      `invalid UTF-16 at index ${index}: lone ${kind} surrogate U+${hex} ` +
        '(the text is not valid Unicode; repair it, e.g. with text.toWellFormed(), before encoding)',
    );
    this.name = 'InvalidUtf16Error';
  }
}

// Class of the code point at i packed with its width in code units: class | (width << 3).
function classAt(text: string, i: number, n: number): number {
  const c = text.charCodeAt(i);
  if (c < 0xd800 || c > 0xdfff) return classOfBmp(c) | 8;
  if (c <= 0xdbff && i + 1 < n) {
    const d = text.charCodeAt(i + 1);
    if (d >= 0xdc00 && d <= 0xdfff) return classOfAstral(((c - 0xd800) << 10) + (d - 0xdc00) + 0x10000) | 16;
  }
  throw new InvalidUtf16Error(i, c);
}

// End of the run of characters of class `cls` starting at j.
function runEnd(text: string, j: number, n: number, cls: number): number {
  while (j < n) {
    const c = text.charCodeAt(j);
    if (c < 0xd800) {
      if (bmpClass[c] === cls) {
        j++;
        continue;
      }
      if (c < 128 || classOfBmp(c) !== cls) return j;
      j++;
      continue;
    }
    const k = classAt(text, j, n);
    if ((k & 7) !== cls) return j;
    j += k >> 3;
  }
  return j;
}

function isContractionTail(text: string, i: number, n: number): number {
  // The contraction alternatives of the pattern are case-sensitive: "'S" is not one.
  if (i + 1 >= n) return 0;
  const a = text.charCodeAt(i + 1);
  if (a === 115 || a === 116 || a === 109 || a === 100) return 2; // s t m d
  if (i + 2 >= n) return 0;
  const b = text.charCodeAt(i + 2);
  if ((a === 114 && b === 101) || (a === 118 && b === 101) || (a === 108 && b === 108)) return 3; // re ve ll
  return 0;
}

/**
 * End (exclusive) of the GPT-2 piece that starts at `start`; `start` must be < text.length.
 * Linear in the piece length: no backtracking beyond the single step of `\s+(?!\S)`.
 */
export function gpt2PieceEnd(text: string, start: number): number {
  const n = text.length;
  let c = text.charCodeAt(start);
  if (c === 39) {
    const len = isContractionTail(text, start, n);
    if (len > 0) return start + len;
  }
  let j = start;
  if (c === 32 && start + 1 < n) {
    // ` ?\p{L}+` and friends: a single U+0020 attaches to the run that follows it.
    const k = classAt(text, start + 1, n);
    const cls = k & 7;
    if (cls !== SPACE) return runEnd(text, start + 1 + (k >> 3), n, cls);
    c = 32;
  }
  const k = c < 0xd800 ? classOfBmp(c) | 8 : classAt(text, j, n);
  const cls = k & 7;
  if (cls !== SPACE) return runEnd(text, j + (k >> 3), n, cls);
  // Whitespace: `\s+(?!\S)` takes the whole run at the end of the text, or all but its last character
  // when non-space follows (that character then prefixes the next piece); a single one falls to `\s+`.
  j = runEnd(text, j + 1, n, SPACE);
  if (j === n || j - start === 1) return j;
  return j - 1;
}

/** The GPT-2 pieces of `text`, in order. Throws InvalidUtf16Error on a lone surrogate. */
export function splitGpt2(text: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < text.length;) {
    const end = gpt2PieceEnd(text, i);
    out.push(text.slice(i, end));
    i = end;
  }
  return out;
}

/** The class constants, for the encoder's inlined ASCII fast path. */
export const PIECE_CLASS = { LETTER, NUMBER, SPACE, OTHER } as const;

/** Class of an ASCII code unit (0..127). */
export function asciiClass(c: number): number {
  return bmpClass[c];
}
