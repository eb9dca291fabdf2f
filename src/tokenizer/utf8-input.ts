// Decoding UTF-8 input (a file, standard input) without silently hiding invalid bytes: a decoder
// replaces each invalid sequence with U+FFFD, and the command line wants to say where and how many.

const fatalUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const lenientUtf8 = new TextDecoder('utf-8', { ignoreBOM: true });

/** Where the first invalid UTF-8 sequence starts (a byte offset), and how many U+FFFD a decoder writes. */
export interface InvalidUtf8 {
  offset: number;
  count: number;
}

/**
 * Finds the invalid sequences of `bytes` as the WHATWG UTF-8 decoder (TextDecoder, Buffer#toString)
 * sees them: each maximal invalid subpart counts once, so `count` is the number of U+FFFD that
 * decoding writes. Null when the bytes are valid UTF-8.
 */
export function findInvalidUtf8(bytes: Uint8Array): InvalidUtf8 | null {
  try {
    fatalUtf8.decode(bytes);
    return null;
  } catch {
    // Invalid somewhere: scan for where, and how many.
  }
  let offset = -1;
  let count = 0;
  const invalid = (at: number): void => {
    if (offset < 0) offset = at;
    count++;
  };
  let needed = 0;
  let seen = 0;
  let start = 0;
  let lower = 0x80;
  let upper = 0xbf;
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i];
    if (needed === 0) {
      start = i;
      if (b <= 0x7f) continue;
      if (b >= 0xc2 && b <= 0xdf) needed = 1;
      else if (b >= 0xe0 && b <= 0xef) {
        if (b === 0xe0) lower = 0xa0;
        if (b === 0xed) upper = 0x9f;
        needed = 2;
      } else if (b >= 0xf0 && b <= 0xf4) {
        if (b === 0xf0) lower = 0x90;
        if (b === 0xf4) upper = 0x8f;
        needed = 3;
      } else invalid(i);
      continue;
    }
    if (b < lower || b > upper) {
      // The sequence so far is one invalid subpart; this byte starts afresh.
      needed = seen = 0;
      lower = 0x80;
      upper = 0xbf;
      invalid(start);
      i--;
      continue;
    }
    lower = 0x80;
    upper = 0xbf;
    if (++seen === needed) needed = seen = 0;
  }
  if (needed !== 0) invalid(start);
  return { offset, count };
}

/** What decodeUtf8Input does with invalid input: warn and replace, or refuse (`strict`). */
export interface DecodeInputOptions {
  strict?: boolean;
  /** Receives one line (newline included) when invalid sequences are replaced. */
  warn: (text: string) => void;
}

/**
 * Decodes the bytes of `source` (e.g. "--file notes.txt", "standard input"). Invalid sequences become
 * U+FFFD with a warning naming the first one's byte offset and the count; with `strict` they are an error.
 */
export function decodeUtf8Input(bytes: Uint8Array, source: string, options: DecodeInputOptions): string {
  const bad = findInvalidUtf8(bytes);
  if (bad === null) return fatalUtf8.decode(bytes);
  const what =
    `${source} is not valid UTF-8: ${bad.count} invalid byte sequence${bad.count === 1 ? '' : 's'}, ` +
    `the first at byte offset ${bad.offset}`;
  if (options.strict)
    throw new Error(`${what} (--strict refuses such input; convert the text to UTF-8 or drop --strict)`);
  options.warn(
    `gptkit: warning: ${what}; ${bad.count === 1 ? 'it was' : 'they were'} replaced with U+FFFD (pass --strict to refuse such input)\n`,
  );
  return lenientUtf8.decode(bytes);
}
