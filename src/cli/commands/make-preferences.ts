// `gptkit make-preferences`: the book's preference data for DPO (ch07/04): an LLM rewrites each output more
// politely or less; the result is written atomically as a JSON list with `chosen` and `rejected`.
import type { Command } from 'commander';
import {
  DEFAULT_PREFERENCE_MODEL,
  DEFAULT_PREFERENCE_SEED,
  BOOK_PREFERENCE_OPTIONS,
  makePreferences,
  readInstructionEntries,
  writePreferences,
} from '../../index.js';
import { parseIntArg } from '../args.js';
import { addServerOptions, chatClient, EntryProgress, type ServerOptions } from './judge.js';

interface MakePreferencesCliOptions extends ServerOptions {
  data: string;
  out: string;
  seed: number;
  progress: boolean;
}

export function register(program: Command): void {
  const cmd = program
    .command('make-preferences')
    .description(
      'build a DPO preference dataset (chosen/rejected) by having an LLM rewrite each output, as the book does',
    )
    .requiredOption(
      '--data <file>',
      'instruction data: a JSON list or JSON lines of {instruction, input, output}',
    )
    .requiredOption('--out <file>', 'where to write the JSON list with "chosen" and "rejected" added');
  addServerOptions(cmd, DEFAULT_PREFERENCE_MODEL)
    .option(
      '--seed <n>',
      "seed of the polite/impolite choices (Python's random.seed(n) + random.choice sequence)",
      parseIntArg('--seed', 0),
      DEFAULT_PREFERENCE_SEED,
    )
    .option('--no-progress', 'no progress bar (it is drawn only on a terminal anyway)')
    .addHelpText(
      'after',
      '\nStart the model first: `ollama serve`, then `ollama pull llama3.1:70b` once (or use --judge-model llama3.1).' +
        '\nThe output file is written only when every entry is done.',
    )
    .action(async (o: MakePreferencesCliOptions) => {
      const entries = readInstructionEntries(o.data);
      const progress = new EntryProgress(o.progress, process.stdout);
      const client = chatClient(o, progress.warn, BOOK_PREFERENCE_OPTIONS);
      console.log(
        `Rewriting ${entries.length} outputs of ${o.data} with ${client.description} (seed ${o.seed})`,
      );
      progress.start(entries.length, 'Writing entries');
      let polite = 0;
      let empty = 0;
      let result;
      try {
        result = await makePreferences(entries, {
          client,
          seed: o.seed,
          onEntry: (p) => {
            if (p.politeness === 'polite') polite++;
            if (p.rewrite.trim() === '') empty++;
            progress.increment();
          },
        });
      } finally {
        progress.stop();
      }
      await writePreferences(o.out, result);
      console.log(
        `Wrote ${result.length} entries to ${o.out}: ${polite} polite rewrites chosen, ` +
          `${result.length - polite} impolite rewrites rejected`,
      );
      if (empty > 0) console.log(`Warning: ${empty} rewrites came back empty; check the model's replies`);
    });
}
