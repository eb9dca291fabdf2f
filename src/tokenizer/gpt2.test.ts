// GPT-2 tokenizer tests: the reference fixture table (OpenAI's encoder), special tokens as tiktoken,
// linear time on long runs, streaming decode, and clear errors for bad input and corrupt files.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { dataPath } from '../data/paths.js';
import { BYTE_TO_CHAR, GPT2_BYTE_ORDER } from './byte-level.js';
import { Gpt2Tokenizer, loadGpt2Tokenizer } from './gpt2.js';

// dist/src/tokenizer/gpt2.test.js -> the repository root, which holds test/fixtures.
const fixtureFile = fileURLToPath(
  new URL('../../../test/fixtures/tokenizer/gpt2-cases.json', import.meta.url),
);

interface FixtureCase {
  text?: string;
  file?: string;
  ids: number[];
}

test('matches every case of the reference table (gpt2-cases.json)', () => {
  const tok = loadGpt2Tokenizer();
  const { cases } = JSON.parse(readFileSync(fixtureFile, 'utf8')) as { cases: FixtureCase[] };
  assert.ok(cases.length >= 15);
  for (const c of cases) {
    const text = c.text ?? readFileSync(dataPath(c.file!), 'utf8');
    const label = c.file ?? JSON.stringify(text).slice(0, 60);
    assert.deepEqual(tok.encode(text), c.ids, label);
    assert.equal(tok.decode(c.ids), text, `decode ${label}`);
  }
});

test('the-verdict.txt is 5,145 tokens starting as in the book', () => {
  const tok = loadGpt2Tokenizer();
  const ids = tok.encode(readFileSync(dataPath('the-verdict.txt'), 'utf8'));
  assert.equal(ids.length, 5145);
  assert.deepEqual(ids.slice(0, 8), [40, 367, 2885, 1464, 1807, 3619, 402, 271]);
});

test('the book example with <|endoftext|> allowed, and tiktoken errors when it is not', () => {
  const tok = loadGpt2Tokenizer();
  const text = 'Hello, do you like tea? <|endoftext|> In the sunlit terraces of someunknownPlace.';
  const expected = [
    15496, 11, 466, 345, 588, 8887, 30, 220, 50256, 554, 262, 4252, 18250, 8812, 2114, 286, 617, 34680, 27271,
    13,
  ];
  assert.deepEqual(tok.encode(text, { allowedSpecial: new Set(['<|endoftext|>']) }), expected);
  assert.deepEqual(tok.encode(text, { allowedSpecial: 'all' }), expected);
  assert.equal(tok.decode(expected), text);
  assert.throws(
    () => tok.encode(text),
    /special token "<\|endoftext\|>" at index 24, which is not allowed.*disallowedSpecial: 'none'/,
  );
  const plain = tok.encode(text, { disallowedSpecial: 'none' });
  assert.deepEqual(plain.slice(7, 13), [1279, 91, 437, 1659, 5239, 91]);
  assert.equal(tok.decode(plain), text);
  assert.deepEqual(tok.encodeOrdinary(text), plain);
  assert.equal(tok.endOfTextId, 50256);
  assert.equal(tok.vocabSize, 50257);
  assert.throws(
    () => tok.encode('x', { allowedSpecial: new Set(['<|pad|>']) }),
    /"<\|pad\|>", which is not a special token/,
  );
});

test('100,000 x "a" encodes in well under a second, as 25,000 x "aaaa"', () => {
  const tok = loadGpt2Tokenizer();
  const text = 'a'.repeat(100_000);
  const t0 = performance.now();
  const ids = tok.encode(text);
  const ms = performance.now() - t0;
  assert.ok(ms < 1000, `took ${ms.toFixed(0)} ms`);
  const [aaaa] = tok.encode('aaaa');
  assert.equal(ids.length, 25_000);
  assert.ok(ids.every((id) => id === aaaa));
  assert.equal(tok.decode(ids), text);
});

test('other long runs without spaces stay fast and round-trip', () => {
  const tok = loadGpt2Tokenizer();
  for (const unit of ['ab', '1', '!?', '日本', '😀', ' ', '\n', 'é']) {
    const text = unit.repeat(Math.ceil(50_000 / unit.length));
    const t0 = performance.now();
    const ids = tok.encode(text);
    const ms = performance.now() - t0;
    assert.ok(ms < 1000, `${JSON.stringify(unit)}: ${ms.toFixed(0)} ms`);
    assert.equal(tok.decode(ids), text, JSON.stringify(unit));
  }
});

test('the same piece gives the same ids whether it comes from the cache or not', () => {
  const tok = loadGpt2Tokenizer();
  const text = 'Tokenization of unbelievably idiosyncratic words, twice.\n';
  const first = tok.encode(text);
  assert.deepEqual(tok.encode(text + text), [...first, ...first]);
});

test('lone surrogates are rejected with their index; unknown ids with id and position', () => {
  const tok = loadGpt2Tokenizer();
  assert.throws(
    () => tok.encode('hello \ud83d world'),
    /encode: invalid UTF-16 at index 6: lone high surrogate U\+D83D/,
  );
  assert.throws(
    () => tok.encode('<|endoftext|>ab\udc00', { allowedSpecial: 'all' }),
    /invalid UTF-16 at index 15: lone low surrogate/,
  );
  assert.throws(() => tok.decode([15496, 50257]), /unknown token id 50257 at position 1/);
  assert.throws(() => tok.decode([-1]), /unknown token id -1 at position 0/);
  assert.throws(() => tok.decode([1.5]), /unknown token id 1.5 at position 0/);
});

