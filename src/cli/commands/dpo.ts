// `gptkit dpo`: preference tuning of an instruction-tuned model, as the book's chapter-7 DPO notebook,
// with its log lines (losses and reward margins). Built on dpo(); flags derived from DPO_OPTIONS.
import type { Command } from 'commander';
import { join } from 'node:path';
import { dpo, DPO_OPTIONS, type DpoOptions, type DpoStart } from '../../index.js';
import { addOptions, givenOptions } from '../options.js';
import { stopOnInterrupt } from '../interrupt.js';
import { TrainingProgress } from '../progress.js';
import { count as n, duration, runDirectory, shortPath } from '../run-dir.js';

function startLine(i: DpoStart): string {
  return (
    `${i.resumedFrom ? `Resuming ${i.resumedFrom}` : 'Preference tuning (DPO)'}: ${i.modelLabel}; template ${i.template}; ` +
    `${n(i.trainPairs)} training / ${n(i.valPairs)} validation pairs (cut at ${i.allowedMaxLength} tokens); ` +
    `${i.batchesPerEpoch} batches per epoch, ${i.totalSteps} steps; trainable parameters: ${n(i.trainableParams)}\n`
  );
}

export function register(program: Command): void {
  const cmd = program
    .command('dpo')
    .description(
      "align an instruction-tuned model with preference pairs by DPO, as the book's chapter-7 bonus (default data: the bundled instruction-data-with-preference.json)",
    );
  addOptions(cmd, DPO_OPTIONS)
    .option('--out <dir>', 'run directory (default: runs/dpo-<timestamp>)')
    .option(
      '--resume',
      "continue from the run directory's latest checkpoint (the newest run in runs/ without --out); options not given again are the run's own",
    )
    .option('--no-progress', 'no progress bar (it is shown only when stderr is a terminal)')
    .action(async (o: { out?: string; resume?: boolean; progress: boolean }) => {
      const given = givenOptions(cmd, DPO_OPTIONS);
      if (given.model === undefined && !o.resume)
        throw new Error(
          '--model DIR is required: the instruction-tuned model to align (e.g. a finetune-instruct run)',
        );
      const out = await runDirectory(o, 'dpo');
      const progress = new TrainingProgress(o.progress, process.stdout, true);
      let referenceShown = false;
      const options: DpoOptions = {
        ...(given as Partial<DpoOptions>),
        outDir: out,
        resume: o.resume,
        log: progress.log,
        onReference: (_done, total) => {
          if (!referenceShown)
            process.stdout.write(
              `Computing the reference model's log-probabilities of ${n(total)} pairs...\n`,
            );
          referenceShown = true;
        },
        onStart: (i) => {
          process.stdout.write(startLine(i));
          progress.start(i.totalSteps, i.startStep);
        },
        onStep: progress.step,
      };
      const interrupt = stopOnInterrupt();
      options.shouldStop = interrupt.shouldStop;
      let r;
      try {
        r = await dpo(options);
      } finally {
        interrupt.dispose();
        progress.stop();
      }
      const rel = (p: string | null) => (p ? shortPath(p) : '(none)');
      process.stdout.write(
        '\n' +
          [
            `Training ${r.stopped ? 'stopped' : 'completed'} in ${duration(r.seconds)} (${r.steps} steps).`,
            `Model:   ${rel(r.modelDir)}` +
              (r.modelDir ? `  (try: gptkit respond --model ${rel(r.modelDir)} --instruction "...")` : ''),
            `Metrics: ${rel(join(r.outDir, 'metrics.jsonl'))}  Plot: loss.svg`,
          ].join('\n') +
          '\n',
      );
      if (interrupt.signal)
        process.stdout.write(
          `Stopped by ${interrupt.signal}; continue with: gptkit dpo --resume --out ${out}\n`,
        );
    });
}
