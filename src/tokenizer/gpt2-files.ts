// Reading and writing GPT-2's vocabulary files (encoder.json: token -> id, vocab.bpe: merges, one per
// line). Only the file formats and their errors live here; the tokenizer itself is in gpt2.ts.

/** A parsed vocab.bpe: the merge pairs in rank order, and the 1-based file line of each. */
export interface ParsedMerges {
  merges: Array<[string, string]>;
  lines: number[];
}

function lineAndColumn(text: string, position: number): string {
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < position && i < text.length; i++) {
    if (text.charCodeAt(i) === 10) {
      line++;
      lineStart = i + 1;
    }
  }
  return `line ${line} column ${position - lineStart + 1}`;
}

/** Parses encoder.json text; `file` names the source in error messages. */
export function parseEncoderJson(text: string, file: string): Map<string, number> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    const msg = err instanceof Error ? err.message : String(err);
    const pos = /position (\d+)/.exec(msg);
    const where = pos ? ` at ${lineAndColumn(text, Number(pos[1]))}` : '';
    const detail = msg.length > 160 ? `${msg.slice(0, 160)}...` : msg;
    throw new Error(
      `${file}: not valid JSON${where} (${detail}); the vocabulary file is corrupt or truncated`,
    );
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new Error(`${file}: expected a JSON object mapping token strings to ids`);
  }
  const encoder = new Map<string, number>();
  const byId: string[] = [];
  const object = parsed as Record<string, unknown>;
  for (const token in object) {
    const id = object[token];
    if (typeof id !== 'number' || !Number.isInteger(id) || id < 0 || id >= 2 ** 25) {
      throw new Error(
        `${file}: token ${JSON.stringify(token)} has id ${JSON.stringify(id)}; ids must be integers in 0..${2 ** 25 - 1}`,
      );
    }
    const other = byId[id];
    if (other !== undefined) {
      throw new Error(`${file}: tokens ${JSON.stringify(other)} and ${JSON.stringify(token)} share id ${id}`);
    }
    byId[id] = token;
    encoder.set(token, id);
  }
  return encoder;
}

/** Parses vocab.bpe text (an optional `#version` line, then `left right` per line). */
export function parseVocabBpe(text: string, file: string): ParsedMerges {
  const merges: Array<[string, string]> = [];
  const lines: number[] = [];
  const all = text.split('\n');
  for (let i = 0; i < all.length; i++) {
    let line = all[i];
    if (line.endsWith('\r')) line = line.slice(0, -1);
    if (line === '' || (i === 0 && line.startsWith('#'))) continue;
    const space = line.indexOf(' ');
    if (space <= 0 || space === line.length - 1 || line.indexOf(' ', space + 1) !== -1) {
      throw new Error(
        `${file} line ${i + 1}: expected two tokens separated by one space, got ${JSON.stringify(line.slice(0, 80))}`,
      );
    }
    merges.push([line.slice(0, space), line.slice(space + 1)]);
    lines.push(i + 1);
  }
  return { merges, lines };
}

/** encoder.json text for a token -> id map (ids ascending, as OpenAI's file). */
export function formatEncoderJson(encoder: ReadonlyMap<string, number>): string {
  const entries = [...encoder.entries()].sort((a, b) => a[1] - b[1]);
  return `{${entries.map(([t, id]) => `${JSON.stringify(t)}: ${id}`).join(', ')}}`;
}

/** vocab.bpe text for a merges list. */
export function formatVocabBpe(merges: ReadonlyArray<readonly [string, string]>): string {
  return `#version: 0.2\n${merges.map(([a, b]) => `${a} ${b}`).join('\n')}\n`;
}
