// A folder of text files as one token stream: documents (sorted by path) joined with <|endoftext|>,
// tokenised once into a token file that is reused until a source file changes. Reads files in chunks
// and writes ids as it goes, so neither the text nor the ids need to fit in memory. No downloading.

import { createHash } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readSync, statSync } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import { readTokenFileHeader, TokenFile, TokenFileWriter } from './token-file.js';
import type { TextTokenizer } from './windows.js';

export interface CorpusProgress {
  file: string;
  filesDone: number;
  filesTotal: number;
  bytesDone: number;
  bytesTotal: number;
  tokens: number;
}

export interface CorpusOptions {
  /** Folder of text files (searched recursively). */
  sourceDir: string;
  /** Where the token file goes; reused while the fingerprint matches. */
  cachePath: string;
  tokenizer: TextTokenizer & { readonly name?: string };
  /** File name endings to include. Default ['.txt']. */
  extensions?: readonly string[];
  /** Bytes read per step. Default 4 MiB. */
  chunkBytes?: number;
  onProgress?: (p: CorpusProgress) => void;
}

export interface CorpusFile {
  /** Path relative to the source folder, with '/' separators: the sort key. */
  name: string;
  path: string;
  size: number;
  mtimeMs: number;
}

export interface CorpusCacheInfo {
  path: string;
  tokenCount: number;
  files: number;
  sourceHash: string;
  /** False when an up-to-date cache was reused. */
  rebuilt: boolean;
}

const DOCUMENT_SEPARATOR = '<|endoftext|>';
const isWhiteSpace = /^\p{White_Space}$/u;

/** The corpus files under `dir`, sorted by relative path (code-unit order). */
export function listCorpusFiles(dir: string, extensions: readonly string[] = ['.txt']): CorpusFile[] {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new Error(`corpus: ${dir} is not a folder`);
  const out: CorpusFile[] = [];
  const walk = (d: string): void => {
    for (const entry of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, entry.name);
      if (entry.isDirectory()) walk(p);
      else if (entry.isFile() && extensions.some((e) => entry.name.endsWith(e))) {
        const st = statSync(p);
        out.push({
          name: relative(dir, p).split(sep).join('/'),
          path: p,
          size: st.size,
          mtimeMs: st.mtimeMs,
        });
      }
    }
  };
  walk(dir);
  return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/**
 * sha256 (hex) over the file list with sizes and modification times, and the tokenizer's identity
 * (name, vocabulary size, and the ids of a probe text), so any change there makes the cache stale.
 */
export function corpusFingerprint(
  files: readonly CorpusFile[],
  tokenizer: CorpusOptions['tokenizer'],
): string {
  const probe = tokenizer.encode(`The quick brown fox: 3.14, naïve café! ${DOCUMENT_SEPARATOR}`, {
    allowedSpecial: 'all',
  });
  const identity = {
    format: 1,
    tokenizer: { name: tokenizer.name ?? '', vocabSize: tokenizer.vocabSize, probe },
  };
  const h = createHash('sha256');
  h.update(JSON.stringify(identity));
  for (const f of files) h.update(`\n${JSON.stringify([f.name, f.size, f.mtimeMs])}`);
  return h.digest('hex');
}

// Largest p with text[p] whitespace and text[p-1] not: no GPT-2 piece crosses such a point (pieces never
// run from non-space into space, and nothing looks backwards), so the two halves encode independently.
function safeCut(text: string): number {
  for (let p = text.length - 1; p > 0; p--) {
    if (isWhiteSpace.test(text[p]) && !isWhiteSpace.test(text[p - 1])) return p;
  }
  return 0;
}

function tokenizeFile(
  file: CorpusFile,
  tokenizer: TextTokenizer,
  chunkBytes: number,
  emit: (ids: number[]) => void,
  onBytes: (n: number) => void,
): void {
  const fd = openSync(file.path, 'r');
  try {
    const buf = Buffer.alloc(chunkBytes);
    const decoder = new TextDecoder('utf-8');
    let pending = '';
    for (;;) {
      const n = readSync(fd, buf, 0, chunkBytes, null);
      if (n === 0) break;
      onBytes(n);
      pending += decoder.decode(buf.subarray(0, n), { stream: true });
      const cut = safeCut(pending);
      if (cut > 0) {
        emit(tokenizer.encode(pending.slice(0, cut), { allowedSpecial: 'all' }));
        pending = pending.slice(cut);
      }
    }
    pending += decoder.decode();
    if (pending !== '') emit(tokenizer.encode(pending, { allowedSpecial: 'all' }));
  } catch (err) {
    throw new Error(
      `corpus: cannot tokenize ${file.path}: ${err instanceof Error ? err.message : String(err)}`,
    );
  } finally {
    closeSync(fd);
  }
}

/** Makes sure `cachePath` holds the tokens of the corpus, tokenising only when it is missing or stale. */
export function ensureCorpusCache(options: CorpusOptions): CorpusCacheInfo {
  const { sourceDir, cachePath, tokenizer } = options;
  const extensions = options.extensions ?? ['.txt'];
  const files = listCorpusFiles(sourceDir, extensions);
  if (files.length === 0) throw new Error(`corpus: no ${extensions.join(' / ')} files in ${sourceDir}`);
  const sourceHash = corpusFingerprint(files, tokenizer);

  if (existsSync(cachePath)) {
    try {
      const h = readTokenFileHeader(cachePath);
      if (h.sourceHash === sourceHash && h.vocabSize === tokenizer.vocabSize) {
        return { path: cachePath, tokenCount: h.tokenCount, files: files.length, sourceHash, rebuilt: false };
      }
    } catch {
      // An unreadable cache is rebuilt like a stale one.
    }
  }

  mkdirSync(dirname(cachePath), { recursive: true });
  const writer = new TokenFileWriter(cachePath, tokenizer.vocabSize);
  const separator = tokenizer.encode(DOCUMENT_SEPARATOR, { allowedSpecial: 'all' });
  const bytesTotal = files.reduce((s, f) => s + f.size, 0);
  let bytesDone = 0;
  try {
    files.forEach((file, i) => {
      if (i > 0) writer.append(separator);
      const report = (): void =>
        options.onProgress?.({
          file: file.name,
          filesDone: i,
          filesTotal: files.length,
          bytesDone,
          bytesTotal,
          tokens: writer.tokenCount,
        });
      tokenizeFile(
        file,
        tokenizer,
        options.chunkBytes ?? 4 << 20,
        (ids) => writer.append(ids),
        (n) => {
          bytesDone += n;
          report();
        },
      );
    });
  } catch (err) {
    writer.abort();
    throw err;
  }
  const header = writer.finish(sourceHash);
  return { path: cachePath, tokenCount: header.tokenCount, files: files.length, sourceHash, rebuilt: true };
}

/** Ensures the cache (see ensureCorpusCache), then opens it for reading by ranges. */
export function openCorpus(options: CorpusOptions): TokenFile {
  return TokenFile.open(ensureCorpusCache(options).path);
}
