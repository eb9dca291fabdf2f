// Classification data: the parser against pandas' read_csv (edge cases and the SMS file's 5,572 rows),
// the book's chapter-6 split and its 120-token padding, label vocabularies, balance-and-split, the
// padded dataset's limits, every reader error, and exact loader resume.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadGpt2Tokenizer } from '../tokenizer/gpt2.js';
import {
  balanceAndSplit,
  ClassificationDataset,
  ClassificationLoader,
  delimiterForPath,
  labelVocabulary,
  parseDelimited,
  readLabeledTexts,
  type ClassificationBatch,
} from './classification.js';
import { dataPath } from './paths.js';

const splitPath = (name: string) => dataPath('sms-spam-book-split', `${name}.csv`);
const smsPath = dataPath('SMSSpamCollection.tsv');

/** Writes files into a fresh temporary folder, runs `body` with their paths, then removes the folder. */
function withFiles(files: Record<string, string>, body: (path: (name: string) => string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), 'gptkit-cls-'));
  try {
    for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
    body((name) => join(dir, name));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function count<T>(values: readonly T[]): Map<T, number> {
  const m = new Map<T, number>();
  for (const v of values) m.set(v, (m.get(v) ?? 0) + 1);
  return m;
}

test('parseDelimited: edge cases give what pandas read_csv(header=None, dtype=str) gives', () => {
  // Expected rows produced by pandas 3.0 read_csv on the same strings (keep_default_na=False).
  const cases: [string, string[][], number[]][] = [
    [
      'a,b\n1,2\n',
      [
        ['a', 'b'],
        ['1', '2'],
      ],
      [1, 2],
    ],
    [
      'a,b\r\n"x,y","he said ""hi"""\r\n',
      [
        ['a', 'b'],
        ['x,y', 'he said "hi"'],
      ],
      [1, 2],
    ],
    [
      'a,b\n"multi\nline",z\n\n   \n3,4',
      [
        ['a', 'b'],
        ['multi\nline', 'z'],
        ['3', '4'],
      ],
      [1, 2, 6],
    ],
    [
      'a,b\n"q"tail,x\nmid"quote,y\n',
      [
        ['a', 'b'],
        ['qtail', 'x'],
        ['mid"quote', 'y'],
      ],
      [1, 2, 3],
    ],
    [
      'a,b\r1,2\r3,4\r',
      [
        ['a', 'b'],
        ['1', '2'],
        ['3', '4'],
      ],
      [1, 2, 3],
    ],
    [
      'a,b\n"",\n',
      [
        ['a', 'b'],
        ['', ''],
      ],
      [1, 2],
    ],
    [
      '\ufeffa,b\n1,2',
      [
        ['a', 'b'],
        ['1', '2'],
      ],
      [1, 2],
    ],
    [
      'a,b\n  1,2\n',
      [
        ['a', 'b'],
        ['  1', '2'],
      ],
      [1, 2],
    ],
    [
      'a,b\n"crlf\r\ninside",1\r\n',
      [
        ['a', 'b'],
        ['crlf\r\ninside', '1'],
      ],
      [1, 2],
    ],
  ];
  for (const [text, rows, lines] of cases) {
    assert.deepEqual(parseDelimited(text, ','), { rows, lines }, JSON.stringify(text));
  }
  assert.deepEqual(parseDelimited('', ',').rows, []);
  assert.deepEqual(parseDelimited('\n\n', ',').rows, []);
});

test('parseDelimited: TAB-separated with quotes, and the delimiter chosen by extension', () => {
  const { rows } = parseDelimited('ham\t"a\tb"\nspam\t"x\ny" z\nham\tsay "hi"\n', '\t');
  assert.deepEqual(rows, [
    ['ham', 'a\tb'],
    ['spam', 'x\ny z'],
    ['ham', 'say "hi"'],
  ]);
  // A leading tab is a delimiter in a TSV, not whitespace to skip.
  assert.deepEqual(parseDelimited('\tx\n', '\t').rows, [['', 'x']]);
  assert.equal(delimiterForPath('a/b.TSV'), '\t');
  assert.equal(delimiterForPath('b.tab'), '\t');
  assert.equal(delimiterForPath('b.csv'), ',');
  assert.equal(delimiterForPath('b.txt'), ',');
});

test('parseDelimited: an unclosed quote and a bad delimiter are errors that say what to do', () => {
  assert.throws(
    () => parseDelimited('a,b\n1,"open\n2,3\n', ','),
    /quoted field that starts on line 2 is never closed.*'""'/,
  );
  assert.throws(() => parseDelimited('a', '"'), /delimiter must be one character/);
  assert.throws(() => parseDelimited('a', ';;'), /delimiter must be one character/);
});

test('SMSSpamCollection.tsv without a header: 5,572 rows (4,825 ham, 747 spam) as pandas reads it', () => {
  const { texts, labels, columns } = readLabeledTexts(smsPath, { header: false });
  assert.deepEqual(columns, ['1', '2']);
  assert.equal(texts.length, 5572);
  assert.deepEqual(
    count(labels),
    new Map([
      ['ham', 4825],
      ['spam', 747],
    ]),
  );
  // Line 283 starts with a quoted part followed by more text; pandas drops the quotes and keeps the rest.
  assert.equal(
    texts[282],
    'Wen u miss someone, the person is definitely special for u..... But if the person is so special, why to miss them, just Keep-in-touch gdeve..',
  );
  // An unclosed quote on line 5082 swallows the next two lines (5,574 lines, 5,572 rows).
  assert.match(
    texts[5081],
    /^Keep ur problems in ur heart.*SD\.\.\nham\tYeah, give me a call.*\nham\tHI BABE/s,
  );
  assert.match(texts[5082], /^Amazing : If you rearrange/);
});

test('the book split: 1,045 / 149 / 300 rows, two classes, labels 0 = not spam and 1 = spam', () => {
  const expected: Record<string, [number, number, number]> = {
    train: [1045, 528, 517],
    validation: [149, 70, 79],
    test: [300, 149, 151],
  };
  for (const [name, [rows, notSpam, spam]] of Object.entries(expected)) {
    const { texts, labels, columns } = readLabeledTexts(splitPath(name));
    assert.deepEqual(columns, ['Label', 'Text']);
    assert.equal(texts.length, rows, name);
    const vocab = labelVocabulary(labels, ['not spam', 'spam']);
    assert.deepEqual(vocab.id2label, ['not spam', 'spam']);
    assert.deepEqual(
      count(vocab.ids),
      new Map([
        [0, notSpam],
        [1, spam],
      ]),
      name,
    );
  }
  const first = readLabeledTexts(splitPath('train'));
  assert.equal(first.labels[0], '0');
  assert.equal(first.texts[0], 'Dude how do you like the buff wind.');
});

test('the book split: the longest training text is 120 GPT-2 tokens; validation and test pad to 120', () => {
  const tokenizer = loadGpt2Tokenizer();
  const load = (name: string, maxLength?: number) => {
    const { texts, labels } = readLabeledTexts(splitPath(name));
    const dataset = ClassificationDataset.fromTexts(texts, labelVocabulary(labels).ids, tokenizer, {
      contextLength: 1024,
      maxLength,
    });
    return { texts, dataset };
  };
  const { texts, dataset: train } = load('train');
  assert.equal(train.maxLength, 120);
  assert.equal(train.longestExample, 120);
  assert.equal(train.truncatedCount, 0);
  assert.equal(train.length, 1045);
  // Row 0: the tokens of its text, then 50256 to the end.
  const row = train.row(0);
  const ids = tokenizer.encode(texts[0]);
  assert.equal(row.length, ids.length);
  assert.deepEqual([...row.ids.subarray(0, row.length)], ids);
  assert.ok(row.ids.subarray(row.length).every((id) => id === 50256));
  assert.equal(row.label, 0);
  for (const name of ['validation', 'test']) {
    const { dataset } = load(name, train.maxLength);
    assert.equal(dataset.maxLength, 120, name);
    assert.ok(dataset.lengths.every((n) => n >= 1 && n <= 120));
  }
  // The book's loaders: 130 training batches (8, shuffled, last dropped), 19 validation, 38 test.
  const trainLoader = new ClassificationLoader(train, {
    batchSize: 8,
    shuffle: true,
    dropLast: true,
    seed: 123,
  });
  assert.equal(trainLoader.length, 130);
  const [batch] = trainLoader;
  assert.equal(batch.batchSize, 8);
  assert.equal(batch.seqLen, 120);
  assert.equal(batch.inputs.length, 8 * 120);
  assert.equal(batch.labels.length, 8);
  assert.equal(new ClassificationLoader(load('validation', 120).dataset, { batchSize: 8 }).length, 19);
  assert.equal(new ClassificationLoader(load('test', 120).dataset, { batchSize: 8 }).length, 38);
});

test('labelVocabulary: integers are ids, other labels are sorted, names can stand for labels', () => {
  assert.deepEqual(labelVocabulary(['spam', 'ham', 'ham']), {
    id2label: ['ham', 'spam'],
    label2id: { ham: 0, spam: 1 },
    ids: [1, 0, 0],
  });
  assert.deepEqual(labelVocabulary(['1', '0', '1']), {
    id2label: ['0', '1'],
    label2id: { '0': 0, '1': 1 },
    ids: [1, 0, 1],
  });
  // A missing class id still gets its slot: K = largest + 1.
  assert.deepEqual(labelVocabulary(['0', '2']).id2label, ['0', '1', '2']);
  assert.deepEqual(labelVocabulary(['1', '0'], ['not spam', 'spam']), {
    id2label: ['not spam', 'spam'],
    label2id: { 'not spam': 0, spam: 1 },
    ids: [1, 0],
  });
  // Class names as labels (exact, then case-insensitive), mixed with ids.
  assert.deepEqual(labelVocabulary(['spam', 'Not Spam', '1', '0'], ['not spam', 'spam']).ids, [1, 0, 1, 0]);
  // Not all integers ('-1', '1.0', '01'): sorted as strings.
  assert.deepEqual(labelVocabulary(['1.0', '0']).id2label, ['0', '1.0']);
  assert.deepEqual(labelVocabulary(['01', '1']).id2label, ['01', '1']);
  assert.throws(
    () => labelVocabulary(['0', '2'], ['not spam', 'spam']),
    /label "2" is neither a class id 0\.\.1 nor one of the class names "not spam", "spam"/,
  );
  assert.throws(() => labelVocabulary(['ham'], ['not spam', 'spam']), /"ham" is neither/);
  assert.throws(() => labelVocabulary(['0'], ['only']), /at least two class names/);
  assert.throws(() => labelVocabulary(['0'], ['a', 'a']), /class names repeat/);
});

test('balanceAndSplit: 747 + 747 → 1,045 / 149 / 300, deterministic for a seed', () => {
  const { texts, labels } = readLabeledTexts(smsPath, { header: false });
  const examples = texts.map((text, i) => ({ text, label: labels[i] }));
  const split = balanceAndSplit(examples, { seed: 123, balance: true });
  assert.equal(split.train.length, 1045);
  assert.equal(split.validation.length, 149);
  assert.equal(split.test.length, 300);
  const all = [...split.train, ...split.validation, ...split.test];
  assert.deepEqual(
    count(all.map((e) => e.label)),
    new Map([
      ['ham', 747],
      ['spam', 747],
    ]),
  );
  assert.equal(new Set(all).size, 1494, 'no example twice');
  // Every spam example is kept; the ham ones are a sample.
  const kept = new Set(all);
  assert.ok(examples.filter((e) => e.label === 'spam').every((e) => kept.has(e)));

  const again = balanceAndSplit(examples, { seed: 123, balance: true });
  assert.deepEqual(again, split);
  const other = balanceAndSplit(examples, { seed: 7, balance: true });
  assert.notDeepEqual(other.train, split.train);

  const unbalanced = balanceAndSplit(examples, { seed: 123, balance: false });
  assert.deepEqual(
    [unbalanced.train.length, unbalanced.validation.length, unbalanced.test.length],
    [3900, 557, 1115], // floor(5572·0.7), floor(5572·0.1), the rest
  );
  const custom = balanceAndSplit(examples, { seed: 1, balance: true, trainFrac: 0.8, valFrac: 0 });
  assert.deepEqual([custom.train.length, custom.validation.length, custom.test.length], [1195, 0, 299]);
  assert.throws(
    () => balanceAndSplit(examples, { seed: 1, balance: false, trainFrac: 0.9, valFrac: 0.2 }),
    /<= 1/,
  );
});

test('ClassificationDataset: truncation to maxLength, padding, and the context-length error', () => {
  const tokens = [[1, 2, 3, 4, 5, 6], [7, 8], [9]];
  const labels = [0, 1, 0];
  const full = ClassificationDataset.fromTokenIds(tokens, labels, { contextLength: 8, padTokenId: 0 });
  assert.equal(full.maxLength, 6);
  assert.deepEqual([...full.row(1).ids], [7, 8, 0, 0, 0, 0]);
  assert.deepEqual([...full.lengths], [6, 2, 1]);

  const cut = ClassificationDataset.fromTokenIds(tokens, labels, { contextLength: 8, maxLength: 4 });
  assert.equal(cut.maxLength, 4);
  assert.deepEqual([...cut.ids], [1, 2, 3, 4, 7, 8, 50256, 50256, 9, 50256, 50256, 50256]);
  assert.deepEqual([...cut.lengths], [4, 2, 1]);
  assert.equal(cut.truncatedCount, 1);
  assert.equal(cut.longestExample, 6);

  assert.throws(
    () => ClassificationDataset.fromTokenIds(tokens, labels, { contextLength: 5 }),
    /longest example has 6 tokens, more than the context length 5; truncate with --max-length N \(maxLength\), N <= 5/,
  );
  assert.throws(
    () => ClassificationDataset.fromTokenIds(tokens, labels, { contextLength: 5, maxLength: 7 }),
    /maxLength 7 exceeds the context length 5 \(the longest example has 6 tokens\); truncate with --max-length N/,
  );
  assert.throws(
    () => ClassificationDataset.fromTokenIds(tokens, [0, 1], { contextLength: 8 }),
    /3 examples but 2 labels/,
  );
  assert.throws(
    () => ClassificationDataset.fromTokenIds([[1], []], [0, 1], { contextLength: 8 }),
    /example 1 has no tokens/,
  );
  assert.throws(() => ClassificationDataset.fromTokenIds([[1]], [-1], { contextLength: 8 }), /label 0 is -1/);
  assert.throws(() => full.row(3), /out of range/);

  // Text holding a special token's name is encoded as ordinary text, not refused.
  const tokenizer = loadGpt2Tokenizer();
  const text = ClassificationDataset.fromTexts(['hi <|endoftext|>', 'ok'], [0, 1], tokenizer, {
    contextLength: 1024,
  });
  assert.ok(text.lengths[0] > 2);
  assert.ok(![...text.row(0).ids.subarray(0, text.lengths[0])].includes(50256));
});

test('readLabeledTexts: headerless TSV defaults, columns by name or index, case-insensitive names', () => {
  withFiles(
    {
      'plain.tsv': 'ham\tGo home\nspam\t"WIN ""cash"" now"\n\nham\tok\n',
      'named.csv': 'id,Label,Text\r\n1,spam,"buy, now"\r\n2,ham,hello\r\n',
      'semi.txt': 'text;kind\nhello;a\nbye;b\n',
    },
    (path) => {
      assert.deepEqual(readLabeledTexts(path('plain.tsv'), { header: false }), {
        texts: ['Go home', 'WIN "cash" now', 'ok'],
        labels: ['ham', 'spam', 'ham'],
        columns: ['1', '2'],
      });
      const named = readLabeledTexts(path('named.csv'));
      assert.deepEqual(named.texts, ['buy, now', 'hello']);
      assert.deepEqual(named.labels, ['spam', 'ham']);
      assert.deepEqual(named.columns, ['id', 'Label', 'Text']);
      assert.deepEqual(
        readLabeledTexts(path('named.csv'), { textColumn: 'text', labelColumn: 'LABEL' }),
        named,
      );
      assert.deepEqual(readLabeledTexts(path('named.csv'), { textColumn: 3, labelColumn: 2 }), named);
      assert.deepEqual(
        readLabeledTexts(path('semi.txt'), { delimiter: ';', textColumn: 'text', labelColumn: 'kind' })
          .labels,
        ['a', 'b'],
      );
    },
  );
});

test('readLabeledTexts: each bad input is an error that names the file and the fix', () => {
  withFiles(
    {
      'empty.csv': '',
      'blank.csv': '\n  \n',
      'header-only.csv': 'Label,Text\n',
      'short.csv': 'Label,Text\nham,hi\nspam\nham,yo\n',
      'long.csv': 'Label,Text\nham,hi, there\n',
      'one-class.csv': 'Label,Text\nham,a\nham,b\n',
      'no-label.csv': 'Label,Text\n ,a\nham,b\n',
      'no-text.csv': 'Label,Text\nspam,\nham,b\n',
      'headerless.tsv': 'ham\thi\nspam\tyo\n',
    },
    (path) => {
      assert.throws(() => readLabeledTexts(path('empty.csv')), /empty\.csv is empty \(no rows\)/);
      assert.throws(() => readLabeledTexts(path('blank.csv')), /blank\.csv is empty \(no rows\)/);
      assert.throws(
        () => readLabeledTexts(path('header-only.csv')),
        /header-only\.csv has a header \(Label, Text\) but no data rows/,
      );
      assert.throws(
        () => readLabeledTexts(path('short.csv')),
        /short\.csv:3: 1 field, expected 2 as the header \(Label, Text\); fields are separated by ','/,
      );
      assert.throws(
        () => readLabeledTexts(path('long.csv')),
        /long\.csv:2: 3 fields, expected 2.*must be quoted/,
      );
      assert.throws(
        () => readLabeledTexts(path('one-class.csv')),
        /one-class\.csv: classification needs at least two classes, but every label in column "Label" is "ham"/,
      );
      assert.throws(() => readLabeledTexts(path('no-label.csv')), /no-label\.csv:2: the label is empty/);
      assert.throws(() => readLabeledTexts(path('no-text.csv')), /no-text\.csv:2: the text is empty/);
      assert.throws(
        () => readLabeledTexts(path('headerless.tsv')),
        /no text column "Text"; the header's columns are "ham", "hi"\. Pass textColumn .*or header: false/,
      );
      assert.throws(
        () => readLabeledTexts(path('short.csv'), { labelColumn: 'Class' }),
        /no label column "Class"; the header's columns are "Label", "Text"/,
      );
      assert.throws(
        () => readLabeledTexts(path('headerless.tsv'), { header: false, textColumn: 3 }),
        /textColumn 3 is not a column; the file has 2 columns \(indices are 1-based: 1\.\.2\)/,
      );
      assert.throws(
        () => readLabeledTexts(path('headerless.tsv'), { header: false, textColumn: 'Text' }),
        /textColumn "Text" is a name, but the file is read without a header; give a 1-based index/,
      );
      assert.throws(() => readLabeledTexts(path('missing.csv')), /ENOENT.*missing\.csv/);
    },
  );
});

test('ClassificationLoader: resume mid-epoch equals an uninterrupted pass; new shuffle each epoch', () => {
  const n = 23;
  const tokens = Array.from({ length: n }, (_, i) =>
    Array.from({ length: 1 + (i % 5) }, (_, t) => 100 * i + t),
  );
  const dataset = ClassificationDataset.fromTokenIds(
    tokens,
    tokens.map((_, i) => i % 3),
    { contextLength: 16 },
  );
  const options = { batchSize: 4, shuffle: true, dropLast: true, seed: 42 };
  const take = (loader: ClassificationLoader, batches: number): ClassificationBatch[] => {
    const out: ClassificationBatch[] = [];
    while (out.length < batches) for (const b of loader) if (out.push(b) >= batches) break;
    return out;
  };
  const straight = new ClassificationLoader(dataset, options);
  assert.equal(straight.length, 5);
  const reference = take(straight, 13); // two full epochs and three batches of the third

  const first = new ClassificationLoader(dataset, options);
  const head = take(first, 7); // the first epoch and two batches of the second
  const saved = first.state();
  assert.deepEqual({ epoch: saved.epoch, batchIndex: saved.batchIndex }, { epoch: 1, batchIndex: 2 });
  const resumed = new ClassificationLoader(dataset, options);
  resumed.restore(JSON.parse(JSON.stringify(saved)));
  assert.deepEqual([...head, ...take(resumed, 6)], reference);

  // Each batch row is the dataset row it claims to be.
  for (const b of reference) {
    for (let r = 0; r < b.batchSize; r++) {
      const id = Math.floor(b.inputs[r * b.seqLen] / 100);
      assert.equal(b.labels[r], id % 3);
      assert.equal(b.lengths[r], 1 + (id % 5));
    }
  }
  // A new order each epoch, covering 20 of the 23 examples (dropLast).
  const firstIds = (bs: ClassificationBatch[]) =>
    bs.flatMap((b) => Array.from({ length: b.batchSize }, (_, r) => b.inputs[r * b.seqLen] / 100));
  assert.notDeepEqual(firstIds(reference.slice(0, 5)), firstIds(reference.slice(5, 10)));
  assert.equal(new Set(firstIds(reference.slice(0, 5))).size, 20);

  // In order, keeping the short last batch.
  const ordered = [...new ClassificationLoader(dataset, { batchSize: 10 })];
  assert.deepEqual(
    ordered.map((b) => b.batchSize),
    [10, 10, 3],
  );
  assert.deepEqual(
    firstIds(ordered),
    Array.from({ length: n }, (_, i) => i),
  );

  const other = ClassificationDataset.fromTokenIds(
    tokens.slice(1),
    tokens.slice(1).map(() => 0),
    { contextLength: 16 },
  );
  assert.throws(
    () => new ClassificationLoader(other, options).restore(saved),
    /state is for 23 examples, this dataset has 22/,
  );
  assert.throws(
    () => new ClassificationLoader(dataset, { ...options, batchSize: 5 }).restore(saved),
    /batch size 4/,
  );
});
