// The book's preference data for DPO (ch07/04, create-preference-data-ollama.ipynb): an LLM rewrites each
// output to be more polite or more impolite; the polite text is `chosen`, the impolite one `rejected`.
// Generation and the file format only; the DPO training itself lives in train/.
import { writeFileAtomic } from '../io/atomic.js';
import type { ChatClient } from './chat.js';
import { formatInput, type InstructionEntry, type PreferenceEntry } from '../data/instruction.js';
import { PythonRandom } from './python-random.js';

export const POLITENESS = ['polite', 'impolite'] as const;
export type Politeness = (typeof POLITENESS)[number];

export const DEFAULT_PREFERENCE_MODEL = 'llama3.1:70b';
export const DEFAULT_PREFERENCE_SEED = 123;
/** The notebook's `query_model` options: unlike the judge's, no num_ctx (Ollama's default applies). */
export const BOOK_PREFERENCE_OPTIONS: Readonly<Record<string, number>> = { seed: 123, temperature: 0 };

/** The notebook's prompt, character for character: its missing spaces and "return return" included. */
export function rewritePrompt(entry: InstructionEntry, politeness: Politeness): string {
  return (
    `Given the input \`${formatInput(entry)}\` ` +
    `and correct output \`${entry.output}\`, ` +
    `slightly rewrite the output to be more ${politeness}.` +
    'Keep the modification minimal.' +
    'Only return return the generated response and nothing else.'
  );
}

/**
 * One choice per entry, the sequence of Python's `random.seed(seed)` then `random.choice(["polite", "impolite"])`
 * per entry. (The notebook itself never seeds `random`; seeding makes the data reproducible.)
 */
export function politenessChoices(count: number, seed = DEFAULT_PREFERENCE_SEED): Politeness[] {
  const rng = new PythonRandom(seed);
  return Array.from({ length: count }, () => rng.choice(POLITENESS));
}

/** The notebook's assignment: a polite rewrite is chosen over the output, an impolite one rejected. */
export function preferenceEntry(
  entry: InstructionEntry,
  politeness: Politeness,
  rewrite: string,
): PreferenceEntry {
  // Key order as the notebook's dicts come out: the key assigned first is written first.
  return politeness === 'polite'
    ? { ...entry, chosen: rewrite, rejected: entry.output }
    : { ...entry, rejected: rewrite, chosen: entry.output };
}

export interface PreferenceProgress {
  index: number;
  politeness: Politeness;
  rewrite: string;
}

export interface MakePreferencesOptions {
  client: ChatClient;
  /** Seed of the polite/impolite choices. Default 123. */
  seed?: number;
  onEntry?: (p: PreferenceProgress) => void;
}

/** Rewrite every entry's output (one request at a time, in order) and pair it with the original. */
export async function makePreferences(
  entries: readonly InstructionEntry[],
  options: MakePreferencesOptions,
): Promise<PreferenceEntry[]> {
  const choices = politenessChoices(entries.length, options.seed);
  const out: PreferenceEntry[] = [];
  for (let i = 0; i < entries.length; i++) {
    const rewrite = await options.client.complete(rewritePrompt(entries[i], choices[i]));
    out.push(preferenceEntry(entries[i], choices[i], rewrite));
    options.onEntry?.({ index: i, politeness: choices[i], rewrite });
  }
  return out;
}

/** Write the entries as the notebook does (a JSON list, 4-space indent), atomically: all or nothing. */
export async function writePreferences(path: string, entries: readonly PreferenceEntry[]): Promise<void> {
  await writeFileAtomic(path, JSON.stringify(entries, null, 4) + '\n');
}
