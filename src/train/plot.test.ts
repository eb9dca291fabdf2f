// The loss plot: a well-formed SVG with both series, both x axes, labels and legend.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { lossPlotSvg, niceTicks, type LossPoint } from './plot.js';

/** Tags balance (a tiny XML check: every element closes, in order), attribute values are quoted. */
function assertWellFormed(svg: string): void {
  const stack: string[] = [];
  for (const m of svg.matchAll(/<(\/?)([a-zA-Z]+)((?:\s+[\w:-]+="[^"<]*")*)\s*(\/?)>/g)) {
    const [, close, name, , self] = m;
    if (self) continue;
    if (close) assert.equal(stack.pop(), name, `closing </${name}>`);
    else stack.push(name);
  }
  assert.deepEqual(stack, [], 'every element is closed');
  const stripped = svg.replace(/<(\/?)([a-zA-Z]+)((?:\s+[\w:-]+="[^"<]*")*)\s*(\/?)>/g, '');
  assert.ok(!/[<>]/.test(stripped), `stray markup: ${stripped.match(/.{0,20}[<>].{0,20}/)?.[0]}`);
}

describe('loss plot (book 5.2 plot_losses)', () => {
  // Like the book's run: evaluations every 5 steps, 9 steps (4,608 tokens) per epoch.
  const points: LossPoint[] = Array.from({ length: 18 }, (_, i) => ({
    epochProgress: (5 * i + 1) / 9,
    tokensSeen: (5 * i + 1) * 512,
    trainLoss: 9.8 * Math.exp(-i / 6) + 0.5,
    valLoss: 9.9 - i * 0.2,
  }));

  it('is well-formed SVG with both series, both axes and a legend', () => {
    const svg = lossPlotSvg(points, { title: 'Loss: gpt2-small & <the-verdict>' });
    assert.ok(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"'));
    assert.ok(svg.trimEnd().endsWith('</svg>'));
    assertWellFormed(svg);
    for (const cls of ['trainLoss', 'valLoss']) {
      const m = new RegExp(`<polyline class="${cls}"[^>]* points="([^"]*)"`).exec(svg);
      assert.ok(m, `${cls} series`);
      assert.equal(m[1].split(' ').length, points.length);
    }
    for (const text of [
      'Epochs',
      'Tokens seen',
      'Loss',
      'Training loss',
      'Validation loss',
      '&amp; &lt;the-verdict&gt;',
    ]) {
      assert.ok(svg.includes(text), text);
    }
    assert.ok(svg.includes('>40k<') || svg.includes('>45k<'), 'the top axis counts tokens');
    assert.ok(/>10</.test(svg), 'the bottom axis reaches epoch 10');
  });

  it('skips non-finite losses and copes with a single point or none', () => {
    const svg = lossPlotSvg([...points.slice(0, 3), { ...points[3], valLoss: NaN }]);
    assert.equal(/class="valLoss"[^>]* points="([^"]*)"/.exec(svg)![1].split(' ').length, 3);
    assert.ok(!svg.includes('NaN'));
    assertWellFormed(lossPlotSvg(points.slice(0, 1)));
    assertWellFormed(lossPlotSvg([]));
  });

  it('niceTicks picks round steps', () => {
    assert.deepEqual(niceTicks(0, 10, 8, true), [0, 2, 4, 6, 8, 10]);
    assert.deepEqual(niceTicks(0.3, 1.2, 4), [0.5, 0.75, 1]);
    assert.deepEqual(niceTicks(0, 46080, 6), [0, 10000, 20000, 30000, 40000]);
  });
});
