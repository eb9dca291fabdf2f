// `gptkit pretrain`: the book's chapter-5 pretraining run (defaults reproduce it on the bundled story), with
// appendix D's schedule and clipping as flags, crash-safe checkpoints and --resume. Built on pretrain().
import type { Command } from 'commander';
import { SingleBar } from 'cli-progress';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { isAbsolute, join, relative } from 'node:path';
import { parseFloatArg, parseIntArg } from '../args.js';
import {
  getBackend,
  latestCheckpoint,
  readTrainingState,
  PRETRAIN_DEFAULTS,
  pretrain,
  type PretrainOptions,
} from '../../index.js';

interface PretrainCliOptions {
  data?: string;
  valData?: string;
  model: string;
  contextLength?: number;
  batchSize: number;
  epochs: number;
  lr: number;
  weightDecay: number;
  warmupSteps: number;
  initialLr: number;
  minLr?: number;
  clipGrad?: number;
  dropout: number;
  evalFreq: number;
  evalIter: number;
  seed: number;
  init: 'book' | 'gpt2';
  out?: string;
  resume?: boolean;
  saveEvery?: number;
  checkpointMinutes: number;
  startContext: string;
  progress: boolean;
}

/** CLI option key -> the key pretrain() records in a checkpoint's options. */
const RESUMABLE: Array<[keyof PretrainCliOptions, string]> = [
  ['data', 'data'],
  ['valData', 'valData'],
  ['model', 'model'],
  ['contextLength', 'contextLength'],
  ['batchSize', 'batchSize'],
  ['epochs', 'epochs'],
  ['lr', 'lr'],
  ['weightDecay', 'weightDecay'],
  ['warmupSteps', 'warmupSteps'],
  ['initialLr', 'initialLr'],
  ['minLr', 'minLr'],
  ['clipGrad', 'clipGrad'],
  ['evalFreq', 'evalFreq'],
  ['evalIter', 'evalIter'],
  ['seed', 'seed'],
  ['init', 'init'],
  ['dropout', 'dropRate'],
  ['saveEvery', 'saveEvery'],
  ['startContext', 'startContext'],
];

function timestamp(): string {
  const d = new Date();
  const p = (x: number) => String(x).padStart(2, '0');
  return `${d.getFullYear()}${p(d.getMonth() + 1)}${p(d.getDate())}-${p(d.getHours())}${p(d.getMinutes())}${p(d.getSeconds())}`;
}

/** The most recently modified runs/* directory that holds a checkpoint (for --resume without --out). */
async function newestRun(): Promise<string | null> {
  if (!existsSync('runs')) return null;
  const dirs = readdirSync('runs')
    .map((n) => join('runs', n))
    .filter((p) => statSync(p).isDirectory() && existsSync(join(p, 'checkpoints')))
    .sort((a, b) => statSync(join(b, 'checkpoints')).mtimeMs - statSync(join(a, 'checkpoints')).mtimeMs);
  for (const d of dirs) if (await latestCheckpoint(join(d, 'checkpoints'))) return d;
  return null;
}

function duration(s: number): string {
  if (!Number.isFinite(s)) return '?';
  const t = Math.round(s);
  if (t < 60) return `${t}s`;
  if (t < 3600) return `${Math.floor(t / 60)}m${String(t % 60).padStart(2, '0')}s`;
  const m = Math.round(t / 60);
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}

const n = (x: number) => x.toLocaleString('en-US');

/** Relative to the working directory when inside it, else absolute. */
function shortPath(p: string): string {
  const r = relative('.', p);
  return r === '' ? '.' : r.startsWith('..') || isAbsolute(r) ? p : r;
}

