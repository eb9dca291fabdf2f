// `gptkit pretrain`: the book's chapter-5 pretraining run (defaults reproduce it on the bundled story), with
// appendix D's schedule and clipping as flags, crash-safe checkpoints and --resume. Built on pretrain().
import type { Command } from 'commander';
import {
  formatPretrainTiming,
  getBackend,
  PRETRAIN_OPTIONS,
  pretrain,
  type PretrainOptions,
} from '../../index.js';
import { addOptions, givenOptions } from '../options.js';
import { stopOnInterrupt } from '../interrupt.js';
import { TrainingProgress } from '../progress.js';
import { count as n, duration, runDirectory, shortPath } from '../run-dir.js';

export function register(program: Command): void {
  const cmd = program
    .command('pretrain')
    .description(
      "pretrain a GPT on a text, as the book's chapter 5 (defaults: 124M model, context 256, the bundled the-verdict.txt)",
    );
  addOptions(cmd, PRETRAIN_OPTIONS)
    .option('--out <dir>', 'run directory (default: runs/pretrain-<timestamp>)')
    .option(
      '--resume',
      "continue from the run directory's latest checkpoint (the newest run in runs/ without --out); options not given again are the run's own",
    )
    .option('--no-progress', 'no progress bar (it is shown only when stderr is a terminal)')
    .action(async (o: { out?: string; resume?: boolean; progress: boolean }) => {
      const out = await runDirectory(o, 'pretrain');

      const progress = new TrainingProgress(o.progress);
      const given = givenOptions(cmd, PRETRAIN_OPTIONS) as Partial<PretrainOptions>;
      const options: PretrainOptions = {
        ...given,
        outDir: out,
        resume: o.resume,
        log: progress.log,
        onStart: (i) => {
          const cfg = i.config;
          process.stdout.write(
            `${i.resumedFrom ? `Resuming ${i.resumedFrom} at step ${i.startStep}` : 'Pretraining'}: ${i.modelLabel} ` +
              `(${n(i.parameters)} parameters; ${cfg.nLayers} layers, ${cfg.nHeads} heads, width ${cfg.embDim}, context ${cfg.contextLength}, ` +
              `${cfg.tiedHead ? 'tied' : 'untied'} head, dropout ${cfg.dropRate}) on ${i.data}: ` +
              `${n(i.trainTokens)} training / ${n(i.valTokens)} validation tokens, ${i.batchesPerEpoch} batches per epoch, ` +
              `${i.totalSteps} steps; backend ${getBackend().name}; output ${shortPath(i.outDir)}\n`,
          );
          progress.start(i.totalSteps, i.startStep);
        },
        onStep: progress.step,
      };
      const interrupt = stopOnInterrupt();
      options.shouldStop = interrupt.shouldStop;
      let result;
      try {
        result = await pretrain(options);
      } finally {
        interrupt.dispose();
        progress.stop();
      }
      const rel = (p: string | null) => (p ? shortPath(p) : '(none)');
      const lastEval = result.history[result.history.length - 1];
      process.stdout.write(
        `\nTraining ${result.stopped ? 'stopped' : 'completed'} in ${duration(result.seconds)} (${result.steps} steps, ${n(result.tokensSeen)} tokens seen)` +
          (lastEval
            ? `; last evaluation: train loss ${lastEval.trainLoss.toFixed(3)}, val loss ${lastEval.valLoss.toFixed(3)}`
            : '') +
          '\n' +
          (result.sample ? `Sample: ${result.sample}\n` : '') +
          `Model:      ${rel(result.modelDir)}` +
          (result.modelDir
            ? `  (try: gptkit generate --model ${rel(result.modelDir)} --prompt "Every effort moves you")`
            : '') +
          '\n' +
          `Checkpoint: ${rel(result.checkpointDir)}\n` +
          `Loss plot:  ${rel(result.plotPath)}\n` +
          `Metrics:    ${rel(result.metricsPath)}\n` +
          `Time:       ${formatPretrainTiming(result.timing)}\n` +
          (interrupt.signal
            ? `Stopped by ${interrupt.signal}; continue with: gptkit pretrain --resume --out ${shortPath(result.outDir)}\n`
            : ''),
      );
    });
}
