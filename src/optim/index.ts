export {
  Optimizer,
  AdamW,
  SGD,
  clipGradNorm,
  decayGroups,
  type ParamGroup,
  type AdamWOptions,
} from './optimizer.js';
export { lrAt, type ScheduleOptions } from './schedule.js';
