// A second, independent oracle: js-tiktoken (gpt2 ranks, bundled offline) and gpt-tokenizer (r50k_base)
// must give the same ids as gptkit on texts cut and mixed from the bundled data sets.
// Both use JavaScript's `\s`, which differs from tiktoken on U+0085 and U+FEFF; those are left out here.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { Tiktoken } from 'js-tiktoken/lite';
import gpt2Ranks from 'js-tiktoken/ranks/gpt2';
import { encode as gptTokenizerEncode } from 'gpt-tokenizer/encoding/r50k_base';
import { dataPath } from '../data/paths.js';
import { mulberry32 } from '../data/rng.js';
import { loadGpt2Tokenizer } from './gpt2.js';

function corpusTexts(): string[] {
  const verdict = readFileSync(dataPath('the-verdict.txt'), 'utf8');
  const sms = readFileSync(dataPath('SMSSpamCollection.tsv'), 'utf8');
  const instructions = JSON.parse(readFileSync(dataPath('instruction-data.json'), 'utf8')) as Array<
    Record<string, string>
  >;
  const instructionText = instructions
    .map((e) => `${e.instruction}\n\n${e.input}\n\n${e.output}`)
    .join('\n\n');
  return [verdict, sms, instructionText];
}

// Random cuts of the corpora glued together, with odd whitespace, digits, accents and emoji spliced in.
function mixedTexts(count: number): string[] {
  const rand = mulberry32(7);
  const sources = corpusTexts();
  const spice = [
    '  ',
    '\t',
    '\n\n',
    ' \n ',
    '123456',
    "'S",
    "'ll",
    'é',
    '日本語',
    '👍🏽',
    '\u00a0',
    '\u200b',
    '--',
    '...',
    '$5.99',
  ];
  const out: string[] = [];
  for (let n = 0; n < count; n++) {
    let s = '';
    const parts = 1 + Math.floor(rand() * 4);
    for (let p = 0; p < parts; p++) {
      const src = sources[Math.floor(rand() * sources.length)];
      const start = Math.floor(rand() * src.length);
      s += src.slice(start, start + Math.floor(rand() * 400));
      if (rand() < 0.7) s += spice[Math.floor(rand() * spice.length)];
    }
    out.push(s.replace(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, '\ufffd'));
  }
  return out;
}

test('gptkit, js-tiktoken and gpt-tokenizer agree on the bundled corpora and 400 mixed texts', () => {
  const ours = loadGpt2Tokenizer();
  const tiktoken = new Tiktoken(gpt2Ranks);
  const texts = [
    ...corpusTexts(),
    ...mixedTexts(400),
    'a'.repeat(2000),
    ' '.repeat(300) + 'x',
    '!'.repeat(999),
  ];
  for (const text of texts) {
    const ids = ours.encode(text);
    const label = JSON.stringify(text.slice(0, 60));
    assert.deepEqual(ids, tiktoken.encode(text, [], []), `js-tiktoken: ${label}`);
    assert.deepEqual(ids, gptTokenizerEncode(text), `gpt-tokenizer: ${label}`);
  }
});

test('special tokens: <|endoftext|> agrees with js-tiktoken when allowed', () => {
  const ours = loadGpt2Tokenizer();
  const tiktoken = new Tiktoken(gpt2Ranks);
  const text = 'First document.<|endoftext|>Second one <|endoftext|>\nthird';
  assert.deepEqual(ours.encode(text, { allowedSpecial: 'all' }), tiktoken.encode(text, 'all'));
  assert.deepEqual(ours.encode(text, { disallowedSpecial: 'none' }), tiktoken.encode(text, [], []));
});
