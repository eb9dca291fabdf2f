// Property-based tests (fast-check) for the GPT-2 tokenizer: decode(encode(s)) === s for any well-formed
// Unicode text, lone surrogates refused with an Error at the right index, and the streaming decoder equal
// to the batch decoder for any split of any ids. Runs are seeded (FC_SEED / FC_NUM_RUNS override).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { loadGpt2Tokenizer } from './gpt2.js';

const params = (numRuns: number): fc.Parameters<unknown> => ({
  seed: Number(process.env.FC_SEED ?? 42),
  numRuns: Number(process.env.FC_NUM_RUNS ?? numRuns),
  includeErrorInReport: true,
});

const tok = loadGpt2Tokenizer();
const EOT = '<|endoftext|>';

// Pieces where the GPT-2 pattern, the ASCII fast path or byte-level BPE have edge cases.
const TRICKY = [
  ' ',
  '  ',
  '   ',
  '\n',
  '\n\n',
  '\r\n',
  '\t',
  '\u00a0',
  '\u3000',
  "'s",
  "'t",
  "'re",
  "'ve",
  "'m",
  "'ll",
  "'d",
  "'S",
  ' a',
  'abc',
  ' Hello',
  '123',
  '4567',
  '!?',
  ' ...',
  'café',
  'naïve',
  'e\u0301',
  '\ufeff',
  '\ufffd',
  '\u0000',
  '\u007f',
  '中文',
  '日本語',
  '한국어',
  'Ελληνικά',
  'עברית',
  'العربية',
  '🤖',
  '👨‍👩‍👧',
  '🇫🇷',
  '\u{10ffff}',
  '\u{1d49c}',
];

const pieces = fc.array(
  fc.oneof(
    { weight: 3, arbitrary: fc.constantFrom(...TRICKY) },
    { weight: 2, arbitrary: fc.string({ unit: 'grapheme', maxLength: 6 }) },
    { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 6 }) },
    { weight: 1, arbitrary: fc.string({ unit: 'grapheme-ascii', maxLength: 12 }) },
  ),
  { maxLength: 16 },
);
const mixedText = pieces.map((p) => p.join(''));

// Lone surrogates are excluded from the round-trip properties: they are not valid Unicode scalar values, so
// they have no UTF-8 encoding (a UTF-8 encoder would turn each into U+FFFD and the text could not come back).
// gptkit's encode refuses them instead, with an Error naming the index; the last property checks that.
// fast-check's 'grapheme' and 'binary' units never produce lone surrogates.

test('decode(encode(s)) === s for any grapheme string', () => {
  fc.assert(
    fc.property(fc.string({ unit: 'grapheme', maxLength: 40 }), (s) => {
      assert.equal(tok.decode(tok.encode(s)), s);
    }),
    params(300),
  );
});

test('decode(encode(s)) === s for any string of code points (full Unicode range, no lone surrogates)', () => {
  fc.assert(
    fc.property(fc.string({ unit: 'binary', maxLength: 60 }), (s) => {
      assert.equal(tok.decode(tok.encode(s)), s);
      assert.deepEqual(tok.encodeOrdinary(s), tok.encode(s));
    }),
    params(300),
  );
});

test('decode(encode(s)) === s for mixed text with spaces, contractions, scripts, emoji and <|endoftext|>', () => {
  fc.assert(
    fc.property(
      fc.array(fc.oneof({ weight: 6, arbitrary: mixedText }, fc.constant(EOT)), { maxLength: 4 }),
      (parts) => {
        const s = parts.join('');
        const withSpecial = tok.encode(s, { allowedSpecial: 'all' });
        assert.equal(tok.decode(withSpecial), s);
        const ordinary = tok.encode(s, { disallowedSpecial: 'none' });
        assert.equal(tok.decode(ordinary), s);
        assert.deepEqual(tok.encodeOrdinary(s), ordinary);
        // <|endoftext|> is one id exactly when allowed.
        const count = parts.join('\u0000').split(EOT).length - 1;
        if (!s.includes(EOT)) assert.deepEqual(withSpecial, ordinary);
        assert.ok(withSpecial.filter((id) => id === tok.endOfTextId).length >= count);
        assert.ok(!ordinary.includes(tok.endOfTextId!));
      },
    ),
    params(200),
  );
});

