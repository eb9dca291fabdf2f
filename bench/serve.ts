// `npm run bench -- serve`: a load generator against `gptkit serve` on 127.0.0.1, with gpt2-small's
// shape (random weights). The server runs in a child process (its own event loop and RSS); for each
// number of concurrent streams, every stream sends streaming completions back to back for a fixed time.
// Reports aggregate tokens/s, time to first token and per-token latency (p50 / p99), failures, and the
// server's RSS; `--soak=SECONDS` adds a long run at 8 streams that samples RSS every 10 s.
//   options: --streams=1,4,8,16 --seconds=20 --max-tokens=128 --soak=0 --max-batch=16
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createServer } from '../src/serve/server.js';
import { GPTModel } from '../src/models/gpt/gpt.js';
import { presetConfig } from '../src/models/gpt/config.js';
import { generate } from '../src/models/gpt/generate.js';
import { decodeStep } from '../src/models/gpt/batch-decode.js';
import { KVCache } from '../src/models/gpt/kv-cache.js';
import { Rng } from '../src/tensor/rng.js';

const PROMPT = 'Every effort moves you';

function option(args: string[], name: string, dflt: string): string {
  return args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? dflt;
}

function percentile(xs: number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
}

/** The server side: build the model, measure generate() alone as the baseline, then serve. */
async function child(args: string[]): Promise<void> {
  const model = new GPTModel(
    presetConfig('gpt2-small', { dropRate: 0, qkvBias: true, tiedHead: true }),
    new Rng(123),
  ).eval();
  const prompt = [6109, 3626, 6100, 345];
  generate(model, prompt, { maxNewTokens: 5 }); // warm-up
  const t0 = performance.now();
  const n = generate(model, prompt, { maxNewTokens: 128 }).length;
  const baseline = n / ((performance.now() - t0) / 1000);
  // The batching gain without HTTP: decodeStep over S sequences of 64 cached positions.
  const stepRates = [1, 8, 16].map((S) => {
    const caches = Array.from({ length: S }, () => new KVCache(model.cfg.nLayers, 128));
    decodeStep(
      model,
      caches.map((cache) => ({ cache, ids: Array.from({ length: 64 }, (_, i) => 100 + i) })),
    );
    const steps = 16;
    const t = performance.now();
    for (let i = 0; i < steps; i++)
      decodeStep(
        model,
        caches.map((cache) => ({ cache, ids: [345] })),
      );
    for (const c of caches) c.dispose();
    return `${S}:${((S * steps) / ((performance.now() - t) / 1000)).toFixed(1)}`;
  });
  const server = createServer({
    model,
    modelId: 'gpt2-small-random',
    maxBatch: Number(option(args, 'max-batch', '16')),
    maxQueue: 256,
  });
  await server.app.listen({ host: '127.0.0.1', port: 0 });
  const { port } = server.app.server.address() as { port: number };
  process.stdout.write(`READY ${port} ${baseline.toFixed(2)} ${stepRates.join(',')}\n`);
}

interface StreamStats {
  tokens: number;
  ttft: number[];
  gaps: number[];
  failures: string[];
  requests: number;
}