test('decodeBytes returns raw bytes; decode replaces broken UTF-8 with U+FFFD', () => {
  const tok = loadGpt2Tokenizer();
  const ids = tok.encode('é€😀');
  assert.deepEqual([...tok.decodeBytes(ids)], [...Buffer.from('é€😀', 'utf8')]);
  const [robotStart] = tok.encode('🤖'); // the robot emoji is 3 tokens: 2 + 1 + 1 of its 4 bytes
  assert.equal(tok.decodeBytes([robotStart]).length, 2);
  assert.equal(tok.decode([robotStart]), '\ufffd');
  assert.equal(tok.decode(tok.encode('\ufeffBOM kept')), '\ufeffBOM kept');
});

test('the streaming decoder never emits half a character', () => {
  const tok = loadGpt2Tokenizer();
  const text = 'Emoji: 👍🏽 👨‍👩‍👧‍👦 and 日本語のテキスト, café.';
  const ids = tok.encode(text);
  const dec = tok.streamingDecoder();
  let out = '';
  for (const id of ids) {
    const piece = dec.push(id);
    assert.ok(!piece.includes('\ufffd'), `broken character after id ${id}`);
    out += piece;
  }
  out += dec.flush();
  assert.equal(out, text);
  // A sequence cut short comes out as U+FFFD at flush, not before.
  const [partial] = tok.encode('🤖');
  assert.equal(dec.push(partial), '');
  assert.equal(dec.flush(), '\ufffd');
});

// A tiny byte-level vocabulary: the 256 byte tokens in GPT-2's order, then merges "a b", "ab c".
function tinySpec(): { encoder: Record<string, number>; merges: Array<[string, string]> } {
  const encoder: Record<string, number> = {};
  GPT2_BYTE_ORDER.forEach((b, i) => (encoder[BYTE_TO_CHAR[b]] = i));
  encoder['ab'] = 256;
  encoder['abc'] = 257;
  encoder['<|endoftext|>'] = 258;
  return {
    encoder,
    merges: [
      ['a', 'b'],
      ['ab', 'c'],
    ],
  };
}

test('a tokenizer built from an explicit encoder and merges', () => {
  const tok = new Gpt2Tokenizer({ ...tinySpec(), name: 'tiny' });
  assert.equal(tok.vocabSize, 259);
  assert.deepEqual(tok.encode('abcab ab'), [257, 256, tok.encode(' ')[0], 256]);
  assert.deepEqual(tok.encode('x<|endoftext|>', { allowedSpecial: 'all' }), [...tok.encode('x'), 258]);
  assert.equal(tok.decode(tok.encode('abc abcd!')), 'abc abcd!');
});

test('corrupt vocabulary files are reported with file and line', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gptkit-vocab-'));
  try {
    const { encoder } = tinySpec();
    const enc = join(dir, 'encoder.json');
    const bpe = join(dir, 'vocab.bpe');
    writeFileSync(enc, JSON.stringify(encoder));
    writeFileSync(bpe, '#version: 0.2\na b\nab c\n');
    assert.equal(Gpt2Tokenizer.fromFiles(enc, bpe).vocabSize, 259);

    writeFileSync(bpe, '#version: 0.2\na b\nabc\n');
    assert.throws(
      () => Gpt2Tokenizer.fromFiles(enc, bpe),
      (e: Error) => e.message.startsWith(`${bpe} line 3: expected two tokens`),
    );
    writeFileSync(bpe, '#version: 0.2\na b\nab q\n');
    assert.throws(
      () => Gpt2Tokenizer.fromFiles(enc, bpe),
      new RegExp(`vocab.bpe line 3: merge "ab q" uses token "abq", which is not in .*encoder.json`),
    );
    writeFileSync(bpe, '#version: 0.2\na b\n');
    writeFileSync(enc, '{"a": 1,\n "b": 2');
    assert.throws(() => Gpt2Tokenizer.fromFiles(enc, bpe), /encoder.json: not valid JSON at line 2 column/);
    writeFileSync(enc, JSON.stringify({ a: 0, b: 0 }));
    assert.throws(() => Gpt2Tokenizer.fromFiles(enc, bpe), /tokens "a" and "b" share id 0/);
    writeFileSync(enc, JSON.stringify({ a: 0, b: 1, ab: 2 }));
    assert.throws(() => Gpt2Tokenizer.fromFiles(enc, bpe), /missing the token for byte 0x00/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('GPT-2 merge ranks are token ids minus 256, so merge order and tiktoken rank order agree', () => {
  const lines = readFileSync(dataPath('gpt2', 'vocab.bpe'), 'utf8').split('\n').slice(1).filter(Boolean);
  const encoder = JSON.parse(readFileSync(dataPath('gpt2', 'encoder.json'), 'utf8')) as Record<
    string,
    number
  >;
  lines.forEach((line, i) => {
    const [a, b] = line.split(' ');
    assert.equal(encoder[a + b], 256 + i, line);
  });
});

test('many allowed special tokens: linear time, and each occurrence becomes its id', () => {
  const spec = tinySpec();
  const tok = new Gpt2Tokenizer({ ...spec, encoder: { ...spec.encoder, '<|pad|>': 259 } });
  const text = 'ab<|endoftext|>'.repeat(50_000);
  const t0 = performance.now();
  const ids = tok.encode(text, { allowedSpecial: 'all' });
  assert.ok(performance.now() - t0 < 1000);
  assert.equal(ids.length, 100_000);
  assert.deepEqual(ids.slice(0, 4), [256, 258, 256, 258]);
  assert.deepEqual(tok.encode('<|pad|><|endoftext|>x', { allowedSpecial: 'all' }), [
    259,
    258,
    tok.encode('x')[0],
  ]);
  assert.throws(
    () => tok.encode('a<|pad|>', { allowedSpecial: new Set(['<|endoftext|>']) }),
    /"<\|pad\|>" at index 1/,
  );
});
