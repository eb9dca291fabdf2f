// Token files and corpus caches: exact round trip, atomic writes, staleness detection, chunked
// tokenisation that matches one-shot encoding, and windows read from disk equal to windows in memory.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  truncateSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadGpt2Tokenizer } from '../tokenizer/gpt2.js';
import { ensureCorpusCache, listCorpusFiles, openCorpus } from './corpus.js';
import { DataLoader } from './loader.js';
import { dataPath } from './paths.js';
import { readTokenFileHeader, TokenFile, TokenFileWriter, writeTokenFile } from './token-file.js';
import { SlidingWindowDataset } from './windows.js';

function withTempDir(fn: (dir: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), 'gptkit-data-'));
  try {
    fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('token file: header and ids round-trip; no temporary file is left', () => {
  withTempDir((dir) => {
    const path = join(dir, 'a.tok');
    const ids = Array.from({ length: 70_000 }, (_, i) => (i * 7919) % 50257);
    const hash = 'ab'.repeat(32);
    writeTokenFile(path, ids, 50257, hash);
    assert.deepEqual(readdirSync(dir), ['a.tok']);
    const header = readTokenFileHeader(path);
    assert.deepEqual(header, { version: 1, vocabSize: 50257, tokenCount: 70_000, sourceHash: hash });
    const file = TokenFile.open(path);
    const out = new Int32Array(10);
    file.read(65_530, 10, out, 0);
    assert.deepEqual([...out], ids.slice(65_530, 65_540));
    assert.throws(() => file.read(69_995, 10, out, 0), /outside the file's 70000 tokens/);
    file.close();
  });
});

test('token file: bad ids, bad magic and truncation are clear errors', () => {
  withTempDir((dir) => {
    const path = join(dir, 'b.tok');
    assert.throws(
      () => writeTokenFile(path, [1, 2, 70_000], 65536),
      /token id 70000 \(token 2 of the file\) is outside the vocabulary/,
    );
    assert.deepEqual(readdirSync(dir), []);
    assert.throws(() => new TokenFileWriter(path, 100_000), /does not fit in uint16/);
    writeTokenFile(path, [1, 2, 3], 50257);
    truncateSync(path, 66);
    assert.throws(() => TokenFile.open(path), /promises 3 tokens \(70 bytes\) but the file has 66 bytes/);
    writeFileSync(path, 'hello, not tokens');
    assert.throws(() => TokenFile.open(path), /not a gptkit token file/);
  });
});

test('windows read from a token file equal the windows of the same ids in memory', () => {
  withTempDir((dir) => {
    const path = join(dir, 'c.tok');
    const ids = Array.from({ length: 5000 }, (_, i) => (i * 31) % 1000);
    writeTokenFile(path, ids, 1000);
    const file = TokenFile.open(path);
    const fromDisk = new DataLoader(file.windows({ maxLength: 32, stride: 16 }), {
      batchSize: 8,
      shuffle: true,
      seed: 5,
    });
    const inMemory = new DataLoader(SlidingWindowDataset.fromIds(ids, { maxLength: 32, stride: 16 }), {
      batchSize: 8,
      shuffle: true,
      seed: 5,
    });
    assert.deepEqual([...fromDisk], [...inMemory]);
    file.close();
  });
});

function writeCorpus(dir: string): string {
  const src = join(dir, 'corpus');
  mkdirSync(join(src, 'sub'), { recursive: true });
  const verdict = readFileSync(dataPath('the-verdict.txt'), 'utf8');
  writeFileSync(join(src, 'b.txt'), verdict.slice(0, 6000));
  writeFileSync(
    join(src, 'a.txt'),
    'First doc:  two spaces,\ttabs,\n\n\nnewlines,  café 日本語 👍🏽 and <|endoftext|> inside.\n',
  );
  writeFileSync(join(src, 'sub', 'c.txt'), `${verdict.slice(6000, 9000)}   \n`);
  writeFileSync(join(src, 'notes.md'), 'not included');
  return src;
}

test('corpus: sorted files joined with <|endoftext|>, chunked tokenisation equals one-shot encoding', () => {
  withTempDir((dir) => {
    const src = writeCorpus(dir);
    const tok = loadGpt2Tokenizer();
    const files = listCorpusFiles(src);
    assert.deepEqual(
      files.map((f) => f.name),
      ['a.txt', 'b.txt', 'sub/c.txt'],
    );
    const joined = files.map((f) => readFileSync(f.path, 'utf8')).join('<|endoftext|>');
    const expected = tok.encode(joined, { allowedSpecial: 'all' });

    const cachePath = join(dir, 'cache', 'corpus.tok');
    const progress: number[] = [];
    const info = ensureCorpusCache({
      sourceDir: src,
      cachePath,
      tokenizer: tok,
      chunkBytes: 97,
      onProgress: (p) => progress.push(p.bytesDone),
    });
    assert.equal(info.rebuilt, true);
    assert.equal(info.files, 3);
    assert.equal(info.tokenCount, expected.length);
    assert.ok(progress.length > 50 && progress.at(-1) === files.reduce((s, f) => s + f.size, 0));

    const file = openCorpus({ sourceDir: src, cachePath, tokenizer: tok });
    const out = new Int32Array(file.length);
    file.read(0, file.length, out, 0);
    assert.deepEqual([...out], expected);
    file.close();
  });
});

test('corpus: the cache is reused until a file changes, is added, or the tokenizer differs', () => {
  withTempDir((dir) => {
    const src = writeCorpus(dir);
    const tok = loadGpt2Tokenizer();
    const cachePath = join(dir, 'corpus.tok');
    const opts = { sourceDir: src, cachePath, tokenizer: tok };
    assert.equal(ensureCorpusCache(opts).rebuilt, true);
    assert.equal(ensureCorpusCache(opts).rebuilt, false);
    utimesSync(join(src, 'a.txt'), new Date(), new Date(Date.now() + 5000));
    assert.equal(ensureCorpusCache(opts).rebuilt, true);
    assert.equal(ensureCorpusCache(opts).rebuilt, false);
    writeFileSync(join(src, 'd.txt'), 'one more document');
    const grown = ensureCorpusCache(opts);
    assert.equal(grown.rebuilt, true);
    assert.equal(grown.files, 4);
    const fakeTokenizer = {
      name: 'other',
      vocabSize: 50257,
      encode: (t: string) => tok.encode(t, { allowedSpecial: 'all' }).map((id) => (id + 1) % 50257),
    };
    assert.equal(ensureCorpusCache({ ...opts, tokenizer: fakeTokenizer }).rebuilt, true);
    writeFileSync(cachePath, 'garbage');
    assert.equal(ensureCorpusCache(opts).rebuilt, true);
    assert.ok(existsSync(cachePath));
  });
});

test('corpus: an empty folder or a missing one is a clear error', () => {
  withTempDir((dir) => {
    const tok = loadGpt2Tokenizer();
    assert.throws(
      () => ensureCorpusCache({ sourceDir: dir, cachePath: join(dir, 'x.tok'), tokenizer: tok }),
      /no .txt files in/,
    );
    assert.throws(
      () =>
        ensureCorpusCache({ sourceDir: join(dir, 'nope'), cachePath: join(dir, 'x.tok'), tokenizer: tok }),
      /is not a folder/,
    );
  });
});
