// The book's LLM judge (chapter 7.8, `generate_model_scores`): an LLM scores each model response 0-100
// against the dataset's output. Scoring only; reading files, printing and progress belong to the caller.
import type { ChatClient } from './chat.js';
import { formatInput, type InstructionEntry } from '../data/instruction.js';

export const DEFAULT_RESPONSE_KEY = 'model_response';
export const DEFAULT_JUDGE_MODEL = 'llama3';

/** The book's prompt, character for character (ch07 `generate_model_scores`). */
export function judgePrompt(entry: InstructionEntry, response: string): string {
  return (
    `Given the input \`${formatInput(entry)}\` ` +
    `and correct output \`${entry.output}\`, ` +
    `score the model response \`${response}\`` +
    ` on a scale from 0 to 100, where 100 is the best score. ` +
    `Respond with the integer number only.`
  );
}

/**
 * Python's `int(reply)`, which the book uses: surrounding whitespace, a sign and single underscores between
 * digits are accepted; anything else ("85.", "Score: 85", "85/100") is not a score and gives null.
 * (Python also accepts non-ASCII decimal digits; we do not.)
 */
export function parseScore(reply: string): number | null {
  const s = reply.trim();
  if (!/^[+-]?\d+(_\d+)*$/.test(s)) return null;
  return Number(s.replace(/_/g, ''));
}

/** Every entry must carry a string response under `key`; checked before any request is sent. */
export function checkResponses(entries: readonly InstructionEntry[], key: string, source = 'data'): void {
  if (entries.length === 0) throw new Error(`${source}: no entries to score`);
  entries.forEach((entry, i) => {
    const value = entry[key];
    // "entry i" is the 0-based index, as readInstructionEntries names entries.
    if (value === undefined)
      throw new Error(
        `${source}: entry ${i}: missing "${key}", the response to score` +
          ` (its keys: ${Object.keys(entry).join(', ')}); name another key with --key`,
      );
    if (typeof value !== 'string')
      throw new Error(`${source}: entry ${i}: "${key}" must be a string, got ${JSON.stringify(value)}`);
  });
}

export interface EntryScore {
  /** 0-based index in the data. */
  index: number;
  /** The integer score, or null when the reply was not an integer (skipped, as the book does). */
  score: number | null;
  /** The judge's whole reply. */
  reply: string;
}

export interface JudgeResult {
  /** One per entry, in order; null for skipped replies. */
  scores: (number | null)[];
  /** Entries that got an integer score. */
  scored: number;
  total: number;
  /** Mean of the integer scores (unrounded), null when none. */
  average: number | null;
}

export interface ScoreOptions {
  client: ChatClient;
  /** The key holding the response to score. Default "model_response". */
  responseKey?: string;
  /** Called after each entry, in order. */
  onScore?: (s: EntryScore) => void;
}

/** Score each entry's response with the judge, one request at a time, in order (the book's loop). */
export async function scoreResponses(
  entries: readonly InstructionEntry[],
  options: ScoreOptions,
): Promise<JudgeResult> {
  const key = options.responseKey ?? DEFAULT_RESPONSE_KEY;
  checkResponses(entries, key);
  const scores: (number | null)[] = [];
  for (let i = 0; i < entries.length; i++) {
    const reply = await options.client.complete(judgePrompt(entries[i], entries[i][key] as string));
    const score = parseScore(reply);
    scores.push(score);
    options.onScore?.({ index: i, score, reply });
  }
  return summarizeScores(scores);
}

export function summarizeScores(scores: readonly (number | null)[]): JudgeResult {
  const valid = scores.filter((s): s is number => s !== null);
  const average = valid.length === 0 ? null : valid.reduce((a, b) => a + b, 0) / valid.length;
  return { scores: [...scores], scored: valid.length, total: scores.length, average };
}

/**
 * The book's `f"{average:.2f}"`. Python rounds an exact tie to even (77.125 -> "77.12") where JavaScript's
 * toFixed rounds it up ("77.13"); averages of integer scores hit such ties (617 / 8).
 */
export function formatAverage(x: number): string {
  const plain = x.toFixed(2);
  if (!Number.isFinite(x) || Math.abs(x) >= 1e21) return plain;
  // toFixed(100) is the exact decimal value of the double for any |x| >= 2^-47 (at most 100 fraction digits).
  const frac = Math.abs(x).toFixed(100).split('.')[1];
  const isTie = frac[2] === '5' && /^0*$/.test(frac.slice(3));
  if (!isTie) return plain;
  const lastKept = Number(frac[1]);
  if (lastKept % 2 === 1) return plain; // toFixed rounded away from zero, to the even digit
  // Round toward zero: truncate to two decimals.
  const truncated = Math.trunc(Math.abs(x) * 100) / 100;
  return (x < 0 ? '-' : '') + truncated.toFixed(2);
}