export function register(program: Command): void {
  program
    .command('pretrain')
    .description(
      "pretrain a GPT on a text, as the book's chapter 5 (defaults: 124M model, context 256, the bundled the-verdict.txt)",
    )
    .option(
      '--data <path>',
      'training text file, or a folder of .txt/.md files (default: the bundled the-verdict.txt)',
    )
    .option('--val-data <path>', 'validation text (default: the last 10% of the training text)')
    .option(
      '--model <name|file|dir>',
      'gpt2-small|gpt2-medium|..., a config JSON, or a Hugging Face model directory to continue',
      'gpt2-small',
    )
    .option(
      '--context-length <n>',
      'training window; presets get a position table this long (default 256)',
      parseIntArg('--context-length', 1),
    )
    .option(
      '--batch-size <n>',
      'windows per batch',
      parseIntArg('--batch-size', 1),
      PRETRAIN_DEFAULTS.batchSize,
    )
    .option(
      '--epochs <n>',
      'passes over the training data',
      parseIntArg('--epochs', 0),
      PRETRAIN_DEFAULTS.epochs,
    )
    .option(
      '--lr <x>',
      'AdamW learning rate (the peak with a schedule)',
      parseFloatArg('--lr', 0),
      PRETRAIN_DEFAULTS.lr,
    )
    .option(
      '--weight-decay <x>',
      'AdamW weight decay',
      parseFloatArg('--weight-decay', 0),
      PRETRAIN_DEFAULTS.weightDecay,
    )
    .option(
      '--warmup-steps <n>',
      'linear warmup from --initial-lr to --lr (appendix D)',
      parseIntArg('--warmup-steps', 0),
      0,
    )
    .option(
      '--initial-lr <x>',
      'learning rate at the start of warmup',
      parseFloatArg('--initial-lr', 0),
      PRETRAIN_DEFAULTS.initialLr,
    )
    .option(
      '--min-lr <x>',
      'cosine decay from --lr to this over the run (appendix D)',
      parseFloatArg('--min-lr', 0),
    )
    .option(
      '--clip-grad <x>',
      'clip the gradient norm to this after warmup (appendix D)',
      parseFloatArg('--clip-grad', 0),
    )
    .option('--dropout <x>', 'dropout rate', parseFloatArg('--dropout', 0), 0.1)
    .option(
      '--eval-freq <n>',
      'evaluate every n steps',
      parseIntArg('--eval-freq', 1),
      PRETRAIN_DEFAULTS.evalFreq,
    )
    .option(
      '--eval-iter <n>',
      'batches per evaluation',
      parseIntArg('--eval-iter', 1),
      PRETRAIN_DEFAULTS.evalIter,
    )
    .option(
      '--seed <n>',
      'seed for initial weights, dropout and shuffling',
      parseIntArg('--seed', 0),
      PRETRAIN_DEFAULTS.seed,
    )
    .option(
      '--init <book|gpt2>',
      "fresh models: 'book' (PyTorch default init) or 'gpt2' (N(0, 0.02))",
      'book',
    )
    .option('--out <dir>', 'run directory (default: runs/pretrain-<timestamp>)')
    .option(
      '--resume',
      "continue from the run directory's latest checkpoint (the newest run in runs/ without --out)",
    )
    .option('--save-every <n>', 'also checkpoint every n steps', parseIntArg('--save-every', 1))
    .option(
      '--checkpoint-minutes <m>',
      'checkpoint at the end of an epoch once m minutes have passed since the last one (0: every epoch); ' +
        'the end of the run is always saved',
      parseFloatArg('--checkpoint-minutes', 0),
      5,
    )
    .option(
      '--start-context <text>',
      'prompt for the greedy sample after each epoch',
      PRETRAIN_DEFAULTS.startContext,
    )
    .option('--no-progress', 'no progress bar (it is shown only when stderr is a terminal)')
    .action(async (o: PretrainCliOptions, cmd: Command) => {
      if (o.init !== 'book' && o.init !== 'gpt2')
        throw new Error(`--init must be 'book' or 'gpt2', got '${String(o.init)}'`);
      let out = o.out;
      if (o.resume && !out) {
        const found = await newestRun();
        if (!found) throw new Error('--resume: no run with a checkpoint under runs/; give --out DIR');
        out = found;
        process.stderr.write(`resuming the newest run: ${out}\n`);
      }
      out ??= join('runs', `pretrain-${timestamp()}`);

      const opts: Record<string, unknown> = { ...o };
      if (o.resume) {
        // Flags not given on this command line come from the run being continued.
        const ckpt = await latestCheckpoint(join(out, 'checkpoints'));
        if (ckpt) {
          const saved = (await readTrainingState(ckpt)).options;
          for (const [cli, key] of RESUMABLE) {
            if (cmd.getOptionValueSource(cli) !== 'cli' && saved[key] !== undefined)
              opts[cli] = saved[key] ?? undefined;
          }
          if (saved.data === '(text)')
            throw new Error(`${ckpt} was trained on text given through the API; resume it with pretrain()`);
        }
      }
      const c = opts as unknown as PretrainCliOptions;

      const useBar = o.progress && process.stderr.isTTY === true;
      let bar: SingleBar | null = null;
      const log = (line: string) => {
        if (bar && process.stdout.isTTY) process.stderr.write('\r\x1b[2K');
        process.stdout.write(line + '\n');
        bar?.render();
      };
      const options: PretrainOptions = {
        data: c.data,
        valData: c.valData,
        model: c.model,
        contextLength: c.contextLength,
        batchSize: c.batchSize,
        epochs: c.epochs,
        lr: c.lr,
        weightDecay: c.weightDecay,
        warmupSteps: c.warmupSteps,
        initialLr: c.initialLr,
        minLr: c.minLr,
        clipGrad: c.clipGrad,
        dropRate: c.dropout,
        evalFreq: c.evalFreq,
        evalIter: c.evalIter,
        seed: c.seed,
        init: c.init,
        outDir: out,
        resume: o.resume,
        saveEvery: c.saveEvery,
        epochCheckpointMinutes: o.checkpointMinutes,
        startContext: c.startContext,
        log,
        onStart: (i) => {
          const cfg = i.config;
          process.stdout.write(
            `${i.resumedFrom ? `Resuming ${i.resumedFrom} at step ${i.startStep}` : 'Pretraining'}: ${i.modelLabel} ` +
              `(${n(i.parameters)} parameters; ${cfg.nLayers} layers, ${cfg.nHeads} heads, width ${cfg.embDim}, context ${cfg.contextLength}, ` +
              `${cfg.tiedHead ? 'tied' : 'untied'} head, dropout ${cfg.dropRate}) on ${i.data}: ` +
              `${n(i.trainTokens)} training / ${n(i.valTokens)} validation tokens, ${i.batchesPerEpoch} batches per epoch, ` +
              `${i.totalSteps} steps; backend ${getBackend().name}; output ${shortPath(i.outDir)}\n`,
          );
          if (useBar) {
            bar = new SingleBar({
              stream: process.stderr,
              format: 'Ep {epoch} |{bar}| step {value}/{total} | loss {loss} | {tps} tok/s | ETA {etaText}',
              hideCursor: false, // a Ctrl-C mid-step must not leave the terminal without a cursor
              forceRedraw: true,
              barsize: 24,
              clearOnComplete: true,
            });
            bar.start(i.totalSteps, i.startStep, { epoch: '-', loss: '-', tps: '-', etaText: '?' });
          }
        },
        onStep: (p) => {
          bar?.update(p.step, {
            epoch: `${p.epoch}/${p.epochs}`,
            loss: p.loss.toFixed(3),
            tps: p.tokensPerSecond.toFixed(1),
            etaText: duration(p.etaSeconds),
          });
        },
      };
      let result;
      try {
        result = await pretrain(options);
      } finally {
        (bar as SingleBar | null)?.stop();
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
          `Model:      ${rel(result.modelDir)}  (try: gptkit generate --model ${rel(result.modelDir)} --prompt "${c.startContext}")\n` +
          `Checkpoint: ${rel(result.checkpointDir)}\n` +
          `Loss plot:  ${rel(result.plotPath)}\n` +
          `Metrics:    ${rel(result.metricsPath)}\n`,
      );
    });
}
