// From token ids to the text a client sees: whole UTF-8 characters only (a character split across
// tokens waits for its last byte), and stop strings caught even when they span several tokens, with
// text that could still become a stop string held back while streaming.

/**
 * Feeds text pieces in, lets out only text that can no longer be part of a stop string. After a
 * stop string is found, `stopped` is true and nothing more comes out (the stop string itself never does).
 */
export class StopStringFilter {
  stopped = false;
  private text = '';
  private sent = 0;
  private readonly stops: string[];

  constructor(stops: readonly string[]) {
    this.stops = stops.filter((s) => s.length > 0);
  }

  /** Adds a piece; returns the text that is now safe to send (possibly ''). */
  push(piece: string): string {
    if (this.stopped) return '';
    this.text += piece;
    // A stop string cannot start before `sent`: that text was sent only because no stop could begin there.
    let cut = -1;
    for (const stop of this.stops) {
      const at = this.text.indexOf(stop, this.sent);
      if (at >= 0 && (cut < 0 || at < cut)) cut = at;
    }
    if (cut >= 0) {
      this.stopped = true;
      return this.take(cut);
    }
    return this.take(this.text.length - this.heldBack());
  }

  /** End of generation: whatever was held back is not a stop string after all. */
  end(): string {
    return this.stopped ? '' : this.take(this.text.length);
  }

  /** Length of the longest suffix of the unsent text that is a proper prefix of some stop string. */
  private heldBack(): number {
    let hold = 0;
    const unsent = this.text.length - this.sent;
    for (const stop of this.stops)
      for (let n = Math.min(stop.length - 1, unsent); n > hold; n--)
        if (this.text.endsWith(stop.slice(0, n))) {
          hold = n;
          break;
        }
    return hold;
  }

  private take(end: number): string {
    const out = this.text.slice(this.sent, end);
    this.sent = Math.max(this.sent, end);
    return out;
  }
}

export interface TextTokenizer {
  streamingDecoder(): { push(id: number): string; flush(): string };
}

/** What a finished text stream reports. */
export interface TextResult {
  finishReason: 'stop' | 'length';
  completionTokens: number;
}

/**
 * Text pieces of a generation (any async iterable of token ids), ending at a stop string or when the
 * ids end. Returns why it ended; stopping early ends (and so cancels) the id stream.
 */
export async function* generationText(
  ids: AsyncIterable<number> & { finishReason?: string; produced?: number },
  tokenizer: TextTokenizer,
  stops: readonly string[],
): AsyncGenerator<string, TextResult> {
  const decoder = tokenizer.streamingDecoder();
  const filter = new StopStringFilter(stops);
  let count = 0;
  for await (const id of ids) {
    count++;
    const text = filter.push(decoder.push(id));
    if (text) yield text;
    if (filter.stopped) return { finishReason: 'stop', completionTokens: count };
  }
  const tail = filter.push(decoder.flush()) + filter.end();
  if (tail) yield tail;
  if (filter.stopped) return { finishReason: 'stop', completionTokens: count };
  return { finishReason: ids.finishReason === 'length' ? 'length' : 'stop', completionTokens: count };
}
