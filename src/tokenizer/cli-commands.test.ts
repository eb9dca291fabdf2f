// The `tokenize` and `train-tokenizer` commands, run through commander with captured output.
// (Kept here because src/cli/commands/ holds command modules only.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { register as registerTokenize } from '../cli/commands/tokenize.js';
import { register as registerTrain } from '../cli/commands/train-tokenizer.js';
import { spawnSync } from 'node:child_process';
import { dataPath, packageRootPath } from '../data/paths.js';

async function run(args: string[]): Promise<{ out: string; progress: string; warn: string }> {
  let out = '';
  let progress = '';
  let warn = '';
  const program = new Command().exitOverride().configureOutput({ writeErr: () => {}, writeOut: () => {} });
  registerTokenize(program, { out: (s) => (out += s), warn: (s) => (warn += s) });
  registerTrain(program, {
    out: (s) => (out += s),
    progress: (s) => (progress += s),
    interactive: false,
    warn: (s) => (warn += s),
  });
  await program.parseAsync(['node', 'gptkit', ...args]);
  return { out, progress, warn };
}

test('tokenize --json prints ids and count', async () => {
  const { out } = await run(['tokenize', '--text', 'Hello, world. Is this-- a test?', '--json']);
  assert.deepEqual(JSON.parse(out), { ids: [15496, 11, 995, 13, 1148, 428, 438, 257, 1332, 30], count: 10 });
});

test('tokenize shows a table with quoted tokens, raw bytes for partial characters, and a count', async () => {
  const { out } = await run(['tokenize', '--text', 'Hi there\n🤖']);
  assert.equal(
    out,
    [
      '   id  token',
      '17250  "Hi"',
      '  612  " there"',
      '  198  "\\n"',
      ' 8582  <bytes f0 9f>',
      '   97  <bytes a4>',
      '  244  <bytes 96>',
      '6 tokens',
      '',
    ].join('\n'),
  );
});

test('tokenize --encoding simple uses the-verdict vocabulary; --allow-special; errors', async () => {
  const simple = await run([
    'tokenize',
    '--encoding',
    'simple',
    '--text',
    'Hello, do you like tea?',
    '--json',
  ]);
  assert.deepEqual(JSON.parse(simple.out).ids, [1131, 5, 355, 1126, 628, 975, 10]);
  const allowed = await run(['tokenize', '--text', 'a<|endoftext|>', '--allow-special', '--json']);
  assert.deepEqual(JSON.parse(allowed.out).ids, [64, 50256]);
  await assert.rejects(
    run(['tokenize', '--text', 'a<|endoftext|>']),
    /special token "<\|endoftext\|>" at index 1/,
  );
  await assert.rejects(
    run(['tokenize', '--encoding', 'bert', '--text', 'x']),
    /--encoding must be gpt2 or simple/,
  );
  await assert.rejects(
    run(['tokenize', '--file', '/no/such/file.txt']),
    /cannot read --file \/no\/such\/file.txt/,
  );
});

