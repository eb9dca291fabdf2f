// Ctrl-C (SIGINT) and SIGTERM during training: the first asks the trainer to finish the current step,
// save a checkpoint and stop; the handler then removes itself, so a second signal ends the process at
// once with the default action (the last checkpoint is never half-written: saves are atomic).
export interface Interrupt {
  /** Polled by the trainer after each step. */
  shouldStop: () => boolean;
  /** The signal received, if any. */
  readonly signal: NodeJS.Signals | null;
  dispose(): void;
}

export function stopOnInterrupt(): Interrupt {
  let signal: NodeJS.Signals | null = null;
  const onSignal = (sig: NodeJS.Signals) => {
    signal = sig;
    dispose();
    process.stderr.write(
      `\n${sig === 'SIGINT' ? 'Ctrl-C' : sig}: finishing this step and saving a checkpoint; press Ctrl-C again to quit at once\n`,
    );
  };
  const dispose = () => {
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return {
    shouldStop: () => signal !== null,
    get signal() {
      return signal;
    },
    dispose,
  };
}
