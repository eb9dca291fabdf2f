// `gptkit train-tokenizer`: trains a BPE tokenizer on a text file and saves it.
// The book's character-level BPE by default (one .json file), or GPT-2-style byte-level BPE
// (a folder with encoder.json + vocab.bpe) with --byte-level. Not a corpus pipeline: one file in.
import type { Command } from 'commander';
import { readFileSync } from 'node:fs';
import {
  BpeTokenizerSimple,
  decodeUtf8Input,
  saveByteLevelBpe,
  trainByteLevelBpe,
  VocabSizeError,
} from '../../index.js';

export interface CommandOutput {
  out: (text: string) => void;
  /** Progress goes to standard error so that standard output stays clean. */
  progress: (text: string) => void;
  /** Whether progress may redraw one line (a terminal) or should print occasional lines. */
  interactive: boolean;
  /** Warnings (e.g. invalid UTF-8 replaced); standard error by default. */
  warn?: (text: string) => void;
}

const warnStderr = (text: string): void => void process.stderr.write(text);
const stdio: CommandOutput = {
  out: (text) => process.stdout.write(text),
  progress: (text) => process.stderr.write(text),
  interactive: process.stderr.isTTY === true,
  warn: warnStderr,
};

interface TrainOptions {
  file: string;
  vocabSize: string;
  out: string;
  byteLevel?: boolean;
  special: string[];
  strict?: boolean;
}

/** Progress as a redrawn line on a terminal, or a line per 10% otherwise. */
function progressReporter(io: CommandOutput): {
  update: (done: number, total: number) => void;
  end: () => void;
} {
  const started = Date.now();
  let lastTenth = -1;
  let lastDraw = 0;
  return {
    update(done, total) {
      const pct = total > 0 ? Math.floor((100 * done) / total) : 100;
      const secs = ((Date.now() - started) / 1000).toFixed(1);
      if (io.interactive) {
        const now = Date.now();
        if (now - lastDraw < 100 && done < total) return;
        lastDraw = now;
        const filled = Math.round(pct / 5);
        io.progress(
          `\rtraining [${'#'.repeat(filled)}${'.'.repeat(20 - filled)}] ${done}/${total} merges  ${secs}s`,
        );
      } else if (Math.floor(pct / 10) > lastTenth) {
        lastTenth = Math.floor(pct / 10);
        io.progress(`training: ${done}/${total} merges (${pct}%) after ${secs}s\n`);
      }
    },
    end() {
      if (io.interactive) io.progress('\n');
    },
  };
}

export function register(program: Command, io: CommandOutput = stdio): void {
  program
    .command('train-tokenizer')
    .description('train a BPE tokenizer on a text file and save it')
    .requiredOption('--file <path>', 'training text (UTF-8)')
    .requiredOption('--vocab-size <n>', 'size of the final vocabulary, special tokens included')
    .requiredOption(
      '--out <path>',
      'where to save: a .json file, or with --byte-level a folder (encoder.json + vocab.bpe)',
    )
    .option(
      '--byte-level',
      "train GPT-2-style byte-level BPE (loadable as a GPT-2 tokenizer) instead of the book's character BPE",
    )
    .option('--special <token...>', 'special tokens to add', ['<|endoftext|>'])
    .option(
      '--strict',
      'refuse a file that is not valid UTF-8 (by default invalid bytes become U+FFFD, with a warning)',
    )
    .action((opts: TrainOptions) => {
      const vocabSize = Number(opts.vocabSize);
      if (!Number.isInteger(vocabSize) || vocabSize < 1)
        throw new Error(`--vocab-size must be a positive integer, got ${JSON.stringify(opts.vocabSize)}`);
      let bytes: Buffer;
      try {
        bytes = readFileSync(opts.file);
      } catch (err) {
        throw new Error(
          `cannot read --file ${opts.file}: ${err instanceof Error ? err.message : String(err)}`,
        );
      }
      if (bytes.length === 0) throw new Error(`--file ${opts.file} is empty: there is no text to train on`);
      const text = decodeUtf8Input(bytes, `--file ${opts.file}`, {
        strict: opts.strict,
        warn: io.warn ?? warnStderr,
      });
      const progress = progressReporter(io);
      const t0 = Date.now();
      let summary: string;
      try {
        if (opts.byteLevel) {
          const bpe = trainByteLevelBpe(text, {
            vocabSize,
            specialTokens: opts.special,
            onProgress: progress.update,
          });
          progress.end();
          saveByteLevelBpe(opts.out, bpe);
          summary = `${bpe.merges.length} merges, ${bpe.encoder.size} tokens -> ${opts.out}/encoder.json + vocab.bpe`;
        } else {
          const tok = BpeTokenizerSimple.train(text, {
            vocabSize,
            allowedSpecial: opts.special,
            onProgress: progress.update,
          });
          progress.end();
          tok.save(opts.out);
          summary = `${tok.merges.length} merges, ${tok.vocabSize} tokens -> ${opts.out}`;
        }
      } catch (err) {
        // The vocabulary starts with more tokens than asked for; say so in the command's terms.
        if (!(err instanceof VocabSizeError)) throw err;
        throw new Error(
          `--vocab-size ${opts.vocabSize} is too small: the smallest possible is ${err.minimum}, ` +
            `the ${opts.byteLevel ? 'byte-level' : "book's character"} BPE's vocabulary before any merge ` +
            `(${err.base}); each token above that is one learned merge`,
          { cause: err },
        );
      }
      const secs = ((Date.now() - t0) / 1000).toFixed(1);
      io.out(`trained on ${text.length.toLocaleString('en-US')} characters in ${secs}s: ${summary}\n`);
    });
}
