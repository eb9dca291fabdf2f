// Instruction and preference data against the book's PyTorch code (test/fixtures/gpt2-tiny/finetune.json):
// prompts, token ids, the collate with and without allowed_max_length, the toy batch, the DPO collate and
// masks; then the templates, the split and bad input.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packageRootPath } from './paths.js';
import { dataPath } from './paths.js';
import {
  collateInstructions,
  collatePreferences,
  formatInput,
  InstructionDataset,
  InstructionLoader,
  PreferenceDataset,
  promptTemplate,
  readInstructionEntries,
  splitInstructionData,
  type InstructionEntry,
  type PreferenceEntry,
} from './instruction.js';
import { loadGpt2Tokenizer } from '../tokenizer/gpt2.js';

const fx = JSON.parse(
  readFileSync(join(packageRootPath(), 'test', 'fixtures', 'gpt2-tiny', 'finetune.json'), 'utf8'),
) as {
  instruction: {
    entries: InstructionEntry[];
    formatted: string[];
    full_texts: string[];
    ids: number[][];
    collated_inputs: number[][];
    collated_targets: number[][];
    allowed_max_length: number;
    collated_inputs_truncated: number[][];
    collated_targets_truncated: number[][];
    toy_collate: { batch: number[][]; inputs: number[][]; targets: number[][] };
  };
  dpo: {
    entries: PreferenceEntry[];
    chosen: number[][];
    rejected: number[][];
    chosen_mask: number[][];
    rejected_mask: number[][];
  };
};

const rows = (a: Int32Array | Uint8Array, T: number): number[][] =>
  Array.from({ length: a.length / T }, (_, b) => Array.from(a.subarray(b * T, (b + 1) * T)));

const tmp = () => mkdtempSync(join(tmpdir(), 'gptkit-instr-'));

describe('instruction data parity with the book (chapter 7)', () => {
  const tokenizer = loadGpt2Tokenizer();
  const alpaca = promptTemplate('alpaca');
  const entries = fx.instruction.entries.map((e) => ({ ...e, input: e.input ?? '' }));

  it('format_input and the full texts', () => {
    assert.deepEqual(entries.map(formatInput), fx.instruction.formatted);
    assert.deepEqual(
      entries.map((e) => alpaca.prompt(e) + alpaca.response(e.output)),
      fx.instruction.full_texts,
    );
  });

  it('token ids of the InstructionDataset', () => {
    const ds = new InstructionDataset(entries, tokenizer, alpaca);
    assert.deepEqual(ds.ids, fx.instruction.ids);
    assert.deepEqual(
      ds.promptLengths,
      fx.instruction.formatted.map((p) => tokenizer.encode(p).length),
    );
  });

  it('custom_collate_fn, with and without allowed_max_length, and the toy batch', () => {
    const full = collateInstructions(fx.instruction.ids);
    assert.deepEqual(rows(full.inputs, full.seqLen), fx.instruction.collated_inputs);
    assert.deepEqual(rows(full.targets, full.seqLen), fx.instruction.collated_targets);
    const cut = collateInstructions(fx.instruction.ids, {
      allowedMaxLength: fx.instruction.allowed_max_length,
    });
    assert.equal(cut.seqLen, fx.instruction.allowed_max_length);
    assert.deepEqual(rows(cut.inputs, cut.seqLen), fx.instruction.collated_inputs_truncated);
    assert.deepEqual(rows(cut.targets, cut.seqLen), fx.instruction.collated_targets_truncated);
    const toy = collateInstructions(fx.instruction.toy_collate.batch);
    assert.deepEqual(rows(toy.inputs, toy.seqLen), fx.instruction.toy_collate.inputs);
    assert.deepEqual(rows(toy.targets, toy.seqLen), [
      [1, 2, 3, 4, 50256],
      [6, 50256, -100, -100, -100],
      [8, 9, 50256, -100, -100],
    ]);
    assert.deepEqual(rows(toy.targets, toy.seqLen), fx.instruction.toy_collate.targets);
  });

  it('--mask-instructions ignores the targets inside the prompt (exercise 7.2)', () => {
    const ds = new InstructionDataset(entries, tokenizer, alpaca);
    const loader = new InstructionLoader(ds, { batchSize: 3, maskInstructions: true });
    const [b] = [...loader];
    const plain = collateInstructions(ds.ids);
    for (let r = 0; r < 3; r++) {
      const p = ds.promptLengths[r];
      for (let t = 0; t < b.seqLen; t++) {
        const want = t < p - 1 ? -100 : plain.targets[r * b.seqLen + t];
        assert.equal(b.targets[r * b.seqLen + t], want, `row ${r} position ${t}`);
      }
    }
  });
});

