// Incremental decoding of token ids into text for generation: holds back the bytes of a character
// that a token left unfinished. Not tied to one tokenizer; anything with decodeBytes() works.

/**
 * Turns a stream of token ids into text without ever emitting half a character: a token can end in
 * the middle of a multi-byte UTF-8 sequence, so those bytes wait for the next push. Call flush() at
 * the end; bytes that never completed a character then come out as U+FFFD.
 */
export class StreamingDecoder {
  private decoder = new TextDecoder('utf-8', { ignoreBOM: true });

  constructor(private readonly tokenizer: { decodeBytes(ids: ArrayLike<number>): Uint8Array }) {}

  /** Adds ids; returns the text that is now complete (possibly ''). */
  push(ids: number | ArrayLike<number>): string {
    const bytes = this.tokenizer.decodeBytes(typeof ids === 'number' ? [ids] : ids);
    return this.decoder.decode(bytes, { stream: true });
  }

  /** Returns whatever is still pending and resets the decoder for reuse. */
  flush(): string {
    return this.decoder.decode();
  }
}
