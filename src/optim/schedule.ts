// Learning-rate schedule of the book's appendix D: linear warmup from initialLr to peakLr, then cosine
// decay to minLr over the remaining steps.

export interface ScheduleOptions {
  peakLr: number;
  totalSteps: number;
  warmupSteps?: number;
  initialLr?: number;
  minLr?: number;
}

/** Learning rate at 0-based step `step`. With no warmup and minLr = peakLr the rate is constant. */
export function lrAt(step: number, o: ScheduleOptions): number {
  const warmup = o.warmupSteps ?? 0;
  const initial = o.initialLr ?? 0;
  const minLr = o.minLr ?? o.peakLr;
  if (step < warmup) return initial + ((o.peakLr - initial) * step) / warmup; // as appendix D: starts at initialLr
  const decaySteps = Math.max(o.totalSteps - warmup, 1);
  const progress = Math.min((step - warmup) / decaySteps, 1);
  return minLr + (o.peakLr - minLr) * 0.5 * (1 + Math.cos(Math.PI * progress));
}
