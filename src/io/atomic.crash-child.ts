// Test helper for atomic.test.ts, not library code: forked, it streams a huge atomic write and reports
// to the parent part-way through so the parent can SIGKILL it mid-write.
import { writeFileAtomic } from './atomic.js';

const target = process.argv[2];
if (!target || !process.send) throw new Error('usage: fork(atomic.crash-child.js, [targetPath])');

const chunk = new Uint8Array(4 * 1024 * 1024).fill(0x42);
await writeFileAtomic(target, async (sink) => {
  // Up to 4 GiB: far more than is written before the parent's SIGKILL lands.
  for (let i = 0; i < 1024; i++) {
    await sink.write(chunk);
    if (i === 8) process.send!({ midway: sink.bytesWritten });
  }
});
process.send({ finished: true });
