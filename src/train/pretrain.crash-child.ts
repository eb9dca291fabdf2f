// Test helper for pretrain.test.ts, not library code: forked, it trains the tiny model with frequent
// checkpoints and, at the chosen save and stage, tells the parent and waits to be SIGKILLed there.
// argv: outDir, phase (a SavePhase or 'none'), save number (1-based), saveEvery.
import { pretrain } from './pretrain.js';
import { tinyOptions } from './tiny-run.fixture.js';

const [outDir, phase, saveNumber, saveEvery] = process.argv.slice(2);
if (!outDir || !process.send)
  throw new Error('usage: fork(pretrain.crash-child.js, [outDir, phase, saveNumber, saveEvery])');
let saves = 0;
await pretrain(
  tinyOptions(outDir, {
    saveEvery: Number(saveEvery),
    checkpointPhase: async (p) => {
      if (p === 'weights') saves++;
      if (p === phase && saves === Number(saveNumber)) {
        process.send!({ phase: p, save: saves });
        await new Promise((r) => setTimeout(r, 60_000)); // the parent kills us here
      }
    },
    onCheckpoint: () => process.send!({ saved: saves }),
  }),
);
process.send({ finished: true });
