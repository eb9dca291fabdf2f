// `gptkit pretrain`: the book's chapter-5 pretraining run (defaults reproduce it on the bundled story), with
// appendix D's schedule and clipping as flags, crash-safe checkpoints and --resume. Built on pretrain().
import type { Command } from 'commander';
import { SingleBar } from 'cli-progress';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { isAbsolute, join, relative } from 'node:path';
import {
  getBackend,
  latestCheckpoint,
  PRETRAIN_OPTIONS,
  pretrain,
  type PretrainOptions,
} from '../../index.js';
import { addOptions, givenOptions } from '../options.js';
import { stopOnInterrupt } from '../interrupt.js';

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
      let out = o.out;
      if (o.resume && !out) {
        const found = await newestRun();
        if (!found) throw new Error('--resume: no run with a checkpoint under runs/; give --out DIR');
        out = found;
        process.stderr.write(`resuming the newest run: ${out}\n`);
      }
      out ??= join('runs', `pretrain-${timestamp()}`);

      const useBar = o.progress && process.stderr.isTTY === true;
      let bar: SingleBar | null = null;
      const log = (line: string) => {
        if (bar && process.stdout.isTTY) process.stderr.write('\r\x1b[2K');
        process.stdout.write(line + '\n');
        bar?.render();
      };
      const given = givenOptions(cmd, PRETRAIN_OPTIONS) as Partial<PretrainOptions>;
      const options: PretrainOptions = {
        ...given,
        outDir: out,
        resume: o.resume,
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
      const interrupt = stopOnInterrupt();
      options.shouldStop = interrupt.shouldStop;
      let result;
      try {
        result = await pretrain(options);
      } finally {
        interrupt.dispose();
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
          `Model:      ${rel(result.modelDir)}` +
          (result.modelDir
            ? `  (try: gptkit generate --model ${rel(result.modelDir)} --prompt "Every effort moves you")`
            : '') +
          '\n' +
          `Checkpoint: ${rel(result.checkpointDir)}\n` +
          `Loss plot:  ${rel(result.plotPath)}\n` +
          `Metrics:    ${rel(result.metricsPath)}\n` +
          (interrupt.signal
            ? `Stopped by ${interrupt.signal}; continue with: gptkit pretrain --resume --out ${shortPath(result.outDir)}\n`
            : ''),
      );
    });
}
