// The progress bar of the training commands (on stderr, only on a terminal) and the line printer that
// keeps it intact: a printed line clears the bar, then the bar is drawn again below it.
import { SingleBar } from 'cli-progress';
import type { StepProgress } from '../index.js';
import { duration } from './run-dir.js';

export class TrainingProgress {
  private bar: SingleBar | null = null;

  constructor(
    /** Draw a bar (the caller passes --progress; it is drawn only when stderr is a terminal). */
    private readonly enabled: boolean,
    /** Where printed lines go (stdout, or stderr when stdout carries JSON). */
    private readonly text: NodeJS.WriteStream = process.stdout,
    /** Show tokens per second (pretraining) or not (classifiers count examples). */
    private readonly showTokens = true,
  ) {}

  /** Print a line above the bar. */
  readonly log = (line: string): void => {
    // The bar shares the terminal with the text when both end up on it.
    if (this.bar && (this.text === process.stderr || process.stdout.isTTY)) process.stderr.write('\r\x1b[2K');
    this.text.write(line + '\n');
    // cli-progress returns to the cursor position saved at start() when it stops; save the new one, so
    // stopping clears the bar's line and not a line printed above it.
    if (this.bar && process.stderr.isTTY) process.stderr.write('\x1b7');
    this.bar?.render();
  };

  start(totalSteps: number, startStep: number): void {
    if (!this.enabled || process.stderr.isTTY !== true) return;
    const tokens = this.showTokens ? ' | {tps} tok/s' : '';
    this.bar = new SingleBar({
      stream: process.stderr,
      format: `Ep {epoch} |{bar}| step {value}/{total} | loss {loss}${tokens} | ETA {etaText}`,
      hideCursor: false, // a Ctrl-C mid-step must not leave the terminal without a cursor
      forceRedraw: true,
      barsize: 24,
      clearOnComplete: true,
    });
    this.bar.start(totalSteps, startStep, { epoch: '-', loss: '-', tps: '-', etaText: '?' });
  }

  readonly step = (p: StepProgress): void => {
    this.bar?.update(p.step, {
      epoch: `${p.epoch}/${p.epochs}`,
      loss: p.loss.toFixed(3),
      tps: p.tokensPerSecond.toFixed(1),
      etaText: duration(p.etaSeconds),
    });
  };

  stop(): void {
    this.bar?.stop();
  }
}
