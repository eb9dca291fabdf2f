// Tests of the book's word tokenizers against the numbers and round trips printed in chapter 2.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dataPath } from '../data/paths.js';
import { buildVocab, simpleTokenize, SimpleTokenizerV1, SimpleTokenizerV2 } from './simple.js';

const verdict = readFileSync(dataPath('the-verdict.txt'), 'utf8');

test('the book splits on punctuation and whitespace, keeping the punctuation', () => {
  assert.deepEqual(simpleTokenize('Hello, world. Is this-- a test?'), [
    'Hello',
    ',',
    'world',
    '.',
    'Is',
    'this',
    '--',
    'a',
    'test',
    '?',
  ]);
  assert.deepEqual(simpleTokenize('  \n\t '), []);
});

test('the-verdict.txt: 4,690 tokens, 1,130 unique, 1,132 with the two special tokens', () => {
  const tokens = simpleTokenize(verdict);
  assert.equal(tokens.length, 4690);
  assert.deepEqual(tokens.slice(0, 30), [
    'I',
    'HAD',
    'always',
    'thought',
    'Jack',
    'Gisburn',
    'rather',
    'a',
    'cheap',
    'genius',
    '--',
    'though',
    'a',
    'good',
    'fellow',
    'enough',
    '--',
    'so',
    'it',
    'was',
    'no',
    'great',
    'surprise',
    'to',
    'me',
    'to',
    'hear',
    'that',
    ',',
    'in',
  ]);
  assert.equal(buildVocab(verdict).size, 1130);
  const v2 = buildVocab(verdict, ['<|endoftext|>', '<|unk|>']);
  assert.equal(v2.size, 1132);
  assert.equal(v2.get('<|endoftext|>'), 1130);
  assert.equal(v2.get('<|unk|>'), 1131);
  // The book prints the first entries of the sorted vocabulary: punctuation sorts before letters.
  assert.deepEqual([...buildVocab(verdict).keys()].slice(0, 6), ['!', '"', "'", '(', ')', ',']);
});

test('SimpleTokenizerV1 reproduces the book example and its round trip', () => {
  const tok = new SimpleTokenizerV1(buildVocab(verdict));
  const text = `"It's the last he painted, you know," Mrs. Gisburn said with pardonable pride.`;
  const ids = tok.encode(text);
  assert.deepEqual(
    ids,
    [1, 56, 2, 850, 988, 602, 533, 746, 5, 1126, 596, 5, 1, 67, 7, 38, 851, 1108, 754, 793, 7],
  );
  assert.equal(
    tok.decode(ids),
    `" It' s the last he painted, you know," Mrs. Gisburn said with pardonable pride.`,
  );
});

test('SimpleTokenizerV1 names the unknown word; decode names the unknown id', () => {
  const tok = new SimpleTokenizerV1(buildVocab(verdict));
  assert.throws(() => tok.encode('Hello, do you like tea?'), /the word "Hello" is not in the vocabulary/);
  assert.throws(() => tok.decode([1, 99999]), /unknown token id 99999 at position 1/);
});

test('SimpleTokenizerV2 maps unknown words to <|unk|> as in the book', () => {
  const tok = SimpleTokenizerV2.fromText(verdict);
  const text = ['Hello, do you like tea?', 'In the sunlit terraces of the palace.'].join(' <|endoftext|> ');
  const ids = tok.encode(text);
  assert.deepEqual(ids, [1131, 5, 355, 1126, 628, 975, 10, 1130, 55, 988, 956, 984, 722, 988, 1131, 7]);
  assert.equal(
    tok.decode(ids),
    '<|unk|>, do you like tea? <|endoftext|> In the sunlit terraces of the <|unk|>.',
  );
});

test('buildVocab sorts by code point as Python does', () => {
  // U+FF01 sorts before U+1F600 by code point, after it by UTF-16 code unit.
  const vocab = buildVocab('\u{1F600} \uFF01');
  assert.deepEqual([...vocab.keys()], ['\uFF01', '\u{1F600}']);
});
