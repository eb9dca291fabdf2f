// The book's plot_losses (chapter 5.2) as a hand-written SVG: training and validation loss against epochs,
// with a second x axis on top for tokens seen. No plotting dependency; not a general charting library.
import { writeFileAtomic } from '../io/atomic.js';

export interface LossPoint {
  /** Epochs completed (fractional): the bottom axis. */
  epochProgress: number;
  tokensSeen: number;
  trainLoss: number;
  valLoss: number;
}

export interface LossPlotOptions {
  width?: number;
  height?: number;
  title?: string;
  /** Right end of the epoch axis. Default: the last point's epoch rounded up. */
  epochs?: number;
  /** Label of the top axis (tokensSeen). Default 'Tokens seen'; classifiers count examples. */
  topAxis?: string;
  /** Label of the y axis. Default 'Loss'. */
  yLabel?: string;
  /** Legend names of the two series. Default 'Training loss', 'Validation loss'. */
  series?: [string, string];
}

/** About `count` round tick values covering [lo, hi] (1, 2, 2.5 or 5 times a power of ten). */
export function niceTicks(lo: number, hi: number, count = 5, integer = false): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / Math.max(count, 1);
  const mag = 10 ** Math.floor(Math.log10(raw));
  let step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  if (integer) step = Math.max(1, Math.round(step));
  const out: number[] = [];
  for (let v = Math.ceil(lo / step - 1e-9) * step; v <= hi + step * 1e-9; v += step)
    out.push(Number(v.toPrecision(12)));
  return out;
}

