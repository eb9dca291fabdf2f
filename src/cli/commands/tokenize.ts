// `gptkit tokenize`: shows how a text splits into tokens (a table of ids and tokens, or JSON).
// A thin shell over the tokenizer API; it does not train or save anything.
import type { Command } from 'commander';
import { readFileSync, statSync } from 'node:fs';
import {
  dataPath,
  decodeUtf8Input,
  BpeTokenizerSimple,
  END_OF_TEXT,
  Gpt2Tokenizer,
  loadGpt2Tokenizer,
  SimpleTokenizerV2,
} from '../../index.js';

export interface CommandOutput {
  out: (text: string) => void;
  /** Warnings (e.g. invalid UTF-8 replaced); standard error by default. */
  warn?: (text: string) => void;
}

const warnStderr = (text: string): void => void process.stderr.write(text);
const stdout: CommandOutput = { out: (text) => process.stdout.write(text), warn: warnStderr };

interface TokenizeOptions {
  text?: string;
  file?: string;
  encoding: string;
  tokenizer?: string;
  allowSpecial?: boolean;
  json?: boolean;
  strict?: boolean;
}

// What the command needs of any tokenizer: ids, and a readable form of one token.
interface Shown {
  encode(text: string): number[];
  show(id: number): string;
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function gpt2Shown(tok: Gpt2Tokenizer, allowSpecial: boolean): Shown {
  return {
    encode: (text) => tok.encode(text, allowSpecial ? { allowedSpecial: 'all' } : {}),
    show: (id) => {
      const bytes = tok.tokenBytes(id);
      try {
        return JSON.stringify(strictUtf8.decode(bytes));
      } catch {
        // Part of a multi-byte character: show the raw bytes instead of a replacement character.
        return `<bytes ${[...bytes].map((b) => b.toString(16).padStart(2, '0')).join(' ')}>`;
      }
    },
  };
}

function chooseTokenizer(opts: TokenizeOptions): Shown {
  const allow = opts.allowSpecial ?? false;
  if (opts.tokenizer) {
    let isDir: boolean;
    try {
      isDir = statSync(opts.tokenizer).isDirectory();
    } catch {
      throw new Error(`--tokenizer ${opts.tokenizer}: no such file or folder`);
    }
    if (isDir) return gpt2Shown(Gpt2Tokenizer.fromDirectory(opts.tokenizer), allow);
    const tok = BpeTokenizerSimple.load(opts.tokenizer);
    return {
      encode: (text) => tok.encode(text, allow ? { allowedSpecial: 'all' } : {}),
      show: (id) => JSON.stringify(tok.decode([id])),
    };
  }
  if (opts.encoding === 'gpt2') return gpt2Shown(loadGpt2Tokenizer(), allow);
  if (opts.encoding === 'simple') {
    const tok = SimpleTokenizerV2.fromText(readFileSync(dataPath('the-verdict.txt'), 'utf8'));
    const endOfText = tok.vocab.get(END_OF_TEXT)!;
    return {
      // <|endoftext|> follows the same rule as with gpt2: an error unless allowed, then its id even
      // where the book's word split would glue it to a neighbouring word.
      encode: (text) => {
        const parts = text.split(END_OF_TEXT);
        if (parts.length > 1 && !allow)
          throw new Error(
            `encode: the text contains the special token ${JSON.stringify(END_OF_TEXT)} at index ${parts[0].length}, which is not allowed`,
          );
        return parts.flatMap((part, i) => (i === 0 ? tok.encode(part) : [endOfText, ...tok.encode(part)]));
      },
      show: (id) => JSON.stringify(tok.decode([id])),
    };
  }
  throw new Error(`--encoding must be gpt2 or simple, got ${JSON.stringify(opts.encoding)}`);
}

// --text arrives already decoded; a file or standard input is checked for invalid UTF-8.
async function readInput(opts: TokenizeOptions, warn: (text: string) => void): Promise<string> {
  if (opts.text !== undefined && opts.file !== undefined)
    throw new Error('give either --text or --file, not both');
  if (opts.text !== undefined) return opts.text;
  const decode = (bytes: Uint8Array, source: string): string =>
    decodeUtf8Input(bytes, source, { strict: opts.strict, warn });
  if (opts.file !== undefined) {
    let bytes: Buffer;
    try {
      bytes = readFileSync(opts.file);
    } catch (err) {
      throw new Error(`cannot read --file ${opts.file}: ${err instanceof Error ? err.message : String(err)}`);
    }
    return decode(bytes, `--file ${opts.file}`);
  }
  if (process.stdin.isTTY)
    throw new Error('no input: pass --text TEXT, --file PATH, or pipe text on standard input');
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin)
    chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer));
  return decode(Buffer.concat(chunks), 'standard input');
}

/** The human view: one row per token, the token JSON-quoted so spaces and newlines are visible. */
export function formatTokenTable(ids: readonly number[], show: (id: number) => string): string {
  // A reduce, not Math.max(...ids): spreading 100k+ arguments overflows the call stack.
  const width = ids.reduce((w, id) => Math.max(w, String(id).length), 2);
  const lines = [`${'id'.padStart(width)}  token`];
  for (const id of ids) lines.push(`${String(id).padStart(width)}  ${show(id)}`);
  lines.push(`${ids.length} token${ids.length === 1 ? '' : 's'}`);
  return `${lines.join('\n')}\n`;
}

export function register(program: Command, io: CommandOutput = stdout): void {
  program
    .command('tokenize')
    .description('show the token ids of a text (from --text, --file or standard input)')
    .option('--text <text>', 'the text to tokenize')
    .option('--file <path>', 'read the text from a file')
    .option(
      '--encoding <name>',
      "gpt2 (GPT-2 byte-level BPE, 50,257 tokens) or simple (the book's SimpleTokenizerV2 with a vocabulary built from the bundled the-verdict.txt; other words become <|unk|>)",
      'gpt2',
    )
    .option(
      '--tokenizer <path>',
      'use a trained tokenizer instead: a folder from train-tokenizer --byte-level, or its .json file',
    )
    .option(
      '--allow-special',
      'encode <|endoftext|> as its special token id (otherwise its presence is an error)',
    )
    .option('--json', 'print {"ids": [...], "count": N} instead of a table')
    .option(
      '--strict',
      'refuse a file or standard input that is not valid UTF-8 (by default invalid bytes become U+FFFD, with a warning)',
    )
    .action(async (opts: TokenizeOptions) => {
      const text = await readInput(opts, io.warn ?? warnStderr);
      const tok = chooseTokenizer(opts);
      let ids: number[];
      try {
        ids = tok.encode(text);
      } catch (err) {
        // The library's message names API options; on the command line the switch is --allow-special.
        const msg = (err as Error).message;
        if (!/special token/.test(msg) || opts.allowSpecial) throw err;
        throw new Error(
          `${msg.split('. To encode')[0]}. Pass --allow-special to encode it as its token id.`,
          { cause: err },
        );
      }
      if (opts.json) io.out(`${JSON.stringify({ ids, count: ids.length })}\n`);
      else io.out(formatTokenTable(ids, tok.show));
    });
}
