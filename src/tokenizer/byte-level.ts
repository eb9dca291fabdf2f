// GPT-2's reversible byte <-> printable-character mapping (`bytes_to_unicode` in OpenAI's encoder.py)
// and small UTF-8 helpers. Not a tokenizer: gpt2.ts and bpe-train.ts build on these tables.

/**
 * Bytes in the order GPT-2 gives them ids 0..255: the printable Latin-1 ranges first
 * ('!'..'~', '¡'..'¬', '®'..'ÿ'), then the remaining 68 bytes, which map to U+0100 and up.
 */
export const GPT2_BYTE_ORDER: readonly number[] = (() => {
  const printable: number[] = [];
  for (let b = 0x21; b <= 0x7e; b++) printable.push(b);
  for (let b = 0xa1; b <= 0xac; b++) printable.push(b);
  for (let b = 0xae; b <= 0xff; b++) printable.push(b);
  const rest: number[] = [];
  for (let b = 0; b < 256; b++) if (!printable.includes(b)) rest.push(b);
  return [...printable, ...rest];
})();

/** BYTE_TO_CHAR[b] is the one-character string GPT-2's vocabulary files use for byte b (space -> 'Ġ'). */
export const BYTE_TO_CHAR: readonly string[] = (() => {
  const out = new Array<string>(256);
  let extra = 0;
  for (const b of GPT2_BYTE_ORDER) {
    const printable = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
    out[b] = String.fromCharCode(printable ? b : 256 + extra++);
  }
  return out;
})();

// Inverse of BYTE_TO_CHAR, indexed by UTF-16 code unit; -1 where the character stands for no byte.
const CHAR_TO_BYTE = (() => {
  const t = new Int16Array(512).fill(-1);
  for (let b = 0; b < 256; b++) t[BYTE_TO_CHAR[b].charCodeAt(0)] = b;
  return t;
})();

/** The byte a vocabulary-file character stands for, or -1 when it is not one of the 256 byte characters. */
export function charToByte(codeUnit: number): number {
  return codeUnit < 512 ? CHAR_TO_BYTE[codeUnit] : -1;
}

/** Vocabulary-file form of raw bytes ("Ġthe" for " the"). */
export function bytesToTokenString(bytes: ArrayLike<number>): string {
  let s = '';
  for (let i = 0; i < bytes.length; i++) s += BYTE_TO_CHAR[bytes[i]];
  return s;
}

/** Raw bytes of a vocabulary-file token string, or null when a character is not a byte character. */
export function tokenStringToBytes(token: string): Uint8Array | null {
  const out = new Uint8Array(token.length);
  for (let i = 0; i < token.length; i++) {
    const b = charToByte(token.charCodeAt(i));
    if (b < 0) return null;
    out[i] = b;
  }
  return out;
}

const utf8Encoder = new TextEncoder();

/** UTF-8 bytes of a string that the caller has already checked is well-formed UTF-16. */
export function utf8Bytes(text: string): Uint8Array {
  return utf8Encoder.encode(text);
}

/**
 * Index of the first lone surrogate in `text` (starting at `from`), or -1 if the text is well-formed.
 * Lone surrogates have no UTF-8 encoding, so byte-level tokenizers must refuse them rather than guess.
 */
export function findLoneSurrogate(text: string, from = 0): number {
  for (let i = from; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0xd800 || c > 0xdfff) continue;
    if (c <= 0xdbff) {
      const d = i + 1 < text.length ? text.charCodeAt(i + 1) : 0;
      if (d >= 0xdc00 && d <= 0xdfff) {
        i++;
        continue;
      }
    }
    return i;
  }
  return -1;
}

/** The error thrown for invalid UTF-16: says where and what, so the caller can find the bad input. */
export function loneSurrogateError(text: string, index: number, where: string): Error {
  const c = text.charCodeAt(index);
  const kind = c <= 0xdbff ? 'high' : 'low';
  const hex = c.toString(16).toUpperCase().padStart(4, '0');
  return new Error(
    `${where}: invalid UTF-16 at index ${index}: lone ${kind} surrogate U+${hex} ` +
      '(the text is not valid Unicode; repair it, e.g. with text.toWellFormed(), before encoding)',
  );
}