function fmt(v: number): string {
  if (v !== 0 && (Math.abs(v) >= 1e6 || Math.abs(v) < 1e-3)) return v.toExponential(1).replace('e+', 'e');
  if (Math.abs(v) >= 1e4) return `${Number((v / 1e3).toPrecision(4))}k`;
  return String(Number(v.toPrecision(4)));
}

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** The loss plot as an SVG document (a self-contained string). Points with non-finite losses are skipped. */
export function lossPlotSvg(points: readonly LossPoint[], opts: LossPlotOptions = {}): string {
  const W = opts.width ?? 640;
  const H = opts.height ?? 400;
  const m = { left: 64, right: 20, top: 64, bottom: 52 };
  const pw = W - m.left - m.right;
  const ph = H - m.top - m.bottom;
  const finite = (v: number) => Number.isFinite(v);
  const xs = points.map((p) => p.epochProgress);
  const losses = points.flatMap((p) => [p.trainLoss, p.valLoss]).filter(finite);
  const xMin = 0;
  // Whole epochs, like the book's axis (its x values run to num_epochs).
  const xMax = opts.epochs ?? Math.max(1, Math.ceil(Math.max(0, ...xs.filter(finite)) - 1e-9));
  let yMin = losses.length ? Math.min(...losses) : 0;
  let yMax = losses.length ? Math.max(...losses) : 1;
  if (yMax - yMin < 1e-9) [yMin, yMax] = [yMin - 0.5, yMax + 0.5];
  const pad = (yMax - yMin) * 0.05;
  yMin = Math.max(0, yMin - pad);
  yMax += pad;
  const yTicks = niceTicks(yMin, yMax, 6);
  [yMin, yMax] = [Math.min(yMin, yTicks[0]), Math.max(yMax, yTicks[yTicks.length - 1])];
  const sx = (x: number) => m.left + ((x - xMin) / (xMax - xMin)) * pw;
  const sy = (y: number) => m.top + (1 - (y - yMin) / (yMax - yMin)) * ph;
  const r = (v: number) => v.toFixed(1);

  // Tokens seen grow linearly with epochs: map the top axis through the first and last points.
  const withTokens = points.filter((p) => finite(p.epochProgress) && finite(p.tokensSeen));
  let tokensPerEpoch = 0;
  if (withTokens.length) {
    const a = withTokens[0];
    const b = withTokens[withTokens.length - 1];
    tokensPerEpoch =
      b.epochProgress > a.epochProgress
        ? (b.tokensSeen - a.tokensSeen) / (b.epochProgress - a.epochProgress)
        : a.epochProgress > 0
          ? a.tokensSeen / a.epochProgress
          : 0;
  }

  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
  );
  if (opts.title) out.push(`<title>${esc(opts.title)}</title>`);
  out.push(`<rect width="${W}" height="${H}" fill="white"/>`);
  // grid and y axis
  for (const t of yTicks) {
    const y = r(sy(t));
    out.push(`<line x1="${m.left}" y1="${y}" x2="${m.left + pw}" y2="${y}" stroke="#e5e5e5"/>`);
    out.push(
      `<text x="${m.left - 6}" y="${y}" text-anchor="end" dominant-baseline="middle">${fmt(t)}</text>`,
    );
  }
  // bottom axis: epochs (integer ticks, as MaxNLocator(integer=True))
  for (const t of niceTicks(xMin, xMax, 8, true)) {
    const x = r(sx(t));
    out.push(`<line x1="${x}" y1="${m.top + ph}" x2="${x}" y2="${m.top + ph + 5}" stroke="black"/>`);
    out.push(`<text x="${x}" y="${m.top + ph + 18}" text-anchor="middle">${fmt(t)}</text>`);
  }
  // top axis: tokens seen
  if (tokensPerEpoch > 0) {
    for (const t of niceTicks(xMin * tokensPerEpoch, xMax * tokensPerEpoch, 6)) {
      const x = r(sx(t / tokensPerEpoch));
      out.push(`<line x1="${x}" y1="${m.top}" x2="${x}" y2="${m.top - 5}" stroke="black"/>`);
      out.push(`<text x="${x}" y="${m.top - 9}" text-anchor="middle">${fmt(t)}</text>`);
    }
  }
  out.push(`<rect x="${m.left}" y="${m.top}" width="${pw}" height="${ph}" fill="none" stroke="black"/>`);
  out.push(`<text x="${m.left + pw / 2}" y="${H - 12}" text-anchor="middle">Epochs</text>`);
  out.push(
    `<text x="${m.left + pw / 2}" y="${m.top - 30}" text-anchor="middle">${esc(opts.topAxis ?? 'Tokens seen')}</text>`,
  );
  out.push(
    `<text transform="translate(16 ${m.top + ph / 2}) rotate(-90)" text-anchor="middle">${esc(opts.yLabel ?? 'Loss')}</text>`,
  );
  // series
  const series: Array<{ key: 'trainLoss' | 'valLoss'; label: string; color: string; dash: string }> = [
    { key: 'trainLoss', label: esc(opts.series?.[0] ?? 'Training loss'), color: '#1f77b4', dash: '' },
    {
      key: 'valLoss',
      label: esc(opts.series?.[1] ?? 'Validation loss'),
      color: '#ff7f0e',
      dash: ' stroke-dasharray="8 3 2 3"',
    },
  ];
  for (const s of series) {
    const pts = points
      .filter((p) => finite(p[s.key]) && finite(p.epochProgress))
      .map((p) => `${r(sx(p.epochProgress))},${r(sy(p[s.key]))}`);
    if (pts.length) {
      out.push(
        `<polyline class="${s.key}" fill="none" stroke="${s.color}" stroke-width="1.5"${s.dash} points="${pts.join(' ')}"/>`,
      );
    }
  }
  // legend, upper right as the book's
  const lx = m.left + pw - 180;
  const ly = m.top + 10;
  out.push(`<rect x="${lx}" y="${ly}" width="170" height="44" fill="white" stroke="#cccccc"/>`);
  series.forEach((s, i) => {
    const y = ly + 15 + i * 18;
    out.push(
      `<line x1="${lx + 8}" y1="${y}" x2="${lx + 36}" y2="${y}" stroke="${s.color}" stroke-width="1.5"${s.dash}/>`,
    );
    out.push(`<text x="${lx + 42}" y="${y}" dominant-baseline="middle">${s.label}</text>`);
  });
  out.push('</svg>');
  return out.join('\n') + '\n';
}

/** Write the loss plot to path (atomically). */
export async function writeLossPlot(
  path: string,
  points: readonly LossPoint[],
  opts: LossPlotOptions = {},
): Promise<void> {
  await writeFileAtomic(path, lossPlotSvg(points, opts));
}
