// `gptkit classify`: label texts with a classifier trained by `gptkit finetune-classifier`.
import type { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { classifyTexts, loadClassifier, type WeightDtype } from '../../index.js';
import { DTYPE_HELP, NO_MAP_HELP, parseDtypeArg } from '../args.js';

const collect = (value: string, previous: string[]) => [...previous, value];

export function register(program: Command): void {
  program
    .command('classify')
    .description(
      'classify texts with a fine-tuned classifier (a model directory written by finetune-classifier)',
    )
    .requiredOption('--model <dir>', 'classifier model directory (or LoRA adapter directory)')
    .option('--text <text>', 'a text to classify (repeatable)', collect, [] as string[])
    .option('--file <file>', 'a file with one text per non-empty line')
    .option('--json', 'one JSON object per input: {"text", "label", "probabilities"}')
    .option('--dtype <f32|bf16|int8>', DTYPE_HELP, parseDtypeArg, 'f32')
    .option('--no-map', NO_MAP_HELP)
    .action(
      async (o: {
        model: string;
        text: string[];
        file?: string;
        json?: boolean;
        dtype: WeightDtype;
        map: boolean;
      }) => {
        // concat, not push(...lines): a spread of a long file's lines overflows the call stack.
        const fromFile =
          o.file === undefined
            ? []
            : readFileSync(o.file, 'utf8')
                .split(/\r?\n/)
                .filter((l) => l.trim() !== '');
        const texts = o.text.concat(fromFile);
        if (o.text.length === 0 && o.file === undefined)
          throw new Error('give --text TEXT (repeatable) or --file FILE');
        if (texts.length === 0) throw new Error(`--file ${o.file}: no non-empty lines`);
        const classifier = await loadClassifier(o.model, { dtype: o.dtype, map: o.map });
        const results = classifyTexts(classifier, texts);
        const lines = results.map((r, i) =>
          o.json
            ? JSON.stringify({ text: texts[i], label: r.label, probabilities: r.probabilities })
            : r.label,
        );
        process.stdout.write(lines.join('\n') + '\n');
      },
    );
}
