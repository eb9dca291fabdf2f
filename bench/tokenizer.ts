// Tokenizer benchmark: GPT-2 encode throughput of gptkit against gpt-tokenizer and js-tiktoken, on the
// same inputs in the same process, checking that all three produce identical ids. Not a test: it only
// measures and reports (markdown). Run: npm run bench -- tokenizer   (or node dist/bench/tokenizer-main.js)
import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { Tiktoken } from 'js-tiktoken/lite';
import gpt2Ranks from 'js-tiktoken/ranks/gpt2';
import { encode as gptTokenizerEncode } from 'gpt-tokenizer/encoding/r50k_base';
import { dataPath } from '../src/data/paths.js';
import { loadGpt2Tokenizer } from '../src/tokenizer/gpt2.js';

interface Encoder {
  name: string;
  encode: (text: string) => number[];
}

interface Input {
  name: string;
  text: string;
}

function repeatTo(text: string, megabytes: number, separator = '\n'): string {
  const unit = text + separator;
  const copies = Math.max(1, Math.ceil((megabytes * 1e6) / Buffer.byteLength(unit)));
  return unit.repeat(copies);
}

function inputs(verdictMb: number, otherMb: number): Input[] {
  const verdict = readFileSync(dataPath('the-verdict.txt'), 'utf8');
  const sms = readFileSync(dataPath('SMSSpamCollection.tsv'), 'utf8')
    .split('\n')
    .map((line) => line.slice(line.indexOf('\t') + 1))
    .join('\n');
  const entries = JSON.parse(readFileSync(dataPath('instruction-data.json'), 'utf8')) as Array<
    Record<string, string>
  >;
  // The book's chapter-7 prompt format (Alpaca style) with the response appended.
  const instructions = entries
    .map(
      (e) =>
        'Below is an instruction that describes a task. Write a response that appropriately completes the request.' +
        `\n\n### Instruction:\n${e.instruction}${e.input ? `\n\n### Input:\n${e.input}` : ''}\n\n### Response:\n${e.output}`,
    )
    .join('\n\n');
  return [
    { name: `the-verdict.txt x${Math.round((verdictMb * 1e6) / 20479)}`, text: repeatTo(verdict, verdictMb) },
    { name: 'SMS spam texts', text: repeatTo(sms, otherMb) },
    { name: 'instruction data (Alpaca prompts)', text: repeatTo(instructions, otherMb, '\n\n') },
  ];
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

function sameIds(a: readonly number[], b: readonly number[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function timeEncoder(enc: Encoder, text: string, runs: number): { seconds: number; ids: number[] } {
  let ids = enc.encode(text); // warm-up: JIT and caches, for every library alike
  const times: number[] = [];
  for (let r = 0; r < runs; r++) {
    const t0 = process.hrtime.bigint();
    ids = enc.encode(text);
    times.push(Number(process.hrtime.bigint() - t0) / 1e9);
  }
  return { seconds: median(times), ids };
}

function parseArgs(args: string[]): { verdictMb: number; otherMb: number; runs: number } {
  const opts = { verdictMb: 10, otherMb: 2, runs: 3 };
  for (let i = 0; i < args.length; i++) {
    const value = Number(args[i + 1]);
    if (args[i] === '--size') opts.verdictMb = value;
    else if (args[i] === '--other-size') opts.otherMb = value;
    else if (args[i] === '--runs') opts.runs = value;
    else
      throw new Error(
        `bench tokenizer: unknown argument ${args[i]} (use --size MB, --other-size MB, --runs N)`,
      );
    if (!(value > 0)) throw new Error(`bench tokenizer: ${args[i]} needs a positive number`);
    i++;
  }
  return opts;
}

export async function run(args: string[]): Promise<void> {
  const { verdictMb, otherMb, runs } = parseArgs(args);
  const t0 = performance.now();
  const ours = loadGpt2Tokenizer();
  const loadMs = performance.now() - t0;
  const tiktoken = new Tiktoken(gpt2Ranks);
  const encoders: Encoder[] = [
    { name: 'gptkit', encode: (t) => ours.encode(t) },
    { name: 'gpt-tokenizer (r50k_base)', encode: (t) => gptTokenizerEncode(t) },
    { name: 'js-tiktoken (gpt2)', encode: (t) => tiktoken.encode(t, [], []) },
  ];

  const rows: string[] = [];
  const ratios: string[] = [];
  let allIdentical = true;
  for (const input of inputs(verdictMb, otherMb)) {
    const mb = Buffer.byteLength(input.text) / 1e6;
    const results = encoders.map((enc) => ({ enc, ...timeEncoder(enc, input.text, runs) }));
    const reference = results[0].ids;
    for (const r of results) {
      const identical = sameIds(r.ids, reference);
      allIdentical &&= identical;
      const mbps = mb / r.seconds;
      const mtps = r.ids.length / r.seconds / 1e6;
      rows.push(
        `| ${input.name} | ${mb.toFixed(1)} | ${r.enc.name} | ${mbps.toFixed(1)} | ${mtps.toFixed(2)} | ${identical ? 'yes' : 'NO'} |`,
      );
    }
    const fastestOther = Math.min(...results.slice(1).map((r) => r.seconds));
    const best = results.slice(1).find((r) => r.seconds === fastestOther)!;
    ratios.push(
      `- ${input.name}: gptkit is ${(fastestOther / results[0].seconds).toFixed(2)}x the fastest competitor (${best.enc.name})`,
    );
  }

  const cpu = cpus()[0]?.model ?? 'unknown CPU';
  const out = [
    `## GPT-2 encode throughput (median of ${runs} after one warm-up run; Node ${process.version}, ${cpu})`,
    '',
    '| input | MB | tokenizer | MB/s | M tokens/s | ids identical to gptkit |',
    '|---|---:|---|---:|---:|:---:|',
    ...rows,
    '',
    ...ratios,
    `- gptkit tokenizer load (encoder.json + vocab.bpe): ${loadMs.toFixed(0)} ms`,
    '',
    'Reproduce: `npm run bench -- tokenizer` or `npx tsc -p tsconfig.json && node dist/bench/tokenizer-main.js`' +
      ` (options: --size ${verdictMb} --other-size ${otherMb} --runs ${runs})`,
    '',
  ];
  process.stdout.write(out.join('\n'));
  if (!allIdentical)
    throw new Error('bench tokenizer: the tokenizers disagree on some input (see the table)');
}