describe('preference data parity with the book (DPO bonus)', () => {
  it('chosen / rejected ids and masks of the collate', () => {
    const tokenizer = loadGpt2Tokenizer();
    const entries = fx.dpo.entries.map((e) => ({ ...e, input: e.input ?? '' }));
    const ds = new PreferenceDataset(entries, tokenizer, promptTemplate('alpaca'));
    const b = collatePreferences(ds, Int32Array.from([0, 1]), { allowedMaxLength: 64 });
    assert.deepEqual(rows(b.chosen, b.seqLen), fx.dpo.chosen);
    assert.deepEqual(rows(b.rejected, b.seqLen), fx.dpo.rejected);
    assert.deepEqual(rows(b.chosenMask, b.seqLen), fx.dpo.chosen_mask);
    assert.deepEqual(rows(b.rejectedMask, b.seqLen), fx.dpo.rejected_mask);
  });
});

describe('instruction templates, split and input checks', () => {
  it('the bundled data splits 935 / 110 / 55 like the book', () => {
    const all = readInstructionEntries(dataPath('instruction-data.json'));
    assert.equal(all.length, 1100);
    const s = splitInstructionData(all);
    assert.deepEqual([s.train.length, s.test.length, s.validation.length], [935, 110, 55]);
    assert.equal(s.test[0], all[935]);
    assert.equal(s.validation[0], all[1045]);
  });

  it('phi3 (exercise 7.1) formats and extracts like the book solution', () => {
    const t = promptTemplate('phi3');
    assert.equal(t.prompt({ instruction: 'Do X.', input: 'abc' }), '<|user|>\nDo X.\nabc');
    assert.equal(t.prompt({ instruction: 'Do X.', input: '' }), '<|user|>\nDo X.');
    assert.equal(t.response('ok'), '\n<|assistant|>:\nok');
    assert.equal(t.extract('\n<|assistant|>:\n  the answer \n'), 'the answer');
    assert.equal(promptTemplate('alpaca').extract('\n\n### Response:\nThe answer.'), 'The answer.');
  });

  it('a template file: fields substituted once; missing marker and fields are errors', () => {
    const dir = tmp();
    const file = join(dir, 't.json');
    writeFileSync(
      file,
      JSON.stringify({ prompt: 'Q: {instruction}{input}', input: ' [{input}]', response: '\nA: {output}' }),
    );
    const t = promptTemplate(file);
    assert.equal(t.prompt({ instruction: 'say {input}', input: 'x' }), 'Q: say {input} [x]');
    assert.equal(t.marker, 'A:');
    writeFileSync(
      file,
      JSON.stringify({ prompt: 'Q: {instruction}{input}', input: '{input}', response: '\n{output}' }),
    );
    assert.throws(() => promptTemplate(file), /no response marker/);
    writeFileSync(
      file,
      JSON.stringify({ prompt: 'Q: {instruction}', input: '{input}', response: 'A:{output}' }),
    );
    assert.throws(() => promptTemplate(file), /must contain \{input\} exactly once/);
    writeFileSync(
      file,
      JSON.stringify({ prompt: 'Q: {instruction}{input}', input: '{input}', response: 'A:{output}', x: 1 }),
    );
    assert.throws(() => promptTemplate(file), /unknown key "x"/);
    assert.throws(() => promptTemplate(join(dir, 'nope.json')), /not alpaca or phi3, and no such file/);
  });

  it('bad entries name the entry; JSON lines are read; an empty file is an error', () => {
    const dir = tmp();
    const f = join(dir, 'd.json');
    writeFileSync(f, JSON.stringify([{ instruction: 'a', output: 'b' }, { instruction: 'c' }]));
    assert.throws(() => readInstructionEntries(f), /entry 1: missing "output"/);
    writeFileSync(f, JSON.stringify([{ instruction: 'a', output: 3 }]));
    assert.throws(() => readInstructionEntries(f), /entry 0: "output" must be a string, got 3/);
    writeFileSync(f, JSON.stringify([{ instruction: 'a', input: ['x'], output: 'b' }]));
    assert.throws(() => readInstructionEntries(f), /entry 0: "input" must be a string/);
    writeFileSync(f, '');
    assert.throws(() => readInstructionEntries(f), /the file is empty/);
    writeFileSync(f, '[]');
    assert.throws(() => readInstructionEntries(f), /no entries/);
    writeFileSync(
      f,
      '{"instruction": "a", "output": "b"}\n\n{"instruction": "c", "input": "d", "output": "e"}\n',
    );
    const e = readInstructionEntries(f);
    assert.deepEqual(
      e.map((x) => [x.instruction, x.input, x.output]),
      [
        ['a', '', 'b'],
        ['c', 'd', 'e'],
      ],
    );
    writeFileSync(f, '{"instruction": "a", "output": "b"}\n{"instruction": 1}\n');
    assert.throws(() => readInstructionEntries(f), /entry 1 \(line 2\): "instruction" must be a string/);
    assert.throws(() => readInstructionEntries(join(dir, 'missing.json')), /cannot read \(ENOENT\)/);
  });
});
