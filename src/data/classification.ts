// Data for text classification, the book's chapter 6 (spam): delimited files read as pandas reads them,
// label vocabularies, the book's balance-and-split, a padded dataset (its SpamDataset) and a resumable
// batch loader. Nothing here knows about models or tensors; batches are plain Int32Arrays.

import { readFileSync } from 'node:fs';
import { extname } from 'node:path';
import { BatchLoader, type DataLoaderOptions } from './loader.js';
import { deriveSeed, seededPermutation } from './rng.js';

// ---------------------------------------------------------------------------------------------------
// Delimited text (CSV / TSV)

/** Rows of a delimited file, and the 1-based line each row starts on (for error messages). */
export interface DelimitedTable {
  rows: string[][];
  lines: number[];
}

const QUOTE = 0x22;
const LF = 0x0a;
const CR = 0x0d;
const SPACE = 0x20;
const TAB = 0x09;

/** TAB for `.tsv` and `.tab` files, a comma for anything else. */
export function delimiterForPath(path: string): string {
  const ext = extname(path).toLowerCase();
  return ext === '.tsv' || ext === '.tab' ? '\t' : ',';
}

/**
 * Parses CSV-style text the way pandas' read_csv does by default (C parser, quotechar '"', doublequote,
 * skip_blank_lines), for any one-character delimiter: a field that *starts* with '"' is quoted, may hold
 * delimiters and line breaks, and writes '"' as '""'; after its closing quote the rest of the field is
 * read as unquoted text (`"a"b` is `ab`); a quote inside an unquoted field is an ordinary character.
 * LF, CRLF and CR end lines; blank and whitespace-only lines are skipped; a trailing newline adds no row.
 * A leading UTF-8 byte-order mark is dropped. Rows may have different field counts; callers check.
 */
export function parseDelimited(text: string, delimiter = ','): DelimitedTable {
  if (delimiter.length !== 1 || delimiter === '"' || delimiter === '\n' || delimiter === '\r') {
    throw new Error(
      `parseDelimited: the delimiter must be one character other than '"' and line breaks, got ${JSON.stringify(delimiter)}`,
    );
  }
  const delim = delimiter.charCodeAt(0);
  const n = text.length;
  const rows: string[][] = [];
  const lines: number[] = [];
  let i = text.charCodeAt(0) === 0xfeff ? 1 : 0;
  let line = 1;
  while (i < n) {
    // Start of a record: skip a blank or whitespace-only line (a delimiter is not whitespace here).
    let j = i;
    for (; j < n; j++) {
      const c = text.charCodeAt(j);
      if (!(c === SPACE || (c === TAB && delim !== TAB))) break;
    }
    if (j >= n) break;
    const first = text.charCodeAt(j);
    if (first === LF || first === CR) {
      i = j + (first === CR && text.charCodeAt(j + 1) === LF ? 2 : 1);
      line++;
      continue;
    }
    const record: string[] = [];
    const recordLine = line;
    for (;;) {
      let field = '';
      if (text.charCodeAt(i) === QUOTE) {
        const quoteLine = line;
        let from = ++i;
        for (;;) {
          if (i >= n) {
            throw new Error(
              `parseDelimited: the quoted field that starts on line ${quoteLine} is never closed (the input ends inside quotes); close it with '"' and write a literal quote as '""'`,
            );
          }
          const c = text.charCodeAt(i);
          if (c === QUOTE) {
            field += text.slice(from, i);
            if (text.charCodeAt(i + 1) === QUOTE) {
              field += '"';
              i += 2;
              from = i;
              continue;
            }
            i++;
            break;
          }
          if (c === LF || (c === CR && text.charCodeAt(i + 1) !== LF)) line++;
          i++;
        }
      }
      // An unquoted field, or what follows a closing quote up to the next delimiter or line end.
      const from = i;
      for (; i < n; i++) {
        const c = text.charCodeAt(i);
        if (c === delim || c === LF || c === CR) break;
      }
      field += text.slice(from, i);
      record.push(field);
      if (i >= n) break;
      const c = text.charCodeAt(i);
      if (c === delim) {
        i++;
        continue;
      }
      i += c === CR && text.charCodeAt(i + 1) === LF ? 2 : 1;
      line++;
      break;
    }
    rows.push(record);
    lines.push(recordLine);
  }
  return { rows, lines };
}

// ---------------------------------------------------------------------------------------------------
// Labeled texts from a file

