// Shared by the serve tests: the gpt2-tiny fixture model, a slower random model (long contexts, so a
// reply lasts long enough to cancel, queue behind, or stop from a browser), and a server on a free port.
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { createServer, GPTModel, loadGPT2, Rng, type GptkitServer, type ServeOptions } from '../index.js';

export const FIXTURE_MODEL_DIR = fileURLToPath(
  new URL('../../../test/fixtures/gpt2-tiny/model', import.meta.url),
);
export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

let tiny: GPTModel | undefined;
export async function tinyModel(): Promise<GPTModel> {
  tiny ??= await loadGPT2(FIXTURE_MODEL_DIR);
  return tiny;
}

/** Random weights, GPT-2's vocabulary, context 1024: a few ms per token, so a 1000-token reply lasts seconds. */
export function slowModel(): GPTModel {
  return new GPTModel(
    {
      vocabSize: 50257,
      contextLength: 1024,
      embDim: 64,
      nHeads: 4,
      nLayers: 2,
      dropRate: 0,
      qkvBias: true,
      tiedHead: true,
    },
    new Rng(7),
  ).eval();
}

export interface Running extends GptkitServer {
  url: string;
}

export async function startServer(o: Partial<ServeOptions> & { model: GPTModel }): Promise<Running> {
  const server = createServer({ modelId: 'gpt2-tiny', ...o });
  await server.app.listen({ host: '127.0.0.1', port: 0 });
  const { port } = server.app.server.address() as AddressInfo;
  return { ...server, url: `http://127.0.0.1:${port}` };
}

export async function waitFor(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}
