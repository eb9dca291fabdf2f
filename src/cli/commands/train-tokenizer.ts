// `gptkit train-tokenizer`: trains a BPE tokenizer on a text file and saves it.
// The book's character-level BPE by default (one .json file), or GPT-2-style byte-level BPE
// (a folder with encoder.json + vocab.bpe) with --byte-level. Not a corpus pipeline: one file in.
import type { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { BpeTokenizerSimple, saveByteLevelBpe, trainByteLevelBpe } from '../../index.js';

export interface CommandOutput {
  out: (text: string) => void;
  /** Progress goes to standard error so that standard output stays clean. */
  progress: (text: string) => void;
  /** Whether progress may redraw one line (a terminal) or should print occasional lines. */
  interactive: boolean;
}

const stdio: CommandOutput = {
  out: (text) => process.stdout.write(text),
  progress: (text) => process.stderr.write(text),
  interactive: process.stderr.isTTY === true,
};

interface TrainOptions {
  file: string;
  vocabSize: string;
  out: string;
  byteLevel?: boolean;
  special: string[];
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
    .action((opts: TrainOptions) => {
      const vocabSize = Number(opts.vocabSize);
      if (!Number.isInteger(vocabSize) || vocabSize < 1)
        throw new Error(`--vocab-size must be a positive integer, got ${JSON.stringify(opts.vocabSize)}`);
      let text: string;
      try {
        text = readFileSync(opts.file, 'utf8');
      } catch (err) {
        throw new Error(
          `cannot read --file ${opts.file}: ${err instanceof Error ? err.message : String(err)}`,
        );
      }
      const progress = progressReporter(io);
      const t0 = Date.now();
      let summary: string;
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
      const secs = ((Date.now() - t0) / 1000).toFixed(1);
      io.out(`trained on ${text.length.toLocaleString('en-US')} characters in ${secs}s: ${summary}\n`);
    });
}