export interface ReadLabeledTextsOptions {
  /** Column of the texts: a header name or a 1-based index. Default 'Text', or 2 without a header. */
  textColumn?: string | number;
  /** Column of the labels: a header name or a 1-based index. Default 'Label', or 1 without a header. */
  labelColumn?: string | number;
  /** Whether the first row names the columns. Default true. */
  header?: boolean;
  /** Field delimiter. Default: TAB for .tsv/.tab files, else ','. */
  delimiter?: string;
}

export interface LabeledTexts {
  texts: string[];
  /** Raw labels as written in the file (surrounding whitespace trimmed). */
  labels: string[];
  /** The header's column names, or '1', '2', ... for a file without a header. */
  columns: string[];
}

/**
 * Reads a text column and a label column from a CSV/TSV file (parsed as by parseDelimited). Every row
 * must have as many fields as the header (or the first row), a non-empty label and a non-empty text, and
 * the labels must name at least two classes.
 */
export function readLabeledTexts(path: string, options: ReadLabeledTextsOptions = {}): LabeledTexts {
  const header = options.header ?? true;
  const delimiter = options.delimiter ?? delimiterForPath(path);
  const { rows, lines } = parseDelimited(readFileSync(path, 'utf8'), delimiter);
  if (rows.length === 0) throw new Error(`readLabeledTexts: ${path} is empty (no rows)`);
  const columns = header ? rows[0] : rows[0].map((_, k) => String(k + 1));
  const firstData = header ? 1 : 0;
  if (rows.length === firstData) {
    throw new Error(`readLabeledTexts: ${path} has a header (${columns.join(', ')}) but no data rows`);
  }
  const textIndex = resolveColumn(path, 'text', options.textColumn ?? (header ? 'Text' : 2), columns, header);
  const labelIndex = resolveColumn(
    path,
    'label',
    options.labelColumn ?? (header ? 'Label' : 1),
    columns,
    header,
  );
  const shown = delimiter === '\t' ? 'TAB' : `'${delimiter}'`;
  const texts: string[] = [];
  const labels: string[] = [];
  for (let r = firstData; r < rows.length; r++) {
    const row = rows[r];
    const where = `${path}:${lines[r]}`;
    if (row.length !== columns.length) {
      const expected = header ? `as the header (${columns.join(', ')})` : 'as the first row';
      throw new Error(
        `readLabeledTexts: ${where}: ${row.length} field${row.length === 1 ? '' : 's'}, expected ${columns.length} ${expected}; ` +
          `fields are separated by ${shown}, and a field holding ${shown} or a line break must be quoted ("...")`,
      );
    }
    const label = row[labelIndex].trim();
    if (label === '') throw new Error(`readLabeledTexts: ${where}: the label is empty`);
    if (row[textIndex] === '') throw new Error(`readLabeledTexts: ${where}: the text is empty`);
    labels.push(label);
    texts.push(row[textIndex]);
  }
  const classes = new Set(labels);
  if (classes.size < 2) {
    throw new Error(
      `readLabeledTexts: ${path}: classification needs at least two classes, but every label in column ` +
        `${JSON.stringify(columns[labelIndex])} is ${JSON.stringify(labels[0])}; check labelColumn`,
    );
  }
  return { texts, labels, columns };
}

/** The 0-based index of a column given by name (exact, then case-insensitive) or 1-based index. */
function resolveColumn(
  path: string,
  role: 'text' | 'label',
  spec: string | number,
  columns: string[],
  header: boolean,
): number {
  const option = `${role}Column`;
  const listed = header
    ? `the header's columns are ${columns.map((c) => JSON.stringify(c)).join(', ')}`
    : `the file has ${columns.length} column${columns.length === 1 ? '' : 's'}`;
  if (typeof spec === 'number') {
    if (Number.isInteger(spec) && spec >= 1 && spec <= columns.length) return spec - 1;
    throw new Error(
      `readLabeledTexts: ${path}: ${option} ${spec} is not a column; ${listed} (indices are 1-based: 1..${columns.length})`,
    );
  }
  if (!header) {
    throw new Error(
      `readLabeledTexts: ${path}: ${option} ${JSON.stringify(spec)} is a name, but the file is read without a header; give a 1-based index (1..${columns.length})`,
    );
  }
  const exact = columns.indexOf(spec);
  if (exact >= 0) return exact;
  const lower = spec.toLowerCase();
  const loose = columns.findIndex((c) => c.toLowerCase() === lower);
  if (loose >= 0) return loose;
  throw new Error(
    `readLabeledTexts: ${path}: no ${role} column ${JSON.stringify(spec)}; ${listed}. Pass ${option} ` +
      `(a name or a 1-based index), or header: false if the first row is data`,
  );
}

