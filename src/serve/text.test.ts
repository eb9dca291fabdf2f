// Text the server sends: stop strings caught across every possible split of the text into pieces,
// held-back text released when it turns out not to be a stop string, and no half characters.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { loadGpt2Tokenizer } from '../index.js';
import { generationText, StopStringFilter } from './text.js';

/** Every way of cutting text into pieces at the given cut positions (all 2^(n-1) splits for short text). */
function* splits(text: string): Generator<string[]> {
  const n = text.length;
  for (let mask = 0; mask < 1 << (n - 1); mask++) {
    const pieces: string[] = [];
    let start = 0;
    for (let i = 1; i < n; i++)
      if (mask & (1 << (i - 1))) {
        pieces.push(text.slice(start, i));
        start = i;
      }
    pieces.push(text.slice(start));
    yield pieces;
  }
}

/** The oracle: text up to the earliest occurrence of any stop string. */
function truncate(text: string, stops: string[]): string {
  const cuts = stops.map((s) => text.indexOf(s)).filter((i) => i >= 0);
  return cuts.length ? text.slice(0, Math.min(...cuts)) : text;
}

describe('StopStringFilter', () => {
  const cases: [string, string[]][] = [
    ['hello world, stop here', ['stop']],
    ['abababc', ['abc']],
    ['no stops in this one', ['xyz', 'qq']],
    ['nested: abcd', ['bcd', 'abce']],
    ['ends with a partial sto', ['stop']],
    ['two ## stops ##', ['##', ' two']],
  ];
  for (const [text, stops] of cases)
    it(`"${text}" with ${JSON.stringify(stops)}: same output for every split into pieces`, () => {
      const want = truncate(text, stops);
      for (const pieces of splits(text.slice(0, 14))) {
        const rest = text.slice(14);
        const all = [...pieces, ...(rest ? [rest] : [])];
        const f = new StopStringFilter(stops);
        let out = '';
        for (const p of all) out += f.push(p);
        out += f.end();
        assert.equal(out, want, `pieces ${JSON.stringify(all)}`);
        assert.equal(f.stopped, want.length < text.length);
      }
    });

  it('holds back only what could still become a stop string', () => {
    const f = new StopStringFilter(['</end>']);
    assert.equal(f.push('text </'), 'text ');
    assert.equal(f.push('e'), '');
    assert.equal(f.push('x'), '</ex');
  });
});

describe('generationText', () => {
  const tokenizer = loadGpt2Tokenizer();

  async function* ids(list: number[]) {
    for (const id of list) yield id;
  }

  it('never sends U+FFFD for a character split across tokens', async () => {
    const text = 'Emoji 😀 and 你好 ok';
    const list = tokenizer.encode(text);
    // Precondition: some token alone is not valid UTF-8, or the test would prove nothing.
    assert.ok(
      list.some((id) => tokenizer.decode([id]).includes('\uFFFD')),
      'fixture: a token that ends inside a character',
    );
    const pieces: string[] = [];
    const gen = generationText(Object.assign(ids(list), { finishReason: 'length' }), tokenizer, []);
    let r = await gen.next();
    while (!r.done) {
      pieces.push(r.value);
      r = await gen.next();
    }
    assert.ok(
      pieces.every((p) => !p.includes('\uFFFD')),
      JSON.stringify(pieces),
    );
    assert.equal(pieces.join(''), text);
    assert.deepEqual(r.value, { finishReason: 'length', completionTokens: list.length });
  });

  it('a stop string ends the stream early with finish reason "stop"', async () => {
    const list = tokenizer.encode('one two three four five');
    const gen = generationText(Object.assign(ids(list), { finishReason: 'length' }), tokenizer, ['ee f']);
    let text = '';
    let r = await gen.next();
    while (!r.done) {
      text += r.value;
      r = await gen.next();
    }
    assert.equal(text, 'one two thr');
    assert.equal(r.value.finishReason, 'stop');
  });
});
