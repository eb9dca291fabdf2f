// `gptkit finetune-instruct`: the book's chapter-7 instruction fine-tuning, with its log lines, a greedy
// answer to the first validation entry after each epoch, the saved model and the test set's answers.
// Built on finetuneInstruct(); flags derived from INSTRUCT_OPTIONS.
import type { Command } from 'commander';
import { SingleBar } from 'cli-progress';
import { join } from 'node:path';
import { finetuneInstruct, INSTRUCT_OPTIONS, type InstructOptions, type InstructStart } from '../../index.js';
import { addOptions, givenOptions } from '../options.js';
import { stopOnInterrupt } from '../interrupt.js';
import { TrainingProgress } from '../progress.js';
import { count as n, duration, runDirectory, shortPath } from '../run-dir.js';

function startLine(i: InstructStart): string {
  const share = i.totalParams ? (100 * i.trainableParams) / i.totalParams : 0;
  return (
    `${i.resumedFrom ? `Resuming ${i.resumedFrom}` : 'Instruction fine-tuning'}: ${i.modelLabel}; template ${i.template}; ` +
    `${n(i.trainExamples)} training / ${n(i.valExamples)} validation / ${n(i.testExamples)} test entries; ` +
    `longest ${i.longestExample} tokens (cut at ${i.allowedMaxLength}); ` +
    `${i.batchesPerEpoch} batches per epoch, ${i.totalSteps} steps\n` +
    `Trainable parameters: ${n(i.trainableParams)} of ${n(i.totalParams)} (${share.toFixed(2)}%)\n`
  );
}

export function register(program: Command): void {
  const cmd = program
    .command('finetune-instruct')
    .description(
      "fine-tune a GPT to follow instructions, as the book's chapter 7 (defaults: gpt2-medium, the bundled instruction-data.json, Alpaca prompts)",
    );
  addOptions(cmd, INSTRUCT_OPTIONS, ['respond'])
    .option('--no-respond', 'do not answer the test set after training')
    .option('--out <dir>', 'run directory (default: runs/instruct-<timestamp>)')
    .option(
      '--resume',
      "continue from the run directory's latest checkpoint (the newest run in runs/ without --out); options not given again are the run's own",
    )
    .option(
      '--json',
      'print one JSON object with the results as the last line of stdout (other output to stderr)',
    )
    .option('--no-progress', 'no progress bars (they are shown only when stderr is a terminal)')
    .action(
      async (o: { out?: string; resume?: boolean; json?: boolean; progress: boolean; respond: boolean }) => {
        const out = await runDirectory(o, 'instruct');
        const text = o.json ? process.stderr : process.stdout;
        const progress = new TrainingProgress(o.progress, text, true);
        const given = givenOptions(cmd, INSTRUCT_OPTIONS);
        if (cmd.getOptionValueSource('respond') === 'cli') given.respond = o.respond;
        let answers: SingleBar | null = null;
        const options: InstructOptions = {
          ...(given as Partial<InstructOptions>),
          outDir: out,
          resume: o.resume,
          log: progress.log,
          onStart: (i) => {
            text.write(startLine(i));
            progress.start(i.totalSteps, i.startStep);
          },
          onStep: progress.step,
          onRespond: (done, total) => {
            if (!o.progress || process.stderr.isTTY !== true) return;
            if (!answers) {
              progress.stop();
              answers = new SingleBar({
                stream: process.stderr,
                format: 'Answering the test set |{bar}| {value}/{total} | ETA {eta_formatted}',
                barsize: 24,
                hideCursor: false,
                clearOnComplete: true,
                forceRedraw: true,
              });
              answers.start(total, 0);
            }
            answers.update(done);
          },
        };
        const interrupt = stopOnInterrupt();
        options.shouldStop = interrupt.shouldStop;
        let r;
        try {
          r = await finetuneInstruct(options);
        } finally {
          interrupt.dispose();
          progress.stop();
          (answers as SingleBar | null)?.stop();
        }
        const rel = (p: string | null) => (p ? shortPath(p) : '(none)');
        const lines = [
          `Training ${r.stopped ? 'stopped' : 'completed'} in ${duration(r.seconds)} (${r.steps} steps).`,
          `Model:     ${rel(r.modelDir)}` +
            (r.modelDir ? `  (try: gptkit respond --model ${rel(r.modelDir)} --instruction "...")` : ''),
          `Responses: ${rel(r.responsesFile)}` +
            (r.responsesFile ? `  (score them: gptkit judge --data ${rel(r.responsesFile)})` : ''),
          `Metrics:   ${rel(join(r.outDir, 'metrics.jsonl'))}  Plot: loss.svg`,
        ];
        text.write('\n' + lines.join('\n') + '\n');
        if (interrupt.signal)
          text.write(
            `Stopped by ${interrupt.signal}; continue with: gptkit finetune-instruct --resume --out ${out}\n`,
          );
        if (o.json)
          process.stdout.write(
            JSON.stringify({
              train_loss: r.trainLoss,
              val_loss: r.valLoss,
              trainable_params: r.trainableParams,
              total_params: r.totalParams,
              model_dir: r.modelDir,
              responses_file: r.responsesFile,
              out_dir: r.outDir,
              steps: r.steps,
              seconds: r.seconds,
              stopped: r.stopped,
            }) + '\n',
          );
      },
    );
}
