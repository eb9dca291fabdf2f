// Invalid UTF-8 input: where the first invalid sequence is and how many U+FFFD decoding writes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeUtf8Input, findInvalidUtf8 } from './utf8-input.js';

const bytes = (...xs: number[]): Uint8Array => Uint8Array.from(xs);

test('findInvalidUtf8: null for valid text, else the first offset and the decoder count', () => {
  assert.equal(findInvalidUtf8(Buffer.from('naïve 🤖 \ufffd text')), null);
  assert.equal(findInvalidUtf8(bytes()), null);
  assert.deepEqual(findInvalidUtf8(bytes(0x61, 0xff, 0x62)), { offset: 1, count: 1 });
  // A truncated 4-byte sequence is one replacement; the next byte starts afresh.
  assert.deepEqual(findInvalidUtf8(bytes(0x61, 0x62, 0xf0, 0x9f, 0x61, 0x80)), { offset: 2, count: 2 });
  // Surrogates and overlongs: each byte of ED A0 80 and C0 80 is its own replacement.
  assert.deepEqual(findInvalidUtf8(bytes(0xed, 0xa0, 0x80)), { offset: 0, count: 3 });
  assert.deepEqual(findInvalidUtf8(bytes(0x41, 0xc0, 0x80)), { offset: 1, count: 2 });
  // Truncated at the end of the input.
  assert.deepEqual(findInvalidUtf8(bytes(0x41, 0xe2, 0x82)), { offset: 1, count: 1 });
});

test('findInvalidUtf8 agrees with TextDecoder on random bytes', () => {
  // No 0xEF, so every U+FFFD in the decoded text is a replacement, not an encoded U+FFFD.
  const alphabet = [0x41, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xc2, 0xdf, 0xe0, 0xe1, 0xed];
  alphabet.push(0xf0, 0xf4, 0xf5, 0xff);
  const decoder = new TextDecoder('utf-8', { ignoreBOM: true });
  let seed = 7;
  const rand = (n: number): number => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) >>> 8) % n;
  for (let trial = 0; trial < 2000; trial++) {
    const b = Uint8Array.from({ length: 1 + rand(12) }, () => alphabet[rand(alphabet.length)]);
    const text = decoder.decode(b);
    const replaced = [...text].filter((c) => c === '\ufffd').length;
    const got = findInvalidUtf8(b);
    if (replaced === 0) {
      assert.equal(got, null, `trial ${trial}`);
      continue;
    }
    const validPrefix = Buffer.byteLength(text.slice(0, text.indexOf('\ufffd')), 'utf8');
    assert.deepEqual(got, { offset: validPrefix, count: replaced }, `trial ${trial}: ${[...b]}`);
  }
});

test('decodeUtf8Input warns once with offset and count, or refuses with strict', () => {
  const warnings: string[] = [];
  const warn = (s: string): void => void warnings.push(s);
  assert.equal(decodeUtf8Input(Buffer.from('\ufeffok é'), '--file a.txt', { warn }), '\ufeffok é');
  assert.deepEqual(warnings, []);
  const bad = bytes(0x68, 0x69, 0xff, 0x20, 0xc3);
  assert.equal(decodeUtf8Input(bad, '--file a.txt', { warn }), 'hi\ufffd \ufffd');
  assert.deepEqual(warnings, [
    'gptkit: warning: --file a.txt is not valid UTF-8: 2 invalid byte sequences, the first at byte offset 2; ' +
      'they were replaced with U+FFFD (pass --strict to refuse such input)\n',
  ]);
  assert.throws(
    () => decodeUtf8Input(bad, 'standard input', { strict: true, warn }),
    /^Error: standard input is not valid UTF-8: 2 invalid byte sequences, the first at byte offset 2 \(--strict refuses/,
  );
  assert.equal(warnings.length, 1);
});
