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

/** True when the bytes are well-formed UTF-8 (no truncated, overlong or surrogate sequences). */
export function isWellFormedUtf8(b: Uint8Array): boolean {
  for (let i = 0; i < b.length;) {
    const x = b[i];
    if (x < 0x80) {
      i++;
      continue;
    }
    let need: number;
    let min: number;
    if (x >= 0xc2 && x <= 0xdf) [need, min] = [1, 0x80];
    else if (x >= 0xe0 && x <= 0xef) [need, min] = [2, 0x800];
    else if (x >= 0xf0 && x <= 0xf4) [need, min] = [3, 0x10000];
    else return false;
    if (i + need >= b.length) return false;
    let cp = x & (0x3f >> need);
    for (let k = 1; k <= need; k++) {
      const y = b[i + k];
      if ((y & 0xc0) !== 0x80) return false;
      cp = (cp << 6) | (y & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
    i += need + 1;
  }
  return true;
}
