// Preference data as the book builds it (ch07/04): Python's random sequence for the polite/impolite choice,
// the notebook's rewrite prompt, chosen/rejected by choice, and an atomic write.
import { it, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BOOK_PREFERENCE_OPTIONS } from './preferences.js';
import { ollamaChat } from './chat.js';
import {
  makePreferences,
  politenessChoices,
  preferenceEntry,
  rewritePrompt,
  writePreferences,
} from './preferences.js';
import { PythonRandom } from './python-random.js';
import { startFakeJudge, type FakeJudge } from './fake-judge.fixture.js';

let judge: FakeJudge | undefined;
afterEach(async () => {
  await judge?.close();
  judge = undefined;
});

// From CPython 3: random.seed(s); [getrandbits(32) x3], random(), then 20 x choice(['polite', 'impolite'])
// written P/i, then 6 x choice('abcde').
const PYTHON: [number, number[], number, string, string][] = [
  [0, [3626764237, 1654615998, 3255389356], 0.890243920837131, 'PiiiiiiPPiPPiPiPPiiP', 'cdcebe'],
  [123, [224899942, 1149664691, 374463918], 0.7689563885870707, 'iPPiiiPPPiiPPPiPiPPi', 'daaabb'],
  [2 ** 40 + 5, [2166296868, 2220160828, 1153647273], 0.6637982795073579, 'PPPPPPPPiPPiPPiPiiiP', 'abcabd'],
  [-7, [1390851128, 4071050724, 647892279], 0.3948234964231735, 'PPPiPPPPiiPPPiPPPPiP', 'baebcd'],
];

it("reproduces Python's random module (MT19937 seeded from an int) output for output", () => {
  for (const [seed, bits, float, choices, letters] of PYTHON) {
    const rng = new PythonRandom(seed);
    assert.deepEqual([rng.getrandbits(32), rng.getrandbits(32), rng.getrandbits(32)], bits, `seed ${seed}`);
    assert.equal(rng.random(), float);
    const pi = Array.from({ length: 20 }, () =>
      rng.choice(['polite', 'impolite']) === 'polite' ? 'P' : 'i',
    );
    assert.equal(pi.join(''), choices);
    assert.equal(Array.from({ length: 6 }, () => rng.choice([...'abcde'])).join(''), letters);
  }
  // Past the first regeneration of the 624-word state: random.seed(1); 700 draws; then getrandbits(32).
  const rng = new PythonRandom(1);
  for (let i = 0; i < 700; i++) rng.getrandbits(32);
  assert.equal(rng.getrandbits(32), 1357504633);
});

it('politenessChoices(n, 123) is random.seed(123) then one random.choice per entry', () => {
  const python = 'PiPiiPPiiiPPPiiPPPiPiPPiiPPPPPPiiiiiPiii';
  const ours = politenessChoices(40, 123).map((p) => (p === 'polite' ? 'P' : 'i'));
  assert.equal(ours.join(''), python);
  assert.notEqual(politenessChoices(40, 124).join(), politenessChoices(40, 123).join());
});

it("builds the notebook's rewrite prompt exactly (its missing spaces and 'return return' kept)", () => {
  const entry = {
    instruction: 'What is the capital of Greece?',
    input: '',
    output: 'The capital of Greece is Athens.',
  };
  assert.equal(
    rewritePrompt(entry, 'impolite'),
    'Given the input `Below is an instruction that describes a task. Write a response that appropriately ' +
      'completes the request.\n\n### Instruction:\nWhat is the capital of Greece?` and correct output ' +
      '`The capital of Greece is Athens.`, slightly rewrite the output to be more impolite.Keep the ' +
      'modification minimal.Only return return the generated response and nothing else.',
  );
});

it('a polite rewrite is chosen over the output; an impolite one is rejected', () => {
  const e = { instruction: 'i', input: '', output: 'orig', extra: 1 };
  const polite = preferenceEntry(e, 'polite', 'nice');
  assert.deepEqual(polite, {
    instruction: 'i',
    input: '',
    output: 'orig',
    extra: 1,
    chosen: 'nice',
    rejected: 'orig',
  });
  assert.deepEqual(Object.keys(polite).slice(-2), ['chosen', 'rejected']);
  const rude = preferenceEntry(e, 'impolite', 'rude');
  assert.deepEqual(rude, {
    instruction: 'i',
    input: '',
    output: 'orig',
    extra: 1,
    rejected: 'rude',
    chosen: 'orig',
  });
  assert.deepEqual(Object.keys(rude).slice(-2), ['rejected', 'chosen']);
});

it('makePreferences asks for the seeded rewrite of each entry and pairs it right', async () => {
  const entries = Array.from({ length: 6 }, (_, i) => ({
    instruction: `task ${i}`,
    input: '',
    output: `output ${i}`,
  }));
  judge = await startFakeJudge((req) => {
    const prompt = (req.body as { messages: { content: string }[] }).messages[0].content;
    const kind = /more impolite\./.test(prompt) ? 'RUDE' : 'NICE';
    const task = /### Instruction:\n(task \d)/.exec(prompt)![1];
    return { kind: 'ollama', content: `${kind} ${task}` };
  });
  const client = ollamaChat({ model: 'llama3.1:70b', url: judge.url, modelOptions: BOOK_PREFERENCE_OPTIONS });
  const out = await makePreferences(entries, { client, seed: 123 });
  const choices = politenessChoices(6, 123); // polite, impolite, polite, impolite, impolite, polite
  assert.deepEqual(choices, ['polite', 'impolite', 'polite', 'impolite', 'impolite', 'polite']);
  out.forEach((e, i) => {
    if (choices[i] === 'polite') {
      assert.equal(e.chosen, `NICE task ${i}`);
      assert.equal(e.rejected, `output ${i}`);
    } else {
      assert.equal(e.rejected, `RUDE task ${i}`);
      assert.equal(e.chosen, `output ${i}`);
    }
  });
  judge.requests.forEach((r, i) =>
    assert.deepEqual(r.body, {
      model: 'llama3.1:70b',
      messages: [{ role: 'user', content: rewritePrompt(entries[i], choices[i]) }],
      options: { seed: 123, temperature: 0 },
    }),
  );
  assert.deepEqual(entries[0], { instruction: 'task 0', input: '', output: 'output 0' }); // input not mutated
});

it('writePreferences replaces the file atomically and leaves no temp file', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'gptkit-prefs-'));
  try {
    const path = join(dir, 'prefs.json');
    writeFileSync(path, 'old');
    const entries = [preferenceEntry({ instruction: 'i', input: '', output: 'o' }, 'polite', 'p')];
    await writePreferences(path, entries);
    assert.deepEqual(JSON.parse(readFileSync(path, 'utf8')), entries);
    assert.match(readFileSync(path, 'utf8'), /^\[\n {4}\{\n {8}"instruction": "i",/); // the notebook's indent=4
    assert.deepEqual(readdirSync(dir), ['prefs.json']);
    await assert.rejects(writePreferences(join(dir, 'no-such-dir', 'x.json'), entries), /no-such-dir/);
    assert.deepEqual(readdirSync(dir), ['prefs.json']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
