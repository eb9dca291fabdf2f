// The `tokenize` and `train-tokenizer` commands, run through commander with captured output.
// (Kept here because src/cli/commands/ holds command modules only.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { register as registerTokenize } from '../cli/commands/tokenize.js';
import { register as registerTrain } from '../cli/commands/train-tokenizer.js';
import { dataPath } from '../data/paths.js';

async function run(args: string[]): Promise<{ out: string; progress: string }> {
  let out = '';
  let progress = '';
  const program = new Command().exitOverride().configureOutput({ writeErr: () => {}, writeOut: () => {} });
  registerTokenize(program, { out: (s) => (out += s) });
  registerTrain(program, { out: (s) => (out += s), progress: (s) => (progress += s), interactive: false });
  await program.parseAsync(['node', 'gptkit', ...args]);
  return { out, progress };
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
