// Splitting text around special-token occurrences (e.g. <|endoftext|>), shared by the tokenizers.
// Only the scanning: which specials are allowed and what an occurrence becomes is the caller's business.

/**
 * Calls `plain(from, to)` for each stretch of text between occurrences of the given special tokens and
 * `special(token)` for each occurrence, in order. The earliest occurrence wins, the longest on a tie.
 * Linear in the text: each token's next position is searched again only once it has been passed.
 */
export function splitOnSpecials(
  text: string,
  specials: ReadonlySet<string>,
  plain: (from: number, to: number) => void,
  special: (token: string) => void,
): void {
  const tokens = [...specials].filter((s) => s.length > 0);
  const next = tokens.map((s) => text.indexOf(s));
  let pos = 0;
  for (;;) {
    let best = -1;
    for (let k = 0; k < tokens.length; k++) {
      if (next[k] >= 0 && next[k] < pos) next[k] = text.indexOf(tokens[k], pos);
      if (next[k] < 0) continue;
      if (
        best < 0 ||
        next[k] < next[best] ||
        (next[k] === next[best] && tokens[k].length > tokens[best].length)
      )
        best = k;
    }
    if (best < 0) break;
    plain(pos, next[best]);
    special(tokens[best]);
    pos = next[best] + tokens[best].length;
  }
  plain(pos, text.length);
}

/**
 * tiktoken's rule for special tokens that are not allowed: their text in the input is an error (they
 * could otherwise be injected by user text). The message says where, and both ways out.
 */
export function checkDisallowedSpecials(
  text: string,
  specials: ReadonlyMap<string, number>,
  allowed: ReadonlySet<string>,
): void {
  let index = -1;
  let token = '';
  for (const s of specials.keys()) {
    if (allowed.has(s)) continue;
    const at = text.indexOf(s);
    if (at >= 0 && (index < 0 || at < index)) [index, token] = [at, s];
  }
  if (index < 0) return;
  throw new Error(
    `encode: the text contains the special token ${JSON.stringify(token)} at index ${index}, which is not allowed. ` +
      `To encode it as the special token (id ${specials.get(token)}), pass { allowedSpecial: new Set([${JSON.stringify(token)}]) } ` +
      `or { allowedSpecial: 'all' }; to encode it as ordinary text, pass { disallowedSpecial: 'none' }.`,
  );
}