// ---------------------------------------------------------------------------------------------------
// Label vocabulary

export interface LabelVocabulary {
  /** Class name of each id. */
  id2label: string[];
  label2id: Record<string, number>;
  /** The id of each input label. */
  ids: number[];
}

const CLASS_INDEX = /^(0|[1-9][0-9]*)$/;

/** Orders strings by UTF-16 code units, independent of locale (as Python's sorted for these labels). */
function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * Maps labels to class ids. When every label is an integer 0..K-1, the integer is the id and the class
 * names are `names` (K = names.length) or the integers as strings (K = largest + 1). Otherwise the ids
 * follow the sorted unique labels (the book's ham→0, spam→1). With `names`, a label may also be a class
 * name itself (exact, then case-insensitive).
 */
export function labelVocabulary(labels: readonly string[], names?: readonly string[]): LabelVocabulary {
  if (names) {
    if (names.length < 2)
      throw new Error(`labelVocabulary: give at least two class names, got ${names.length}`);
    if (new Set(names).size !== names.length)
      throw new Error(`labelVocabulary: the class names repeat: ${names.join(', ')}`);
    const byName = new Map<string, number>();
    names.forEach((name, id) => byName.set(name, id));
    const byLowerName = new Map<string, number>();
    names.forEach((name, id) => {
      if (!byLowerName.has(name.toLowerCase())) byLowerName.set(name.toLowerCase(), id);
    });
    const ids = labels.map((label) => {
      const named = byName.get(label) ?? byLowerName.get(label.toLowerCase());
      if (named !== undefined) return named;
      if (CLASS_INDEX.test(label) && Number(label) < names.length) return Number(label);
      throw new Error(
        `labelVocabulary: label ${JSON.stringify(label)} is neither a class id 0..${names.length - 1} ` +
          `nor one of the class names ${names.map((s) => JSON.stringify(s)).join(', ')}`,
      );
    });
    return vocabulary([...names], ids);
  }
  if (labels.length > 0 && labels.every((label) => CLASS_INDEX.test(label))) {
    const ids = labels.map(Number);
    const k = ids.reduce((m, id) => Math.max(m, id), 0) + 1;
    return vocabulary(
      Array.from({ length: k }, (_, id) => String(id)),
      ids,
    );
  }
  const id2label = [...new Set(labels)].sort(compareStrings);
  const label2id = new Map(id2label.map((label, id) => [label, id]));
  return vocabulary(
    id2label,
    labels.map((label) => label2id.get(label)!),
  );
}

function vocabulary(id2label: string[], ids: number[]): LabelVocabulary {
  const label2id: Record<string, number> = {};
  id2label.forEach((label, id) => (label2id[label] = id));
  return { id2label, label2id, ids };
}

// ---------------------------------------------------------------------------------------------------
// Balance and split (the book's create_balanced_dataset and random_split)

export interface SplitOptions {
  seed: number;
  /** Undersample every class to the size of the smallest class first (create_balanced_dataset). */
  balance: boolean;
  /** Default 0.7. */
  trainFrac?: number;
  /** Default 0.1; the test set gets the rest. */
  valFrac?: number;
}

export interface DatasetSplits<E> {
  train: E[];
  validation: E[];
  test: E[];
}

function compareLabels(a: string | number, b: string | number): number {
  return typeof a === 'number' && typeof b === 'number' ? a - b : compareStrings(String(a), String(b));
}

/**
 * The book's create_balanced_dataset, for any number of classes: every class with more examples than
 * the smallest is cut to that size by a seeded sample. The result lists the classes in sorted label order
 * (ham before spam, as the book concatenates them). Deterministic for a seed; not pandas' sampling.
 */
export function balanceClasses<E extends { label: string | number }>(
  examples: readonly E[],
  seed: number,
): E[] {
  const byClass = new Map<string | number, E[]>();
  for (const e of examples) {
    const members = byClass.get(e.label);
    if (members) members.push(e);
    else byClass.set(e.label, [e]);
  }
  const classes = [...byClass.keys()].sort(compareLabels);
  const smallest = Math.min(...classes.map((c) => byClass.get(c)!.length));
  const out: E[] = [];
  classes.forEach((c, k) => {
    const members = byClass.get(c)!;
    if (members.length === smallest) out.push(...members);
    else {
      const order = seededPermutation(members.length, deriveSeed(seed, k));
      for (let i = 0; i < smallest; i++) out.push(members[order[i]]);
    }
  });
  return out;
}

/**
 * The book's random_split: a seeded shuffle of all examples, then train = the first floor(n·trainFrac),
 * validation = the next floor(n·valFrac), test = the rest.
 */
export function randomSplit<E>(
  examples: readonly E[],
  options: { seed: number; trainFrac?: number; valFrac?: number },
): DatasetSplits<E> {
  const trainFrac = options.trainFrac ?? 0.7;
  const valFrac = options.valFrac ?? 0.1;
  if (!(trainFrac > 0 && valFrac >= 0 && trainFrac + valFrac <= 1)) {
    throw new Error(
      `randomSplit: need trainFrac > 0, valFrac >= 0 and trainFrac + valFrac <= 1, got ${trainFrac} and ${valFrac}`,
    );
  }
  const n = examples.length;
  const order = seededPermutation(n, options.seed >>> 0);
  const shuffled = Array.from(order, (i) => examples[i]);
  const trainEnd = Math.floor(n * trainFrac);
  const valEnd = trainEnd + Math.floor(n * valFrac);
  return {
    train: shuffled.slice(0, trainEnd),
    validation: shuffled.slice(trainEnd, valEnd),
    test: shuffled.slice(valEnd),
  };
}

/** balanceClasses (when `balance`) then randomSplit, both with `seed`. */
export function balanceAndSplit<E extends { label: string | number }>(
  examples: readonly E[],
  options: SplitOptions,
): DatasetSplits<E> {
  const pool = options.balance ? balanceClasses(examples, options.seed) : examples;
  return randomSplit(pool, options);
}

// ---------------------------------------------------------------------------------------------------
// Padded dataset (the book's SpamDataset)

/** What the dataset needs of a tokenizer: Gpt2Tokenizer and BpeTokenizerSimple both fit. */
export interface ClassificationTokenizer {
  encode(text: string, options?: { disallowedSpecial?: 'all' | 'none' }): number[];
}

export interface ClassificationDatasetOptions {
  /** The model's context length; rows may not be longer. */
  contextLength: number;
  /** Tokens per row: longer examples are truncated. Default: the longest example, nothing truncated. */
  maxLength?: number;
  /** Default 50256, GPT-2's <|endoftext|>, as in the book. */
  padTokenId?: number;
}

/** One example: `ids` is padded to maxLength; `length` counts its real (non-padding) tokens. */
export interface ClassificationRow {
  ids: Int32Array;
  label: number;
  length: number;
}

/**
 * Encoded examples padded to one length, as the book's SpamDataset: each row is the example's tokens
 * (truncated to maxLength when given), then padTokenId up to maxLength. `lengths` lets a classifier read
 * the last real token instead of the last position.
 */
export class ClassificationDataset {
  readonly length: number;
  readonly maxLength: number;
  readonly padTokenId: number;
  /** Row-major [length, maxLength]. */
  readonly ids: Int32Array;
  readonly labels: Int32Array;
  /** Real tokens per row (1..maxLength). */
  readonly lengths: Int32Array;
  /** The longest example's token count before truncation. */
  readonly longestExample: number;
  /** How many examples were cut to maxLength. */
  readonly truncatedCount: number;

  private constructor(
    tokenIds: readonly ArrayLike<number>[],
    labelIds: ArrayLike<number>,
    options: ClassificationDatasetOptions,
  ) {
    const where = 'ClassificationDataset';
    const { contextLength, maxLength } = options;
    const padTokenId = options.padTokenId ?? 50256;
    if (tokenIds.length !== labelIds.length) {
      throw new Error(`${where}: ${tokenIds.length} examples but ${labelIds.length} labels`);
    }
    if (tokenIds.length === 0) throw new Error(`${where}: no examples`);
    if (!Number.isInteger(contextLength) || contextLength < 1)
      throw new Error(`${where}: contextLength must be a positive integer, got ${contextLength}`);
    if (maxLength !== undefined && (!Number.isInteger(maxLength) || maxLength < 1))
      throw new Error(`${where}: maxLength must be a positive integer, got ${maxLength}`);
    if (!Number.isInteger(padTokenId) || padTokenId < 0)
      throw new Error(`${where}: padTokenId must be a non-negative integer, got ${padTokenId}`);
    let longest = 0;
    tokenIds.forEach((ids, i) => {
      if (ids.length === 0) throw new Error(`${where}: example ${i} has no tokens (an empty text)`);
      longest = Math.max(longest, ids.length);
    });
    const T = maxLength ?? longest;
    if (T > contextLength) {
      const what =
        maxLength === undefined
          ? `the longest example has ${longest} tokens, more than the context length ${contextLength}`
          : `maxLength ${maxLength} exceeds the context length ${contextLength} (the longest example has ${longest} tokens)`;
      throw new Error(`${where}: ${what}; truncate with --max-length N (maxLength), N <= ${contextLength}`);
    }
    const n = tokenIds.length;
    this.length = n;
    this.maxLength = T;
    this.padTokenId = padTokenId;
    this.longestExample = longest;
    this.ids = new Int32Array(n * T).fill(padTokenId);
    this.labels = new Int32Array(n);
    this.lengths = new Int32Array(n);
    let truncated = 0;
    for (let i = 0; i < n; i++) {
      const label = labelIds[i];
      if (!Number.isInteger(label) || label < 0)
        throw new Error(
          `${where}: label ${i} is ${label}; class ids are integers >= 0 (see labelVocabulary)`,
        );
      const ids = tokenIds[i];
      const len = Math.min(ids.length, T);
      if (ids.length > T) truncated++;
      for (let t = 0; t < len; t++) this.ids[i * T + t] = ids[t];
      this.labels[i] = label;
      this.lengths[i] = len;
    }
    this.truncatedCount = truncated;
  }

  /** Encodes each text (special-token text such as "<|endoftext|>" as ordinary text) and pads. */
  static fromTexts(
    texts: readonly string[],
    labelIds: ArrayLike<number>,
    tokenizer: ClassificationTokenizer,
    options: ClassificationDatasetOptions,
  ): ClassificationDataset {
    const tokenIds = texts.map((text) => tokenizer.encode(text, { disallowedSpecial: 'none' }));
    return new ClassificationDataset(tokenIds, labelIds, options);
  }

  /** From token ids already encoded. */
  static fromTokenIds(
    tokenIds: readonly ArrayLike<number>[],
    labelIds: ArrayLike<number>,
    options: ClassificationDatasetOptions,
  ): ClassificationDataset {
    return new ClassificationDataset(tokenIds, labelIds, options);
  }

  row(index: number): ClassificationRow {
    if (!(Number.isInteger(index) && index >= 0 && index < this.length))
      throw new Error(
        `ClassificationDataset.row: ${index} is out of range (the dataset has ${this.length} rows)`,
      );
    const T = this.maxLength;
    return {
      ids: this.ids.subarray(index * T, (index + 1) * T),
      label: this.labels[index],
      length: this.lengths[index],
    };
  }
}

// ---------------------------------------------------------------------------------------------------
// Batches

/** One batch: `inputs` is row-major [batchSize, seqLen]; `labels` and `lengths` have batchSize entries. */
export interface ClassificationBatch {
  inputs: Int32Array;
  labels: Int32Array;
  lengths: Int32Array;
  /** Which dataset rows these are (to reuse per-example results, such as cached activations). */
  rows: Int32Array;
  batchSize: number;
  seqLen: number;
}

/**
 * Batches of a ClassificationDataset with DataLoader's semantics: the same options, the same seeded
 * per-epoch order, the same LoaderState (its `windows` counts examples here) and exact mid-epoch resume.
 * The book: training batch 8, shuffle, dropLast; validation and test in order, keeping the last batch.
 */
export class ClassificationLoader extends BatchLoader<ClassificationBatch> {
  constructor(
    readonly dataset: ClassificationDataset,
    options: DataLoaderOptions,
  ) {
    super(() => dataset.length, 'examples', options);
  }

  protected makeBatch(rows: Int32Array): ClassificationBatch {
    const { dataset } = this;
    const T = dataset.maxLength;
    const B = rows.length;
    const inputs = new Int32Array(B * T);
    const labels = new Int32Array(B);
    const lengths = new Int32Array(B);
    for (let b = 0; b < B; b++) {
      const row = rows[b];
      inputs.set(dataset.ids.subarray(row * T, (row + 1) * T), b * T);
      labels[b] = dataset.labels[row];
      lengths[b] = dataset.lengths[row];
    }
    return { inputs, labels, lengths, rows, batchSize: B, seqLen: T };
  }
}
