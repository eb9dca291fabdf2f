// BPE training tests: the book's numbers on the-verdict.txt, the incremental trainer against a naive
// one (the book's full recount per merge) including ties, save/load, and the byte-level trainer.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dataPath } from '../data/paths.js';
import {
  BpeTokenizerSimple,
  byteLevelTokenizer,
  saveByteLevelBpe,
  trainByteLevelBpe,
  VocabSizeError,
} from './bpe-train.js';
import { BYTE_TO_CHAR } from './byte-level.js';
import { Gpt2Tokenizer } from './gpt2.js';
import { splitGpt2 } from './pretokenize.js';

const verdict = readFileSync(dataPath('the-verdict.txt'), 'utf8');

test("the book's test: vocab 1000 on the-verdict.txt gives 742 merges and the expected ids", () => {
  const tok = BpeTokenizerSimple.train(verdict, { vocabSize: 1000, allowedSpecial: ['<|endoftext|>'] });
  assert.equal(tok.vocabSize, 1000);
  assert.equal(tok.merges.length, 742);
  const text = 'Jack embraced beauty through art and life.';
  const ids = tok.encode(text);
  assert.deepEqual(ids, [74, 361, 310, 109, 98, 420, 397, 100, 300, 428, 116, 121, 519, 699, 299, 808, 534]);
  assert.equal(tok.decode(ids), text);
  // "Ġ" only ever starts a token: no merge crosses a word boundary.
  assert.deepEqual(
    tok.vocab.filter((t) => t.includes('Ġ') && t !== 'Ġ' && !t.startsWith('Ġ')),
    [],
  );
  assert.equal(tok.specialTokens.get('<|endoftext|>'), 257);
});

test('encode/decode round trips, special tokens and unknown characters', () => {
  const tok = BpeTokenizerSimple.train(verdict, { vocabSize: 600 });
  for (const text of ['  Hello World.', 'two  spaces\n\n and\nlines ', verdict.slice(0, 2000)]) {
    assert.equal(tok.decode(tok.encode(text)), text, JSON.stringify(text));
  }
  const withEot = 'The end.<|endoftext|> Next';
  const ids = tok.encode(withEot, { allowedSpecial: 'all' });
  assert.ok(ids.includes(257));
  assert.equal(tok.decode(ids), withEot);
  assert.throws(() => tok.encode(withEot), /special token "<\|endoftext\|>" at index 8/);
  assert.equal(tok.decode(tok.encode(withEot, { disallowedSpecial: 'none' })), withEot);
  assert.throws(
    () => tok.encode('price: 5€'),
    /character "€" \(U\+20AC\) at index 8 is not in the vocabulary/,
  );
  assert.throws(() => tok.decode([5, 1000]), /unknown token id 1000 at position 1/);
});