/** One streaming completion; records time to first token and the gaps between token events. */
async function oneRequest(url: string, maxTokens: number, seed: number, s: StreamStats): Promise<void> {
  const t0 = performance.now();
  s.requests++;
  try {
    const res = await fetch(`${url}/v1/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        prompt: PROMPT,
        max_tokens: maxTokens,
        temperature: 1,
        seed,
        stream: true,
        stream_options: { include_usage: true },
      }),
    });
    if (!res.ok) throw new Error(`HTTP ${res.status}: ${await res.text()}`);
    const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = '';
    let last = 0;
    let done = false;
    for (;;) {
      const r = await reader.read();
      if (r.done) break;
      buffer += r.value;
      let end;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const event = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        if (event === 'data: [DONE]') {
          done = true;
          continue;
        }
        const chunk = JSON.parse(event.slice(6)) as {
          choices: { text: string }[];
          usage?: { completion_tokens: number } | null;
        };
        if (chunk.usage) s.tokens += chunk.usage.completion_tokens;
        if (chunk.choices[0]?.text) {
          const now = performance.now();
          if (last === 0) s.ttft.push(now - t0);
          else s.gaps.push(now - last);
          last = now;
        }
      }
    }
    if (!done) throw new Error('stream ended without [DONE]');
  } catch (err) {
    s.failures.push((err as Error).message);
  }
}

async function rssOf(url: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  return Number(/^process_resident_memory_bytes (\d+)$/m.exec(text)?.[1]);
}

/** `streams` clients, each sending requests back to back until `seconds` have passed. */
async function level(
  url: string,
  streams: number,
  seconds: number,
  maxTokens: number,
): Promise<StreamStats & { wall: number }> {
  const s: StreamStats = { tokens: 0, ttft: [], gaps: [], failures: [], requests: 0 };
  const t0 = performance.now();
  const end = t0 + seconds * 1000;
  let seed = 0;
  await Promise.all(
    Array.from({ length: streams }, async () => {
      while (performance.now() < end) await oneRequest(url, maxTokens, seed++, s);
    }),
  );
  return { ...s, wall: (performance.now() - t0) / 1000 };
}

export async function run(args: string[]): Promise<void> {
  const streams = option(args, 'streams', '1,4,8,16').split(',').map(Number);
  const seconds = Number(option(args, 'seconds', '20'));
  const maxTokens = Number(option(args, 'max-tokens', '128'));
  const soak = Number(option(args, 'soak', '0'));
  const maxBatch = option(args, 'max-batch', '16');
  const server = spawn(
    process.execPath,
    [fileURLToPath(import.meta.url), '--child', `--max-batch=${maxBatch}`],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  try {
    const ready = await new Promise<string>((resolve, reject) => {
      let out = '';
      server.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        const m = /READY .*\n/.exec(out);
        if (m) resolve(m[0]);
      });
      server.on('exit', (code) => reject(new Error(`server exited with ${code}`)));
    });
    const [, port, baseline, steps] = ready.trim().split(' ');
    const url = `http://127.0.0.1:${port}`;
    await level(url, 1, 2, 16); // warm-up: pool buffers, JIT
    console.log(`generate() alone in the server process, 4-token prompt + 128 new: ${baseline} tokens/s`);
    const perStep = steps.split(',').map((x) => x.split(':'));
    console.log(
      `decodeStep alone (no HTTP), S sequences at position 64, tokens/s: ${perStep.map(([S, r]) => `S=${S} ${r}`).join(', ')}` +
        ` (S=8 / S=1: ${(Number(perStep[1][1]) / Number(perStep[0][1])).toFixed(2)}x)`,
    );
    console.log(
      `each level: ${seconds} s of back-to-back streaming requests, prompt "${PROMPT}", max_tokens ${maxTokens}, temperature 1, --max-batch ${maxBatch}\n`,
    );
    console.log(
      '| concurrent streams | requests | tokens | aggregate tokens/s | vs 1 stream | TTFT p50 / p99 (ms) | per-token p50 / p99 (ms) | failed | server RSS (MB) |',
    );
    console.log('|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
    let single = 0;
    for (const c of streams) {
      const r = await level(url, c, seconds, maxTokens);
      const rate = r.tokens / r.wall;
      if (c === 1) single = rate;
      const rss = (await rssOf(url)) / 2 ** 20;
      console.log(
        `| ${c} | ${r.requests} | ${r.tokens} | ${rate.toFixed(1)} | ${single ? `${(rate / single).toFixed(2)}x` : '-'} | ` +
          `${percentile(r.ttft, 50).toFixed(0)} / ${percentile(r.ttft, 99).toFixed(0)} | ` +
          `${percentile(r.gaps, 50).toFixed(1)} / ${percentile(r.gaps, 99).toFixed(1)} | ${r.failures.length} | ${rss.toFixed(0)} |`,
      );
      for (const f of new Set(r.failures)) console.log(`  failure: ${f}`);
    }
    if (soak > 0) {
      console.log(`\nsoak: 8 streams for ${soak} s, server RSS every 10 s (MB):`);
      const samples: number[] = [];
      const sampler = setInterval(() => void rssOf(url).then((b) => samples.push(b / 2 ** 20)), 10_000);
      const r = await level(url, 8, soak, maxTokens);
      clearInterval(sampler);
      console.log(samples.map((m) => m.toFixed(0)).join(' '));
      console.log(
        `${r.requests} requests, ${r.tokens} tokens, ${(r.tokens / r.wall).toFixed(1)} tokens/s, ${r.failures.length} failed`,
      );
    }
  } finally {
    server.kill('SIGTERM');
  }
  console.log(`\nreproduce: npm run bench -- serve ${args.join(' ')}`.trimEnd());
}

if (process.argv.includes('--child')) await child(process.argv.slice(2));
