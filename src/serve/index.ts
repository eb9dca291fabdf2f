// Public surface of the serving app: what src/index.ts re-exports.
export { createServer, SERVE_DEFAULTS, type ServeOptions, type GptkitServer } from './server.js';
export {
  BatchScheduler,
  Generation,
  QueueFullError,
  type DecodeRequest,
  type Sampling,
  type FinishReason,
  type SchedulerOptions,
  type SchedulerStats,
} from './scheduler.js';
export { chatPrompt, responsePrefix, type ChatMessage, type ChatTemplate } from './chat.js';
export { StopStringFilter, generationText, type TextResult } from './text.js';