test('save and load give the same tokenizer; a corrupt file says what is wrong', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gptkit-bpe-'));
  try {
    const tok = BpeTokenizerSimple.train(verdict, { vocabSize: 500 });
    const file = join(dir, 'tok.json');
    tok.save(file);
    const back = BpeTokenizerSimple.load(file);
    const text = verdict.slice(5000, 7000);
    assert.deepEqual(back.encode(text), tok.encode(text));
    assert.equal(back.decode(tok.encode(text)), text);
    const json = tok.toJSON();
    json.merges[3] = [1, 2, 9999];
    writeFileSync(file, JSON.stringify(json));
    assert.throws(
      () => BpeTokenizerSimple.load(file),
      /tok.json: merges\[3\] must be \[left, right, newId\] with ids in 0..499/,
    );
    writeFileSync(file, '{"format": "other"}');
    assert.throws(() => BpeTokenizerSimple.load(file), /not a gptkit-bpe-simple file/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

// The book's algorithm, literally: recount all pairs over the chunk sequence, take the first maximum.
function naiveMerges(chunks: string[][], merges: number): Array<[string, string]> {
  let seqs = chunks.map((c) => [...c]);
  const out: Array<[string, string]> = [];
  for (let m = 0; m < merges; m++) {
    const counts = new Map<string, number>();
    for (const s of seqs)
      for (let i = 0; i + 1 < s.length; i++) {
        const k = JSON.stringify([s[i], s[i + 1]]);
        counts.set(k, (counts.get(k) ?? 0) + 1);
      }
    let best = '';
    let bestCount = 0;
    for (const [k, c] of counts) if (c > bestCount) [best, bestCount] = [k, c];
    if (bestCount === 0) break;
    const [a, b] = JSON.parse(best) as [string, string];
    out.push([a, b]);
    seqs = seqs.map((s) => {
      const r: string[] = [];
      for (let i = 0; i < s.length; i++) {
        if (i + 1 < s.length && s[i] === a && s[i + 1] === b) {
          r.push(a + b);
          i++;
        } else r.push(s[i]);
      }
      return r;
    });
  }
  return out;
}

test('the incremental trainer picks the same merges as a full recount, ties included', () => {
  let seed = 1;
  const rand = (): number => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32;
  for (let trial = 0; trial < 30; trial++) {
    const words: string[] = [];
    for (let w = 0; w < 40 + trial * 5; w++) {
      let word = '';
      const len = 1 + Math.floor(rand() * 6);
      for (let k = 0; k < len; k++) word += 'abcab'[Math.floor(rand() * 5)];
      words.push(word);
    }
    const text = words.join(rand() < 0.5 ? ' ' : '\n');
    const tok = BpeTokenizerSimple.train(text, {
      vocabSize: 258 + 1 + 40,
      allowedSpecial: ['<|endoftext|>'],
    });
    const got = tok.merges.map(([l, r]) => [tok.vocab[l], tok.vocab[r]]);
    const chunks = [...text.matchAll(/\n| ?[^ \n]+| /g)].map((m) => [...m[0].replace(/^ /, 'Ġ')]);
    assert.deepEqual(got, naiveMerges(chunks, got.length), `trial ${trial}`);
  }
});

test('byte-level training: the GPT-2 tokenizer loads the result and round-trips', () => {
  const bpe = trainByteLevelBpe(verdict, { vocabSize: 1000 });
  assert.equal(bpe.encoder.size, 1000);
  assert.equal(bpe.merges.length, 743);
  assert.equal(bpe.specialTokens['<|endoftext|>'], 999);
  // The most frequent pair of the-verdict.txt inside GPT-2 pieces is " t" (as in GPT-2's own first merge).
  assert.deepEqual(bpe.merges[0], ['Ġ', 't']);
  const tok = byteLevelTokenizer(bpe);
  const ids = tok.encode(verdict);
  // Replaying the merges in order on every piece, as training did, gives the same token count.
  let replayed = 0;
  for (const piece of splitGpt2(verdict)) {
    let parts = Array.from(Buffer.from(piece, 'utf8'), (b) => BYTE_TO_CHAR[b]);
    for (const [a, b] of bpe.merges) {
      const next: string[] = [];
      for (let i = 0; i < parts.length; i++) {
        if (i + 1 < parts.length && parts[i] === a && parts[i + 1] === b) next.push(a + parts[++i]);
        else next.push(parts[i]);
      }
      parts = next;
    }
    replayed += parts.length;
  }
  assert.equal(ids.length, replayed);
  assert.equal(tok.decode(ids), verdict);
  const unseen = 'Unseen text: naïve café, 日本語, 🤖 and <|endoftext|>';
  assert.equal(tok.decode(tok.encode(unseen, { allowedSpecial: 'all' })), unseen);

  const dir = mkdtempSync(join(tmpdir(), 'gptkit-bytebpe-'));
  try {
    saveByteLevelBpe(dir, bpe);
    const loaded = Gpt2Tokenizer.fromDirectory(dir);
    assert.deepEqual(loaded.encode(verdict), ids);
    assert.deepEqual(
      loaded.encode(unseen, { allowedSpecial: 'all' }),
      tok.encode(unseen, { allowedSpecial: 'all' }),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('byte-level training rejects a vocabulary too small for the bytes and special tokens', () => {
  assert.throws(() => trainByteLevelBpe('abc', { vocabSize: 200 }), /at least 257/);
  assert.throws(
    () => trainByteLevelBpe('abc', { vocabSize: 100 }),
    (err: unknown) =>
      err instanceof VocabSizeError &&
      err.minimum === 257 &&
      /at least 257 \(256 bytes \+ 1 special token\), got 100$/.test(err.message),
  );
});

test("the book's BPE rejects a vocabulary smaller than its base instead of exceeding it", () => {
  // The base before any merge: chr(0..255), the text's other characters, "Ġ", the special tokens.
  assert.throws(
    () => BpeTokenizerSimple.train('hello world', { vocabSize: 100 }),
    (err: unknown) =>
      err instanceof VocabSizeError &&
      err.minimum === 258 &&
      err.message ===
        'BpeTokenizerSimple.train: vocabSize must be an integer of at least 258 (256 single characters + "Ġ" for a space + 1 special token), got 100',
  );
  assert.throws(
    () => BpeTokenizerSimple.train('日本 語', { vocabSize: 259, allowedSpecial: ['<|a|>', '<|b|>'] }),
    /at least 262 \(256 single characters \+ 3 other characters of the text \+ "Ġ" for a space \+ 2 special tokens\), got 259/,
  );
  assert.throws(() => BpeTokenizerSimple.train('abc', { vocabSize: 300.5 }), /got 300.5/);
  const exact = BpeTokenizerSimple.train('hello world', { vocabSize: 258 });
  assert.equal(exact.vocabSize, 258);
  assert.equal(exact.merges.length, 0);
});
