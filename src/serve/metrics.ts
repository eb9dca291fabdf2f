// Counters for GET /metrics in Prometheus' text format: requests by route and status, tokens, queue.
import type { SchedulerStats } from './scheduler.js';

export class Metrics {
  private requests = new Map<string, number>();

  countRequest(route: string, status: number): void {
    const key = `route="${route}",status="${status}"`;
    this.requests.set(key, (this.requests.get(key) ?? 0) + 1);
  }

  render(s: SchedulerStats, maxBatch: number): string {
    const lines: string[] = [];
    const metric = (name: string, type: string, help: string, values: [string, number][]) => {
      lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
      for (const [labels, v] of values) lines.push(`${name}${labels ? `{${labels}}` : ''} ${v}`);
    };
    metric('gptkit_requests_total', 'counter', 'HTTP requests by route and status.', [
      ...this.requests.entries(),
    ]);
    metric('gptkit_prompt_tokens_total', 'counter', 'Prompt tokens queued for decoding.', [
      ['', s.promptTokens],
    ]);
    metric('gptkit_generated_tokens_total', 'counter', 'Tokens generated.', [['', s.generatedTokens]]);
    metric('gptkit_decode_steps_total', 'counter', 'Batched decoding steps.', [['', s.steps]]);
    metric('gptkit_queue_depth', 'gauge', 'Requests waiting for a decoding slot.', [['', s.queued]]);
    metric('gptkit_active_sequences', 'gauge', 'Sequences decoding now.', [['', s.active]]);
    metric('gptkit_max_batch', 'gauge', 'Decoding slots (--max-batch).', [['', maxBatch]]);
    metric('gptkit_tokens_per_second', 'gauge', 'Generated tokens per second, last 5 seconds.', [
      ['', Number(s.tokensPerSecond.toFixed(2))],
    ]);
    metric('process_resident_memory_bytes', 'gauge', 'Resident memory of the server process.', [
      ['', process.memoryUsage.rss()],
    ]);
    return lines.join('\n') + '\n';
  }
}
