// GPT-2 checkpoints from the Hugging Face hub: model names, the local cache, `downloadModel`, and
// `resolveModelRef` (a directory or a downloaded name). Not a general hub client: no tokens, revisions or search.
import { mkdir, readFile, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import {
  downloadFile,
  verifiedLocal,
  type ContentValidator,
  type FileResult,
  type ProgressCallback,
  type RetryCallback,
} from './hub-file.js';
import { readSafetensorsHeader } from './safetensors.js';

export type { FileResult, ProgressCallback, RetryCallback, RetryInfo } from './hub-file.js';

export const KNOWN_MODELS = ['gpt2', 'gpt2-medium', 'gpt2-large', 'gpt2-xl'] as const;
export type KnownModel = (typeof KNOWN_MODELS)[number];

/** What a model directory holds, in download order (the small config first, so a bad name fails fast). */
export const MODEL_FILES = ['config.json', 'model.safetensors'] as const;

export function isKnownModel(name: string): name is KnownModel {
  return (KNOWN_MODELS as readonly string[]).includes(name);
}

function unknownModel(name: string): Error {
  return new Error(`unknown model '${name}': known models are ${KNOWN_MODELS.join(', ')}`);
}

/** The hub repository of a known model: OpenAI's GPT-2 checkpoints live under `openai-community/`. */
export function hubRepo(name: string): string {
  if (!isKnownModel(name)) throw unknownModel(name);
  return `openai-community/${name}`;
}

const DEFAULT_ENDPOINT = 'https://huggingface.co';

/** `endpoint` without trailing slashes, if it is an http(s) URL; else an error naming `what` (e.g. HF_ENDPOINT). */
function checkEndpoint(endpoint: string, what: string): string {
  let ok = false;
  try {
    ok = ['http:', 'https:'].includes(new URL(endpoint).protocol);
  } catch {
    ok = false;
  }
  if (!ok) throw new Error(`${what} '${endpoint}' is not a valid URL (expected e.g. ${DEFAULT_ENDPOINT})`);
  return endpoint.replace(/\/+$/, '');
}

/** HF_ENDPOINT (as huggingface_hub reads it) or the public hub; an HF_ENDPOINT that is not a URL is an error. */
export function hubEndpoint(): string {
  const env = process.env.HF_ENDPOINT;
  return env ? checkEndpoint(env, 'HF_ENDPOINT') : DEFAULT_ENDPOINT;
}

export function hubFileUrl(name: string, file: string, endpoint = hubEndpoint()): string {
  return `${checkEndpoint(endpoint, 'hub endpoint')}/${hubRepo(name)}/resolve/main/${file}`;
}

/** GPTKIT_CACHE, else $XDG_CACHE_HOME/gptkit, else ~/.cache/gptkit. */
export function cacheRoot(): string {
  if (process.env.GPTKIT_CACHE) return resolve(process.env.GPTKIT_CACHE);
  if (process.env.XDG_CACHE_HOME) return join(resolve(process.env.XDG_CACHE_HOME), 'gptkit');
  return join(homedir(), '.cache', 'gptkit');
}

export function modelCacheDir(name: KnownModel): string {
  return join(cacheRoot(), 'models', name);
}

/**
 * What each model file must be when the server gives no sha256 to verify it by: a safetensors file whose header
 * parses and whose tensors tile the rest of the file exactly (so a cut-off body fails), a JSON object.
 */
const VALIDATORS: Record<(typeof MODEL_FILES)[number], ContentValidator> = {
  'model.safetensors': async (path) => {
    try {
      await readSafetensorsHeader(path);
    } catch (err) {
      throw new Error(`not a valid safetensors file: ${(err as Error).message}`, { cause: err });
    }
  },
  'config.json': async (path) => {
    let parsed: unknown;
    try {
      parsed = JSON.parse(await readFile(path, 'utf8'));
    } catch (err) {
      throw new Error(`not valid JSON (${(err as Error).message})`, { cause: err });
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      throw new Error(`not a JSON object (got ${Array.isArray(parsed) ? 'an array' : typeof parsed})`);
    }
  },
};

export interface DownloadOptions {
  /** Target directory instead of the cache's models/<name>/. */
  dir?: string;
  /** Defaults to hubEndpoint(). */
  endpoint?: string;
  /** Called as bytes arrive; `total` is undefined when the server does not say. */
  onProgress?: ProgressCallback;
  /** Called before each retry with the failed attempt's number and reason (the CLI prints these). */
  onRetry?: RetryCallback;
  /** Use only verified local files, never the network. Default: HF_HUB_OFFLINE=1. */
  offline?: boolean;
  retries?: number;
  retryDelayMs?: number;
  timeoutMs?: number;
}

export interface DownloadResult {
  name: KnownModel;
  dir: string;
  files: FileResult[];
}

/**
 * Make `config.json` and `model.safetensors` of a known GPT-2 model present and verified in the cache (or
 * `dir`). Complete, verified files cost one HEAD each (none when offline); interrupted downloads resume.
 */
export async function downloadModel(name: string, options: DownloadOptions = {}): Promise<DownloadResult> {
  if (!isKnownModel(name)) throw unknownModel(name);
  const offline = options.offline ?? process.env.HF_HUB_OFFLINE === '1';
  // Offline, the endpoint is never contacted: a broken HF_ENDPOINT must not stop the use of verified files.
  const endpoint = offline
    ? DEFAULT_ENDPOINT
    : checkEndpoint(options.endpoint ?? hubEndpoint(), 'hub endpoint');
  const dir = resolve(options.dir ?? modelCacheDir(name));
  await mkdir(dir, { recursive: true });
  const files: FileResult[] = [];
  for (const file of MODEL_FILES) {
    files.push(
      await downloadFile(hubFileUrl(name, file, endpoint), dir, file, {
        onProgress: options.onProgress,
        onRetry: options.onRetry,
        validate: VALIDATORS[file],
        offline,
        retries: options.retries,
        retryDelayMs: options.retryDelayMs,
        timeoutMs: options.timeoutMs,
      }),
    );
  }
  return { name, dir, files };
}

export interface ModelRef {
  dir: string;
  configPath: string;
  weightsPath: string;
  /** Set when the reference was a known model name. */
  name?: KnownModel;
}

const isDir = async (p: string): Promise<boolean> =>
  (await stat(p).catch(() => null))?.isDirectory() ?? false;
const isFile = async (p: string): Promise<boolean> => (await stat(p).catch(() => null))?.isFile() ?? false;

/**
 * Turn what a user typed into model files: an existing directory with model.safetensors and config.json is
 * used as-is; a known name means its downloaded copy (in `options.dir` or the cache).
 */
export async function resolveModelRef(ref: string, options: { dir?: string } = {}): Promise<ModelRef> {
  if (await isDir(ref)) {
    const dir = resolve(ref);
    const missing = [];
    for (const f of MODEL_FILES) if (!(await isFile(join(dir, f)))) missing.push(f);
    if (missing.length) throw new Error(`model directory ${dir} has no ${missing.join(' and no ')}`);
    return { dir, configPath: join(dir, 'config.json'), weightsPath: join(dir, 'model.safetensors') };
  }
  if (isKnownModel(ref)) {
    const dir = resolve(options.dir ?? modelCacheDir(ref));
    for (const f of MODEL_FILES) {
      // A present but unverified file (e.g. a download that died before its check) does not count.
      if (!(await verifiedLocal(join(dir, f)))) {
        throw new Error(
          `model '${ref}' is not downloaded (no verified ${f} in ${dir}); run \`gptkit download ${ref}\``,
        );
      }
    }
    return {
      dir,
      configPath: join(dir, 'config.json'),
      weightsPath: join(dir, 'model.safetensors'),
      name: ref,
    };
  }
  const looksLikePath = /[/\\]/.test(ref) || ref.startsWith('.');
  if (looksLikePath) throw new Error(`model directory '${ref}' does not exist`);
  throw new Error(
    `unknown model '${ref}': give a directory containing model.safetensors and config.json, ` +
      `or one of ${KNOWN_MODELS.join(', ')}`,
  );
}
