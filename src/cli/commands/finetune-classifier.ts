// `gptkit finetune-classifier`: the book's chapter-6 classification fine-tuning (appendix E's LoRA as a
// flag), with the book's log lines, final accuracies, test-set precision/recall/F1 and a confusion matrix.
// Built on finetuneClassifier(); flags derived from CLASSIFIER_OPTIONS.
import type { Command } from 'commander';
import { join } from 'node:path';
import {
  CLASSIFIER_OPTIONS,
  finetuneClassifier,
  type ClassifierOptions,
  type ClassifierResult,
  type ClassifierStart,
} from '../../index.js';
import { addOptions, givenOptions } from '../options.js';
import { stopOnInterrupt } from '../interrupt.js';
import { TrainingProgress } from '../progress.js';
import { count as n, duration, runDirectory, shortPath } from '../run-dir.js';

const pct = (x: number) => `${(x * 100).toFixed(2)}%`;

function startLine(i: ClassifierStart): string {
  const share = i.totalParams ? (100 * i.trainableParams) / i.totalParams : 0;
  return (
    `${i.resumedFrom ? `Resuming ${i.resumedFrom}` : 'Fine-tuning a classifier'}: ${i.modelLabel}; ` +
    `classes: ${i.labels.join(', ')}; ` +
    `${n(i.trainExamples)} training / ${n(i.valExamples)} validation / ${n(i.testExamples)} test examples; ` +
    `max length ${i.maxLength} tokens; ${i.batchesPerEpoch} batches per epoch, ${i.totalSteps} steps\n` +
    `Trainable parameters: ${n(i.trainableParams)} of ${n(i.totalParams)} (${share.toFixed(2)}%); ` +
    `frozen blocks computed once and reused: ${i.frozenBlocksReused}\n`
  );
}

function report(r: ClassifierResult): string {
  const rel = (p: string | null) => (p ? shortPath(p) : '(none)');
  const w = Math.max(5, ...r.labels.map((l) => l.length)) + 2;
  const f = (x: number) => x.toFixed(3).padEnd(11);
  const lines = [
    `Training ${r.stopped ? 'stopped' : 'completed'} in ${duration(r.seconds)} (${r.steps} steps).`,
    `Training accuracy: ${pct(r.trainAccuracy)}`,
    `Validation accuracy: ${pct(r.valAccuracy)}`,
    `Test accuracy: ${pct(r.testAccuracy)}`,
    'Test set, per class:',
    `  ${'class'.padEnd(w)} ${'precision'.padEnd(11)}${'recall'.padEnd(11)}${'f1'.padEnd(11)}support`,
    ...r.testMetrics.map(
      (m) => `  ${m.label.padEnd(w)} ${f(m.precision)}${f(m.recall)}${f(m.f1)}${m.support}`,
    ),
    'Confusion matrix (rows: true, columns: predicted):',
    `  ${''.padEnd(w)} ${r.labels.map((l) => l.padStart(w)).join('')}`,
    ...r.confusion.map(
      (row, k) => `  ${r.labels[k].padEnd(w)} ${row.map((c) => String(c).padStart(w)).join('')}`,
    ),
    `Model:   ${rel(r.modelDir)}` +
      (r.modelDir ? `  (try: gptkit classify --model ${rel(r.modelDir)} --text "...")` : ''),
    `Metrics: ${rel(join(r.outDir, 'metrics.jsonl'))}  Plots: loss.svg, accuracy.svg`,
  ];
  return lines.join('\n') + '\n';
}

function jsonReport(r: ClassifierResult): string {
  return (
    JSON.stringify({
      train_accuracy: r.trainAccuracy,
      val_accuracy: r.valAccuracy,
      test_accuracy: r.testAccuracy,
      trainable_params: r.trainableParams,
      total_params: r.totalParams,
      model_dir: r.modelDir,
      out_dir: r.outDir,
      labels: r.labels,
      test_metrics: Object.fromEntries(
        r.testMetrics.map((m) => [
          m.label,
          { precision: m.precision, recall: m.recall, f1: m.f1, support: m.support },
        ]),
      ),
      confusion: r.confusion,
      steps: r.steps,
      seconds: r.seconds,
      stopped: r.stopped,
      kept_epoch: r.keptEpoch,
    }) + '\n'
  );
}

export function register(program: Command): void {
  const cmd = program
    .command('finetune-classifier')
    .description(
      "fine-tune a GPT as a text classifier, as the book's chapter 6 (defaults: gpt2 124M, last block trainable, the bundled SMS spam split)",
    );
  addOptions(cmd, CLASSIFIER_OPTIONS, ['header'])
    .option('--no-header', 'the files have no header row (columns by 1-based index)')
    .option('--out <dir>', 'run directory (default: runs/classifier-<timestamp>)')
    .option(
      '--resume',
      "continue from the run directory's latest checkpoint (the newest run in runs/ without --out); options not given again are the run's own",
    )
    .option(
      '--json',
      'print one JSON object with the results as the last line of stdout (other output to stderr)',
    )
    .option('--no-progress', 'no progress bar (it is shown only when stderr is a terminal)')
    .action(
      async (o: { out?: string; resume?: boolean; json?: boolean; progress: boolean; header: boolean }) => {
        const out = await runDirectory(o, 'classifier');

        // In --json mode stdout carries only the JSON line; the human-readable lines go to stderr.
        const text = o.json ? process.stderr : process.stdout;
        const progress = new TrainingProgress(o.progress, text, false);
        const given = givenOptions(cmd, CLASSIFIER_OPTIONS);
        if (cmd.getOptionValueSource('header') === 'cli') given.header = o.header;
        const options: ClassifierOptions = {
          ...(given as Partial<ClassifierOptions>),
          outDir: out,
          resume: o.resume,
          log: progress.log,
          onStart: (i) => {
            text.write(startLine(i));
            progress.start(i.totalSteps, i.startStep);
          },
          onStep: progress.step,
        };
        const interrupt = stopOnInterrupt();
        options.shouldStop = interrupt.shouldStop;
        let result;
        try {
          result = await finetuneClassifier(options);
        } finally {
          interrupt.dispose();
          progress.stop();
        }
        text.write('\n' + report(result));
        if (interrupt.signal)
          text.write(
            `Stopped by ${interrupt.signal}; continue with: gptkit finetune-classifier --resume --out ${out}\n`,
          );
        if (o.json) process.stdout.write(jsonReport(result));
      },
    );
}