/** Splits `ids` into consecutive chunks at the given cut points (any numbers; taken modulo length + 1). */
function split(ids: number[], cuts: number[]): number[][] {
  const at = [...new Set(cuts.map((c) => c % (ids.length + 1)))].sort((a, b) => a - b);
  const out: number[][] = [];
  let from = 0;
  for (const c of [...at, ids.length]) {
    out.push(ids.slice(from, c));
    from = c;
  }
  return out;
}

function streamed(ids: number[], cuts: number[], asNumbers: boolean): string {
  const dec = tok.streamingDecoder();
  let text = '';
  for (const chunk of split(ids, cuts)) {
    if (asNumbers && chunk.length === 1) text += dec.push(chunk[0]);
    else text += dec.push(chunk);
  }
  return text + dec.flush();
}

const cuts = fc.array(fc.nat(), { maxLength: 12 });

test('streaming decode equals decode for any split of the ids of any text', () => {
  fc.assert(
    fc.property(mixedText, cuts, fc.boolean(), (s, c, asNumbers) => {
      const ids = tok.encode(s);
      assert.equal(streamed(ids, c, asNumbers), tok.decode(ids));
      assert.equal(streamed(ids, c, asNumbers), s);
    }),
    params(200),
  );
});

test('streaming decode equals decode for any split of any ids (invalid UTF-8 included), and resets on flush', () => {
  const id = fc.oneof(
    fc.integer({ min: 0, max: tok.vocabSize - 1 }),
    // Single-byte tokens: continuation and lead bytes that make broken UTF-8 sequences.
    fc.integer({ min: 0x80, max: 0xff }).map((b) => tok.encode(String.fromCharCode(b))[0] ?? 0),
    fc.integer({ min: 0, max: 255 }),
  );
  fc.assert(
    fc.property(fc.array(id, { maxLength: 24 }), cuts, fc.boolean(), (ids, c, asNumbers) => {
      const expected = tok.decode(ids);
      assert.equal(streamed(ids, c, asNumbers), expected);
      // One decoder reused across two streams: flush() leaves nothing behind.
      const dec = tok.streamingDecoder();
      let first = '';
      for (const x of ids) first += dec.push(x);
      first += dec.flush();
      let second = '';
      for (const x of ids) second += dec.push(x);
      second += dec.flush();
      assert.equal(first, expected);
      assert.equal(second, expected);
    }),
    params(300),
  );
});

test('text with a lone surrogate: encode throws an Error naming the index of the first one', () => {
  const lone = fc.oneof(fc.integer({ min: 0xd800, max: 0xdbff }), fc.integer({ min: 0xdc00, max: 0xdfff }));
  fc.assert(
    fc.property(mixedText, fc.nat(), lone, mixedText, fc.boolean(), (a, at, unit, b, withEot) => {
      const prefix = a.slice(0, at % (a.length + 1));
      const s = prefix + (withEot ? EOT : '') + String.fromCharCode(unit) + b;
      // The first lone surrogate may come earlier: slicing `a` can split a pair, and the surrogate may
      // pair up with its neighbour.
      const first = [...s].findIndex(
        (ch) => ch.length === 1 && ch.charCodeAt(0) >= 0xd800 && ch.charCodeAt(0) <= 0xdfff,
      );
      const index = first < 0 ? -1 : [...s].slice(0, first).join('').length;
      for (const options of [{ disallowedSpecial: 'none' as const }, { allowedSpecial: 'all' as const }]) {
        let err: unknown;
        try {
          tok.encode(s, options);
        } catch (e) {
          err = e;
        }
        if (index < 0) {
          // The surrogate paired with a neighbour: well-formed text, which must round-trip.
          assert.equal(err, undefined);
          assert.equal(tok.decode(tok.encode(s, options)), s);
          continue;
        }
        assert.ok(err instanceof Error, `no Error for a lone surrogate at ${index}`);
        assert.match(
          err.message,
          new RegExp(`^encode: invalid UTF-16 at index ${index}: lone (high|low) surrogate`),
        );
      }
    }),
    params(200),
  );
});
