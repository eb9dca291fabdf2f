// Tests for atomic.ts: replace-or-keep semantics, cleanup on error, and survival of a SIGKILL mid-write.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fork } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openAtomicWrite, writeFileAtomic } from './atomic.js';

async function tempDir(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'gptkit-atomic-'));
}

test('writeFileAtomic replaces content from bytes, strings and a streaming callback', async () => {
  const dir = await tempDir();
  try {
    const p = join(dir, 'a.bin');
    await writeFileAtomic(p, 'hello');
    assert.equal(await readFile(p, 'utf8'), 'hello');
    await writeFileAtomic(p, new Uint8Array([1, 2, 3]));
    assert.deepEqual([...(await readFile(p))], [1, 2, 3]);
    await writeFileAtomic(p, async (sink) => {
      await sink.write('ab');
      await sink.write(new Uint8Array([0x63]));
      assert.equal(sink.bytesWritten, 3);
    });
    assert.equal(await readFile(p, 'utf8'), 'abc');
    assert.deepEqual(await readdir(dir), ['a.bin'], 'no temp files left behind');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('an error in the writer keeps the old file, removes the temp file, and names the path', async () => {
  const dir = await tempDir();
  try {
    const p = join(dir, 'keep.txt');
    await writeFile(p, 'old');
    await assert.rejects(
      writeFileAtomic(p, async (sink) => {
        await sink.write('partial new content');
        throw new Error('disk on fire');
      }),
      (err: Error) => err.message.includes(p) && err.message.includes('disk on fire'),
    );
    assert.equal(await readFile(p, 'utf8'), 'old');
    assert.deepEqual(await readdir(dir), ['keep.txt']);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a missing directory is an error naming the path', async () => {
  const dir = await tempDir();
  try {
    const p = join(dir, 'nope', 'x.bin');
    await assert.rejects(writeFileAtomic(p, 'x'), (err: Error) => err.message.includes(p));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('abort leaves the target untouched', async () => {
  const dir = await tempDir();
  try {
    const p = join(dir, 't.txt');
    await writeFile(p, 'before');
    const w = await openAtomicWrite(p);
    await w.write('after');
    await w.abort();
    await w.abort();
    assert.equal(await readFile(p, 'utf8'), 'before');
    assert.deepEqual(await readdir(dir), ['t.txt']);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('SIGKILL in the middle of a big write leaves the previous file intact', async () => {
  const dir = await tempDir();
  try {
    const p = join(dir, 'checkpoint.bin');
    const previous = new Uint8Array(1 << 20).map((_, i) => (i * 7) & 0xff);
    await writeFileAtomic(p, previous);

    const childPath = fileURLToPath(new URL('./atomic.crash-child.js', import.meta.url));
    const child = fork(childPath, [p], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    const exited = new Promise<NodeJS.Signals | null>((resolve) =>
      child.on('exit', (_c, sig) => resolve(sig)),
    );
    const midway = await new Promise<number>((resolve, reject) => {
      child.on('message', (m: { midway?: number; finished?: boolean }) => {
        if (m.midway !== undefined) resolve(m.midway);
        else reject(new Error('child finished before it could be killed'));
      });
      child.on('error', reject);
    });
    child.kill('SIGKILL');
    assert.equal(await exited, 'SIGKILL');
    assert.ok(midway > 0);

    const after = await readFile(p);
    assert.equal(after.byteLength, previous.byteLength);
    assert.ok(Buffer.from(previous).equals(after), 'previous content survives');
    // The killed writer's temp file is the only other thing in the directory (nothing could remove it).
    const others = (await readdir(dir)).filter((n) => n !== 'checkpoint.bin');
    assert.equal(others.length, 1);
    assert.match(others[0]!, /^checkpoint\.bin\.tmp-\d+-[0-9a-f]+$/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
