// `gptkit respond`: answers of an instruction-tuned model, extracted as the book's chapter 7 does, for one
// instruction or a whole file (written as the book's instruction-data-with-response.json).
import type { Command } from 'commander';
import { SingleBar } from 'cli-progress';
import {
  loadGpt2Tokenizer,
  promptTemplate,
  readInstructionEntries,
  resolveModel,
  respondTo,
  respondToEntries,
  templateFromSpec,
  TEMPLATES,
  writeFileAtomic,
  type WeightDtype,
} from '../../index.js';
import { DTYPE_HELP, MAP_HELP, parseDtypeArg, parseIntArg } from '../args.js';

interface RespondCliOptions {
  model: string;
  instruction?: string;
  input?: string;
  data?: string;
  out?: string;
  key: string;
  template?: string;
  maxNewTokens: number;
  progress: boolean;
  dtype: WeightDtype;
  map?: boolean;
}

export function register(program: Command): void {
  program
    .command('respond')
    .description(
      "answer instructions with an instruction-tuned model (greedy, as the book's chapter 7 extracts answers)",
    )
    .requiredOption(
      '--model <dir>',
      'a model directory or finetune-instruct run (its template is the default)',
    )
    .option('--instruction <text>', 'one instruction to answer')
    .option('--input <text>', "the instruction's input, if any")
    .option('--data <file>', 'entries {instruction, input, ...} (JSON list or JSON lines) to answer')
    .option('--out <file>', 'with --data: where to write the entries with their answers')
    .option('--key <name>', 'with --data: the key the answer is stored under', 'model_response')
    .option('--template <alpaca|phi3|file>', "prompt format (default: the model's own, else alpaca)")
    .option('--max-new-tokens <n>', 'longest answer in tokens', parseIntArg('--max-new-tokens', 1), 256)
    .option('--dtype <f32|bf16|int8>', DTYPE_HELP, parseDtypeArg, 'f32')
    .option('--map', MAP_HELP)
    .option('--no-progress', 'no progress bar (it is shown only when stderr is a terminal)')
    .action(async (o: RespondCliOptions) => {
      const one = o.instruction !== undefined;
      if (one === (o.data !== undefined))
        throw new Error('give either --instruction TEXT (and --input TEXT) or --data FILE --out FILE');
      if (!one && o.out === undefined) throw new Error('--data needs --out FILE for the answers');
      if (one && o.out !== undefined) throw new Error('--out goes with --data; one answer is printed');
      if (o.input !== undefined && !one) throw new Error('--input goes with --instruction');
      // Input is checked before the model loads: a bad file should not cost a model load.
      const entries = one ? [] : readInstructionEntries(o.data!, { required: [] });
      const explicit = o.template !== undefined ? promptTemplate(o.template) : undefined;
      const src = await resolveModel(o.model);
      if (src.kind === 'fresh')
        throw new Error(
          `--model ${o.model}: respond needs trained weights (a model directory), not a fresh configuration`,
        );
      if (src.config.numClasses !== undefined)
        throw new Error(`--model ${o.model} is a classifier; use \`gptkit classify --model ${o.model}\``);
      const template = explicit ?? src.template ?? templateFromSpec(TEMPLATES.alpaca);
      if (!explicit && !src.template)
        process.stderr.write(
          `gptkit: ${o.model} has no stored template (not trained by finetune-instruct); using alpaca\n`,
        );
      const model = (await src.build({ dtype: o.dtype, map: o.map === true })).eval();
      const tokenizer = loadGpt2Tokenizer();
      const settings = { maxNewTokens: o.maxNewTokens };
      if (one) {
        const answer = respondTo(
          model,
          tokenizer,
          template,
          { instruction: o.instruction!, input: o.input ?? '' },
          settings,
        );
        process.stdout.write(answer + '\n');
        return;
      }
      const bar =
        o.progress && process.stderr.isTTY === true
          ? new SingleBar({
              stream: process.stderr,
              format: 'Answering |{bar}| {value}/{total} | ETA {eta_formatted}',
              barsize: 24,
              hideCursor: false,
              clearOnComplete: true,
              forceRedraw: true,
            })
          : null;
      bar?.start(entries.length, 0);
      let answered;
      try {
        answered = await respondToEntries(
          model,
          tokenizer,
          template,
          entries,
          { ...settings, onProgress: (done) => bar?.update(done) },
          o.key,
        );
      } finally {
        bar?.stop();
      }
      await writeFileAtomic(o.out!, JSON.stringify(answered, null, 4) + '\n');
      process.stdout.write(
        `Answered ${answered.length} entries (template ${template.name}); wrote ${o.out}\n`,
      );
    });
}
