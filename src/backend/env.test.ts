// GPTKIT_BACKEND and GPTKIT_THREADS as a user sets them: checked in a fresh process when the backend
// is first chosen (the choice is made once per process, so each case runs in a child, all at once).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';

const backendModule = new URL('./index.js', import.meta.url).href;

interface ChildResult {
  status: number | null;
  out: string;
  err: string;
}

/** Imports the backend module in a child with `env` set, then chooses a backend (getBackend or setBackend). */
function child(env: Record<string, string>, call = 'getBackend()'): Promise<ChildResult> {
  const script =
    `const m = await import(${JSON.stringify(backendModule)});` +
    `process.stdout.write('imported;');` +
    `try { process.stdout.write(m.${call}.name); } ` +
    `catch (e) { process.stdout.write('threw: ' + e.message); process.exitCode = 3; }`;
  const base = { ...process.env };
  delete base.GPTKIT_BACKEND;
  delete base.GPTKIT_THREADS;
  const proc = spawn(process.execPath, ['--input-type=module', '-e', script], { env: { ...base, ...env } });
  let out = '';
  let err = '';
  proc.stdout.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr.on('data', (d: Buffer) => (err += d.toString()));
  return new Promise((resolve, reject) => {
    proc.on('error', reject);
    proc.on('close', (status) => resolve({ status, out, err }));
  });
}

test('GPTKIT_BACKEND other than js or native is an error naming the variable and the accepted values', async () => {
  const values = ['cuda', 'JS'];
  const results = await Promise.all(values.map((value) => child({ GPTKIT_BACKEND: value })));
  results.forEach((r, i) => {
    assert.equal(r.status, 3, `${values[i]}: ${r.out} ${r.err}`);
    assert.equal(
      r.out,
      `imported;threw: GPTKIT_BACKEND must be js or native, got ${JSON.stringify(values[i])}; ` +
        'unset it to use native when the addon loads, else js',
    );
  });
});

test('GPTKIT_THREADS other than a positive integer is an error when the backend is chosen', async () => {
  const cases: Array<[string, Record<string, string>]> = [
    ['abc', {}],
    ['0', {}],
    ['-1', {}],
    ['1.5', {}],
    ['abc', { GPTKIT_BACKEND: 'js' }],
    ['0', { GPTKIT_BACKEND: 'native' }],
  ];
  const [viaSet, ...results] = await Promise.all([
    child({ GPTKIT_THREADS: 'abc' }, "setBackend('js')"),
    ...cases.map(([value, env]) => child({ ...env, GPTKIT_THREADS: value })),
  ]);
  results.forEach((r, i) => {
    const [value] = cases[i];
    assert.equal(r.status, 3, `${value}: ${r.out} ${r.err}`);
    assert.equal(
      r.out,
      `imported;threw: GPTKIT_THREADS must be a positive integer (the native backend's thread count), ` +
        `got ${JSON.stringify(value)}; unset it to use every core`,
    );
  });
  assert.match(viaSet.out, /threw: GPTKIT_THREADS must be a positive integer/);
});

test('valid or empty settings choose a backend as before', async () => {
  const [jsTwo, jsEmpty, auto] = await Promise.all([
    child({ GPTKIT_BACKEND: 'js', GPTKIT_THREADS: '2' }),
    child({ GPTKIT_BACKEND: 'js', GPTKIT_THREADS: '' }),
    child({ GPTKIT_BACKEND: '' }),
  ]);
  assert.equal(jsTwo.out, 'imported;js');
  assert.equal(jsEmpty.out, 'imported;js');
  assert.equal(auto.status, 0, auto.err);
  assert.match(auto.out, /^imported;(js|native)$/);
});