test('train-tokenizer: book BPE and byte-level, then tokenize with the result', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'gptkit-cli-'));
  try {
    const simpleOut = join(dir, 'simple.json');
    const a = await run([
      'train-tokenizer',
      '--file',
      dataPath('the-verdict.txt'),
      '--vocab-size',
      '1000',
      '--out',
      simpleOut,
    ]);
    assert.match(a.out, /742 merges, 1000 tokens/);
    assert.match(a.progress, /training: 742\/742 merges \(100%\)/);
    const viaSimple = await run([
      'tokenize',
      '--tokenizer',
      simpleOut,
      '--text',
      'Jack embraced beauty through art and life.',
      '--json',
    ]);
    assert.deepEqual(
      JSON.parse(viaSimple.out).ids,
      [74, 361, 310, 109, 98, 420, 397, 100, 300, 428, 116, 121, 519, 699, 299, 808, 534],
    );

    const byteDir = join(dir, 'bytes');
    const b = await run([
      'train-tokenizer',
      '--file',
      dataPath('the-verdict.txt'),
      '--vocab-size',
      '400',
      '--out',
      byteDir,
      '--byte-level',
    ]);
    assert.match(b.out, /143 merges, 400 tokens/);
    const viaBytes = await run(['tokenize', '--tokenizer', byteDir, '--text', 'naïve 🤖', '--json']);
    assert.ok(JSON.parse(viaBytes.out).count > 0);

    writeFileSync(join(dir, 'bad.json'), '{"format": "nope"}');
    await assert.rejects(
      run(['tokenize', '--tokenizer', join(dir, 'bad.json'), '--text', 'x']),
      /not a gptkit-bpe-simple file/,
    );
    await assert.rejects(
      run([
        'train-tokenizer',
        '--file',
        dataPath('the-verdict.txt'),
        '--vocab-size',
        'many',
        '--out',
        simpleOut,
      ]),
      /--vocab-size must be a positive integer, got "many"/,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('tokenize --encoding simple: <|endoftext|> needs --allow-special, as with gpt2', async () => {
  await assert.rejects(
    run(['tokenize', '--encoding', 'simple', '--text', 'Hello <|endoftext|> do']),
    (err: Error) =>
      err.message ===
      'encode: the text contains the special token "<|endoftext|>" at index 6, which is not allowed. Pass --allow-special to encode it as its token id.',
  );
  const allowed = await run([
    'tokenize',
    '--encoding',
    'simple',
    '--text',
    'Hello<|endoftext|>do you',
    '--allow-special',
    '--json',
  ]);
  // 1131 is <|unk|> ("Hello" is not in the-verdict.txt), 1130 <|endoftext|>, even glued to the words.
  assert.deepEqual(JSON.parse(allowed.out).ids, [1131, 1130, 355, 1126]);
});

test('train-tokenizer: a vocabulary smaller than the base is an error giving the smallest size', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'gptkit-cli-'));
  try {
    const file = join(dir, 'train.txt');
    writeFileSync(file, 'low lower lowest 日本');
    const out = join(dir, 'tok.json');
    await assert.rejects(
      run(['train-tokenizer', '--file', file, '--vocab-size', '100', '--out', out]),
      (err: Error) =>
        err.message ===
        "--vocab-size 100 is too small: the smallest possible is 260, the book's character BPE's vocabulary " +
          'before any merge (256 single characters + 2 other characters of the text + "Ġ" for a space + 1 special token); ' +
          'each token above that is one learned merge',
    );
    await assert.rejects(
      run(['train-tokenizer', '--file', file, '--vocab-size', '256', '--out', out, '--byte-level']),
      /^Error: --vocab-size 256 is too small: the smallest possible is 257, the byte-level BPE's vocabulary before any merge \(256 bytes \+ 1 special token\)/,
    );
    assert.ok(!existsSync(out));
    const ok = await run(['train-tokenizer', '--file', file, '--vocab-size', '262', '--out', out]);
    assert.match(ok.out, /2 merges, 262 tokens/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('train-tokenizer: an empty file is an error naming it', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'gptkit-cli-'));
  try {
    const empty = join(dir, 'empty.txt');
    writeFileSync(empty, '');
    for (const extra of [[], ['--byte-level']]) {
      const out = join(dir, 'out');
      await assert.rejects(
        run(['train-tokenizer', '--file', empty, '--vocab-size', '300', '--out', out, ...extra]),
        (err: Error) => err.message === `--file ${empty} is empty: there is no text to train on`,
      );
      assert.ok(!existsSync(out));
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('invalid UTF-8 in --file: a warning with the offset and count, or an error with --strict', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'gptkit-cli-'));
  try {
    const bad = join(dir, 'bad.txt');
    // "ab", an invalid byte at offset 2, "cd ", a truncated 3-byte sequence at offset 6.
    writeFileSync(bad, Buffer.from([0x61, 0x62, 0xff, 0x63, 0x64, 0x20, 0xe2, 0x82]));
    const warning =
      `gptkit: warning: --file ${bad} is not valid UTF-8: 2 invalid byte sequences, the first at byte offset 2; ` +
      'they were replaced with U+FFFD (pass --strict to refuse such input)\n';

    const tok = await run(['tokenize', '--file', bad, '--json']);
    assert.equal(tok.warn, warning);
    assert.equal(JSON.parse(tok.out).count > 0, true);
    const strictError = (err: Error): boolean =>
      err.message.startsWith(
        `--file ${bad} is not valid UTF-8: 2 invalid byte sequences, the first at byte offset 2 (--strict refuses`,
      );
    await assert.rejects(run(['tokenize', '--file', bad, '--strict']), strictError);

    const out = join(dir, 'tok.json');
    const trained = await run(['train-tokenizer', '--file', bad, '--vocab-size', '270', '--out', out]);
    assert.equal(trained.warn, warning);
    assert.match(trained.out, /tokens -> /);
    await assert.rejects(
      run([
        'train-tokenizer',
        '--file',
        bad,
        '--vocab-size',
        '270',
        '--out',
        join(dir, 'x.json'),
        '--strict',
      ]),
      strictError,
    );
    assert.ok(!existsSync(join(dir, 'x.json')));

    // Valid input: no warning, and --strict changes nothing.
    const good = await run(['tokenize', '--text', 'naïve', '--strict', '--json']);
    assert.equal(good.warn, '');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('invalid UTF-8 on standard input: the gptkit command warns, or exits 1 with --strict', () => {
  const main = join(packageRootPath(), 'dist', 'src', 'cli', 'main.js');
  const input = Buffer.from([0x68, 0x69, 0x0a, 0xc3, 0x28]); // "hi\n", then C3 without its continuation
  const lenient = spawnSync(process.execPath, [main, 'tokenize', '--encoding', 'simple', '--json'], {
    input,
    encoding: 'utf8',
  });
  assert.equal(lenient.status, 0, lenient.stderr);
  assert.equal(
    lenient.stderr,
    'gptkit: warning: standard input is not valid UTF-8: 1 invalid byte sequence, the first at byte offset 3; ' +
      'it was replaced with U+FFFD (pass --strict to refuse such input)\n',
  );
  assert.ok(JSON.parse(lenient.stdout).count > 0);
  const strict = spawnSync(process.execPath, [main, 'tokenize', '--strict'], { input, encoding: 'utf8' });
  assert.equal(strict.status, 1);
  assert.equal(strict.stdout, '');
  assert.match(
    strict.stderr,
    /^gptkit: standard input is not valid UTF-8: 1 invalid byte sequence, the first at byte offset 3 \(--strict refuses/,
  );
});
