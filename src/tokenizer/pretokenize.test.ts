// The hand-written GPT-2 pre-tokeniser against the regex it implements, on random and edge-case text.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GPT2_PATTERN, gpt2PieceEnd, InvalidUtf16Error, splitGpt2 } from './pretokenize.js';
import { mulberry32 } from '../data/rng.js';

function regexSplit(text: string): string[] {
  return [...text.matchAll(GPT2_PATTERN)].map((m) => m[0]);
}

// Characters from every class of the pattern, including the ones where engines disagree.
const ALPHABET = [
  'a',
  'b',
  's',
  't',
  'm',
  'd',
  'r',
  'e',
  'v',
  'l',
  'S',
  'T',
  'é',
  'ß',
  '日',
  '本',
  '\u{1D400}',
  'Ω',
  '0',
  '7',
  '²',
  '٣',
  '\u{1D7CE}',
  ' ',
  ' ',
  ' ',
  '\n',
  '\t',
  '\r',
  '\u00a0',
  '\u0085',
  '\u2028',
  '\u3000',
  "'",
  "'",
  '!',
  '-',
  ',',
  '.',
  '😀',
  '\u0301',
  '\ufeff',
  '\u200d',
  '\u200b',
  '$',
  '_',
];

test('the scanner splits exactly as the GPT-2 regex on 3,000 random strings', () => {
  const rand = mulberry32(42);
  for (let n = 0; n < 3000; n++) {
    const len = 1 + Math.floor(rand() * 24);
    let s = '';
    for (let k = 0; k < len; k++) s += ALPHABET[Math.floor(rand() * ALPHABET.length)];
    assert.deepEqual(splitGpt2(s), regexSplit(s), `text ${JSON.stringify(s)}`);
  }
});

test('edge cases: contractions, whitespace runs, trailing spaces', () => {
  const cases: Array<[string, string[]]> = [
    ["I'm sure they'll", ['I', "'m", ' sure', ' they', "'ll"]],
    ["IT'S", ['IT', "'", 'S']],
    ["x's's", ['x', "'s", "'s"]],
    ['a  b', ['a', ' ', ' b']],
    ['a\n\nb', ['a', '\n', '\n', 'b']],
    ['a \n b', ['a', ' \n', ' b']],
    ['   ', ['   ']],
    ['a   ', ['a', '   ']],
    [' !!x', [' !!', 'x']],
    ['', []],
  ];
  for (const [text, pieces] of cases) {
    assert.deepEqual(splitGpt2(text), pieces, JSON.stringify(text));
    assert.deepEqual(regexSplit(text), pieces, `regex: ${JSON.stringify(text)}`);
  }
});

test('U+0085 is whitespace and U+FEFF is not, as in Python and tiktoken', () => {
  assert.deepEqual(splitGpt2('a\u0085b'), ['a', '\u0085', 'b']);
  assert.deepEqual(splitGpt2('a\ufeffb'), ['a', '\ufeff', 'b']);
});

test('long runs of one class are scanned in linear time', () => {
  for (const ch of ['a', '7', '!', ' ', '\n', '日', '😀']) {
    const text = ch.repeat(200_000);
    const t0 = performance.now();
    const end = gpt2PieceEnd(text, 0);
    const ms = performance.now() - t0;
    assert.equal(end, text.length, JSON.stringify(ch));
    assert.ok(ms < 200, `${JSON.stringify(ch)} x 200,000 took ${ms.toFixed(0)} ms`);
  }
});

test('a lone surrogate is an error that says where', () => {
  assert.throws(
    () => splitGpt2('ab\ud83dc'),
    (err: unknown) => {
      assert.ok(err instanceof InvalidUtf16Error);
      assert.equal(err.index, 2);
      assert.match(err.message, /index 2: lone high surrogate U\+D83D/);
      return true;
    },
  );
  assert.throws(() => splitGpt2(' \udc00'), /index 1: lone low surrogate U\+DC00/);
  assert.throws(() => splitGpt2('x\ud800'), /index 1/);
});
