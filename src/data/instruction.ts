// Data for instruction fine-tuning, the book's chapter 7, and for preference tuning (its DPO bonus):
// entries {instruction, input, output}, prompt templates (the book's Alpaca format, exercise 7.1's Phi-3
// style, a user's own), the book's 85/10/5 split, its padded collate with -100 targets, and the
// preference collate with its masks. Nothing here knows about models or tensors.

import { readFileSync } from 'node:fs';
import { BatchLoader, type DataLoaderOptions } from './loader.js';

export const END_OF_TEXT_ID = 50256;
export const IGNORE_INDEX = -100;

// ---------------------------------------------------------------------------------------------------
// Entries

/** One instruction example. `input` is '' when the entry has none; other keys are kept as they are. */
export interface InstructionEntry {
  instruction: string;
  input: string;
  output: string;
  [key: string]: unknown;
}

export interface ReadEntriesOptions {
  /** Keys every entry must have as strings, besides `instruction` (default ['output']). */
  required?: readonly string[];
}

/**
 * Reads a JSON list of entries, or JSON lines (one object per line). Every entry needs a string
 * `instruction`; `input` may be missing (''), and each key in `required` must be a string. Errors name
 * the file and the entry's index (and line, for JSON lines).
 */
export function readInstructionEntries(path: string, options: ReadEntriesOptions = {}): InstructionEntry[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new Error(`${path}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  if (text.trim() === '') throw new Error(`${path}: the file is empty; expected a JSON list of entries`);
  let raw: unknown[];
  const where: (i: number) => string = (i) => `${path}: entry ${i}`;
  let lineOf: ((i: number) => number) | null = null;
  if (text.trimStart().startsWith('[')) {
    try {
      raw = JSON.parse(text) as unknown[];
    } catch (e) {
      throw new Error(`${path}: not valid JSON (${(e as Error).message})`);
    }
    if (!Array.isArray(raw)) throw new Error(`${path}: expected a JSON list of entries`);
  } else {
    raw = [];
    const lines: number[] = [];
    text.split(/\r?\n/).forEach((line, n) => {
      if (line.trim() === '') return;
      try {
        raw.push(JSON.parse(line));
      } catch (e) {
        throw new Error(
          `${path}: line ${n + 1} is not valid JSON (${(e as Error).message}); expected a JSON list or one object per line`,
        );
      }
      lines.push(n + 1);
    });
    lineOf = (i) => lines[i];
  }
  if (raw.length === 0) throw new Error(`${path}: no entries`);
  const required = options.required ?? ['output'];
  return raw.map((e, i) => {
    const at = lineOf ? `${where(i)} (line ${lineOf(i)})` : where(i);
    if (!e || typeof e !== 'object' || Array.isArray(e))
      throw new Error(`${at}: expected an object with "instruction", "input" and "output"`);
    const o = e as Record<string, unknown>;
    for (const key of ['instruction', ...required]) {
      if (!(key in o)) throw new Error(`${at}: missing "${key}"`);
      if (typeof o[key] !== 'string')
        throw new Error(`${at}: "${key}" must be a string, got ${JSON.stringify(o[key])}`);
    }
    if (o.input !== undefined && o.input !== null && typeof o.input !== 'string')
      throw new Error(`${at}: "input" must be a string, got ${JSON.stringify(o.input)}`);
    return {
      ...o,
      instruction: o.instruction as string,
      input: (o.input as string) ?? '',
      output: (o.output as string) ?? '',
    };
  });
}

/** The book's split without shuffling: the first 85% train, the next 10% test, the rest validation. */
export function splitInstructionData<E>(entries: readonly E[]): { train: E[]; test: E[]; validation: E[] } {
  const trainCount = Math.floor(entries.length * 0.85);
  const testCount = Math.floor(entries.length * 0.1);
  return {
    train: entries.slice(0, trainCount),
    test: entries.slice(trainCount, trainCount + testCount),
    validation: entries.slice(trainCount + testCount),
  };
}

// ---------------------------------------------------------------------------------------------------
// Prompt templates

/**
 * A template as stored with a model: `prompt` holds {instruction} and {input}; {input} becomes `input`
 * with the entry's input substituted, or nothing when the entry has none; `response` holds {output}, and
 * the text before {output} is the response marker the model learns to write after the prompt.
 */
export interface TemplateSpec {
  name: string;
  prompt: string;
  input: string;
  response: string;
}

export const TEMPLATES = {
  alpaca: {
    name: 'alpaca',
    prompt:
      'Below is an instruction that describes a task. Write a response that appropriately completes the request.' +
      '\n\n### Instruction:\n{instruction}{input}',
    input: '\n\n### Input:\n{input}',
    response: '\n\n### Response:\n{output}',
  },
  phi3: {
    name: 'phi3',
    prompt: '<|user|>\n{instruction}{input}',
    input: '\n{input}',
    response: '\n<|assistant|>:\n{output}',
  },
} as const satisfies Record<string, TemplateSpec>;

export type TemplateName = keyof typeof TEMPLATES;

export interface PromptTemplate {
  readonly spec: TemplateSpec;
  readonly name: string;
  /** The response marker without surrounding whitespace ('### Response:'), removed from generated answers. */
  readonly marker: string;
  /** The prompt of an entry (the book's format_input for alpaca). */
  prompt(entry: { instruction: string; input?: string }): string;
  /** The text after the prompt in a training example: marker and output. */
  response(output: string): string;
  /** The book's answer extraction from what a model generated after the prompt: marker removed, trimmed. */
  extract(generated: string): string;
}

/** Substitute {name} fields in one pass, so a value that itself contains "{input}" stays as it is. */
function fill(template: string, values: Record<string, string>): string {
  return template.replace(/\{(instruction|input|output)\}/g, (m, k: string) => values[k] ?? m);
}

function checkSpec(spec: TemplateSpec, where: string): TemplateSpec {
  for (const key of ['name', 'prompt', 'input', 'response'] as const)
    if (typeof spec[key] !== 'string') throw new Error(`${where}: "${key}" must be a string`);
  const count = (s: string, field: string) => s.split(`{${field}}`).length - 1;
  const need = (s: string, key: string, field: string) => {
    if (count(s, field) !== 1) throw new Error(`${where}: "${key}" must contain {${field}} exactly once`);
  };
  need(spec.prompt, 'prompt', 'instruction');
  need(spec.prompt, 'prompt', 'input');
  need(spec.input, 'input', 'input');
  need(spec.response, 'response', 'output');
  if (spec.response.split('{output}')[0].trim() === '')
    throw new Error(
      `${where}: "response" has no response marker before {output} (as "\\n\\n### Response:\\n{output}"); ` +
        'the model needs one to know where its answer starts',
    );
  return spec;
}

/** A template from a stored spec. */
export function templateFromSpec(spec: TemplateSpec, where = 'template'): PromptTemplate {
  const s = checkSpec({ ...spec }, where);
  const marker = s.response.split('{output}')[0].trim();
  return {
    spec: s,
    name: s.name,
    marker,
    prompt: (e) =>
      fill(s.prompt, {
        instruction: e.instruction,
        input: e.input ? fill(s.input, { input: e.input }) : '',
      }),
    response: (output) => fill(s.response, { output }),
    extract: (generated) => generated.split(marker).join('').trim(),
  };
}

/**
 * 'alpaca' (the book), 'phi3' (exercise 7.1), or a JSON file {"name"?, "prompt", "input", "response"} in
 * the same form as TEMPLATES.
 */
export function promptTemplate(nameOrFile: string): PromptTemplate {
  if (Object.hasOwn(TEMPLATES, nameOrFile)) return templateFromSpec(TEMPLATES[nameOrFile as TemplateName]);
  let obj: unknown;
  try {
    obj = JSON.parse(readFileSync(nameOrFile, 'utf8'));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT')
      throw new Error(
        `--template ${nameOrFile}: not ${Object.keys(TEMPLATES).join(' or ')}, and no such file`,
      );
    throw new Error(`--template ${nameOrFile}: not valid JSON (${(e as Error).message})`);
  }
  if (!obj || typeof obj !== 'object' || Array.isArray(obj))
    throw new Error(`--template ${nameOrFile}: expected a JSON object with "prompt", "input" and "response"`);
  const o = obj as Record<string, unknown>;
  const unknown = Object.keys(o).filter((k) => !['name', 'prompt', 'input', 'response'].includes(k));
  if (unknown.length)
    throw new Error(
      `--template ${nameOrFile}: unknown key${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => `"${k}"`).join(', ')}; a template has "name", "prompt", "input", "response"`,
    );
  const spec = { name: nameOrFile, ...o } as TemplateSpec;
  return templateFromSpec(spec, `--template ${nameOrFile}`);
}

/** The book's format_input: the Alpaca prompt of an entry. */
export function formatInput(entry: { instruction: string; input?: string }): string {
  return ALPACA.prompt(entry);
}

const ALPACA = templateFromSpec(TEMPLATES.alpaca);

// ---------------------------------------------------------------------------------------------------
// Instruction dataset and the book's collate

export interface TextEncoder {
  encode(text: string, options?: { disallowedSpecial?: 'all' | 'none' }): number[];
}

/** Pre-tokenized examples (the book's InstructionDataset): prompt + response ids, and the prompt's length. */
export class InstructionDataset {
  readonly ids: number[][];
  readonly promptLengths: number[];

  constructor(
    readonly entries: readonly InstructionEntry[],
    tokenizer: TextEncoder,
    readonly template: PromptTemplate,
  ) {
    this.ids = [];
    this.promptLengths = [];
    for (const e of entries) {
      const prompt = template.prompt(e);
      // Special-token text in the data ("<|endoftext|>") is ordinary text here, as in the other tasks.
      this.ids.push(tokenizer.encode(prompt + template.response(e.output), { disallowedSpecial: 'none' }));
      this.promptLengths.push(tokenizer.encode(prompt, { disallowedSpecial: 'none' }).length);
    }
  }

  get length(): number {
    return this.ids.length;
  }
}

export interface CollateOptions {
  padTokenId?: number;
  ignoreIndex?: number;
  /** Keep at most this many positions (the book's allowed_max_length). */
  allowedMaxLength?: number;
  /** Exercise 7.2: the prompt's targets are ignored too (pass each item's prompt length). */
  promptLengths?: readonly number[];
}

/** A collated batch: row-major [batchSize, seqLen] inputs and targets. */
export interface InstructionBatch {
  inputs: Int32Array;
  targets: Int32Array;
  batchSize: number;
  seqLen: number;
  rows?: Int32Array;
}

/**
 * The book's custom_collate_fn: each item plus one end-of-text token, padded with it to the batch's
 * longest (+1); inputs drop the last position, targets the first; every padding target after the first
 * is ignore_index; then both are cut to allowedMaxLength.
 */
export function collateInstructions(
  items: readonly ArrayLike<number>[],
  o: CollateOptions = {},
): InstructionBatch {
  const pad = o.padTokenId ?? END_OF_TEXT_ID;
  const ignore = o.ignoreIndex ?? IGNORE_INDEX;
  if (items.length === 0) throw new Error('collateInstructions: an empty batch');
  const longest = Math.max(...Array.from(items, (x) => x.length + 1));
  const T = Math.min(longest - 1, o.allowedMaxLength ?? Infinity);
  const B = items.length;
  const inputs = new Int32Array(B * T);
  const targets = new Int32Array(B * T);
  for (let b = 0; b < B; b++) {
    const item = items[b];
    const padded = new Int32Array(longest).fill(pad);
    padded.set(item);
    let padSeen = false;
    for (let t = 0; t < T; t++) {
      inputs[b * T + t] = padded[t];
      let target = padded[t + 1];
      if (target === pad) {
        if (padSeen) target = ignore;
        padSeen = true;
      }
      targets[b * T + t] = target;
    }
    const promptLength = o.promptLengths?.[b];
    if (promptLength !== undefined)
      for (let t = 0; t < Math.min(promptLength - 1, T); t++) targets[b * T + t] = ignore;
  }
  return { inputs, targets, batchSize: B, seqLen: T };
}

export interface InstructionLoaderOptions extends DataLoaderOptions {
  allowedMaxLength?: number;
  maskInstructions?: boolean;
}

/** Batches of an InstructionDataset with BatchLoader's seeded order and exact resume. */
export class InstructionLoader extends BatchLoader<InstructionBatch> {
  constructor(
    readonly dataset: InstructionDataset,
    private readonly o: InstructionLoaderOptions,
  ) {
    super(() => dataset.length, 'examples', o);
  }

  protected makeBatch(rows: Int32Array): InstructionBatch {
    const items = Array.from(rows, (r) => this.dataset.ids[r]);
    const batch = collateInstructions(items, {
      allowedMaxLength: this.o.allowedMaxLength,
      promptLengths: this.o.maskInstructions
        ? Array.from(rows, (r) => this.dataset.promptLengths[r])
        : undefined,
    });
    return { ...batch, rows };
  }
}

// ---------------------------------------------------------------------------------------------------
// Preference pairs (the DPO bonus's PreferenceDataset and collate)

export interface PreferenceEntry extends InstructionEntry {
  chosen: string;
  rejected: string;
}

export class PreferenceDataset {
  readonly prompts: number[][] = [];
  readonly chosen: number[][] = [];
  readonly rejected: number[][] = [];

  constructor(
    readonly entries: readonly PreferenceEntry[],
    tokenizer: TextEncoder,
    readonly template: PromptTemplate,
  ) {
    const enc = (s: string) => tokenizer.encode(s, { disallowedSpecial: 'none' });
    for (const e of entries) {
      const prompt = template.prompt(e);
      this.prompts.push(enc(prompt));
      this.chosen.push(enc(prompt + template.response(e.chosen)));
      this.rejected.push(enc(prompt + template.response(e.rejected)));
    }
  }

  get length(): number {
    return this.prompts.length;
  }
}

/** A collated preference batch: row-major [batchSize, seqLen] ids and 0/1 masks of the scored tokens. */
export interface PreferenceBatch {
  chosen: Int32Array;
  rejected: Int32Array;
  chosenMask: Uint8Array;
  rejectedMask: Uint8Array;
  batchSize: number;
  seqLen: number;
  rows: Int32Array;
}

/**
 * The DPO notebook's collate: chosen and rejected padded to one common length (the longest + 1), masks
 * false on padding and on the prompt plus 2 tokens (the "\n\n" before the response marker, in the book's
 * words), then cut to allowedMaxLength.
 */
export function collatePreferences(
  ds: PreferenceDataset,
  rows: Int32Array,
  o: { padTokenId?: number; allowedMaxLength?: number } = {},
): PreferenceBatch {
  const pad = o.padTokenId ?? END_OF_TEXT_ID;
  const B = rows.length;
  if (B === 0) throw new Error('collatePreferences: an empty batch');
  let common = 0;
  for (const r of rows) common = Math.max(common, ds.chosen[r].length + 1, ds.rejected[r].length + 1);
  const T = Math.min(common, o.allowedMaxLength ?? Infinity);
  const out = {
    chosen: new Int32Array(B * T).fill(pad),
    rejected: new Int32Array(B * T).fill(pad),
    chosenMask: new Uint8Array(B * T),
    rejectedMask: new Uint8Array(B * T),
  };
  rows.forEach((r, b) => {
    const masked = ds.prompts[r].length + 2;
    for (const [ids, seq, mask] of [
      [out.chosen, ds.chosen[r], out.chosenMask],
      [out.rejected, ds.rejected[r], out.rejectedMask],
    ] as const) {
      for (let t = 0; t < Math.min(seq.length, T); t++) {
        ids[b * T + t] = seq[t];
        mask[b * T + t] = t >= masked ? 1 : 0;
      }
    }
  });
  return { ...out, batchSize: B, seqLen: T, rows };
}

export class PreferenceLoader extends BatchLoader<PreferenceBatch> {
  constructor(
    readonly dataset: PreferenceDataset,
    private readonly o: DataLoaderOptions & { allowedMaxLength?: number },
  ) {
    super(() => dataset.length, 'examples', o);
  }

  protected makeBatch(rows: Int32Array): PreferenceBatch {
    return collatePreferences(this.dataset, rows, { allowedMaxLength: this.o.allowedMaxLength });
  }
}
