#!/usr/bin/env node
// The E2B front's cost: each operation through E2B's unmodified SDK
// (npm e2b / @e2b/code-interpreter, the versions tests/e2b pins) against
// the same operation on thaw's own /v1 API (plain HTTP from this same
// node process), interleaved in one run so both see the same machine.
// What differs is the front: its translation, Connect framing and the
// SDK's own work; the guest does the same in both (a command is the same
// argv: the SDK runs `/bin/bash -l -c CMD`, so /v1 runs that too).
//
//   node bench/e2b.mjs --n 20 [--json FILE]
// Needs THAW_API_URL, THAW_API_KEY (/v1) and THAW_E2B_URL (the thawd's
// --e2b-listen origin); bench/e2b.sh sets them.
import { writeFileSync } from 'node:fs';
import { Sandbox } from '../tests/e2b/node_modules/e2b/dist/index.mjs';
import { Sandbox as CodeSandbox } from '../tests/e2b/node_modules/@e2b/code-interpreter/dist/index.mjs';

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : dflt;
};
const N = Number(opt('--n', '20'));
const jsonOut = opt('--json', null);
const api = process.env.THAW_API_URL;
const key = process.env.THAW_API_KEY;
const e2b = process.env.THAW_E2B_URL;
const template = process.env.THAW_BENCH_TEMPLATE || 'code-interpreter';
if (!api || !key || !e2b || !(N > 0)) {
  console.error('usage: THAW_API_URL, THAW_API_KEY and THAW_E2B_URL set; node bench/e2b.mjs --n N');
  process.exit(2);
}
Object.assign(process.env, {
  E2B_API_URL: e2b, E2B_SANDBOX_URL: e2b, E2B_DOMAIN: 'thaw.bench', E2B_API_KEY: key,
});
delete process.env.E2B_DEBUG;

async function v1(method, path, body, raw) {
  const res = await fetch(api + path, {
    method,
    headers: { Authorization: `Bearer ${key}`, ...(body !== undefined && !raw ? { 'Content-Type': 'application/json' } : {}) },
    body: body === undefined ? undefined : raw ? body : JSON.stringify(body),
  });
  const text = await res.text();
  if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${text}`);
  return text ? (raw ? text : JSON.parse(text)) : null;
}

const ms = (t0) => Number(process.hrtime.bigint() - t0) / 1e6;
async function timed(fn) {
  const t0 = process.hrtime.bigint();
  await fn();
  return ms(t0);
}
const pct = (v, p) => {
  const s = [...v].sort((a, b) => a - b);
  return s[Math.max(0, Math.ceil((p * s.length) / 100) - 1)];
};

const rows = [];
function report(name, e2bTimes, v1Times) {
  const row = {
    name, n: e2bTimes.length,
    e2b_p50: pct(e2bTimes, 50), e2b_p99: pct(e2bTimes, 99),
    v1_p50: pct(v1Times, 50), v1_p99: pct(v1Times, 99),
  };
  rows.push(row);
  const f = (x) => x.toFixed(1).padStart(8);
  console.log(`${name.padEnd(34)} ${String(row.n).padStart(3)} ${f(row.e2b_p50)} ${f(row.e2b_p99)} ${f(row.v1_p50)} ${f(row.v1_p99)} ${f(row.e2b_p50 - row.v1_p50)}`);
}

console.log(`E2B front vs /v1, ${N} of each, interleaved; ms`);
console.log(`${'operation'.padEnd(34)}   n  e2b p50  e2b p99   v1 p50   v1 p99  p50 diff`);

// Each pair alternates which side goes first, so neither always follows
// the other's work (a delete's clean-up, a pool refill).
async function pair(viaE2b, viaV1, a, b, i, settleMs = 0) {
  const settle = () => new Promise((r) => setTimeout(r, settleMs));
  for (const side of i % 2 ? ['v1', 'e2b'] : ['e2b', 'v1']) {
    if (settleMs) await settle();
    if (side === 'e2b') a.push(await timed(viaE2b));
    else b.push(await timed(viaV1));
  }
}

// 1. create + kill: with the warm pools refilled before each (300 ms), as
// a host between requests; back to back, a create would often find the
// pool still refilling from the previous one and measure that instead.
{
  const a = [], b = [];
  for (let i = 0; i < N; i++) {
    await pair(async () => { const s = await Sandbox.create(template); await s.kill(); },
      async () => {
        const s = await v1('POST', '/v1/sandboxes', { template });
        await v1('DELETE', `/v1/sandboxes/${s.id}`);
      }, a, b, i, 300);
  }
  report('create + kill', a, b);
}

// One sandbox for the data-plane rows, reached both ways.
const sbx = await CodeSandbox.create(template, { timeoutMs: 600_000 });
const id = sbx.sandboxId;
try {
  // Warm both paths once (TCG translates each guest path on first use).
  await sbx.commands.run('true');
  await v1('POST', `/v1/sandboxes/${id}/exec`, { cmd: ['/bin/bash', '-l', '-c', 'true'] });
  await sbx.runCode('1+1');
  await v1('POST', `/v1/sandboxes/${id}/run_code`, { code: '1+1' });

  const rowsDef = [
    ['command: bash -l -c true',
      () => sbx.commands.run('true'),
      () => v1('POST', `/v1/sandboxes/${id}/exec`, { cmd: ['/bin/bash', '-l', '-c', 'true'] })],
    ['file write + read (4 KiB)',
      async () => { await sbx.files.write('/tmp/b.txt', 'x'.repeat(4096)); await sbx.files.read('/tmp/b.txt'); },
      async () => {
        await v1('PUT', `/v1/sandboxes/${id}/files?path=/tmp/c.txt`, 'x'.repeat(4096), true);
        await v1('GET', `/v1/sandboxes/${id}/files?path=/tmp/c.txt`, undefined, true);
      }],
    ['file stat',
      () => sbx.files.getInfo('/tmp/b.txt'),
      () => v1('GET', `/v1/sandboxes/${id}/files/stat?path=/tmp/c.txt`)],
    ['run_code 1+1',
      () => sbx.runCode('1+1'),
      () => v1('POST', `/v1/sandboxes/${id}/run_code`, { code: '1+1' })],
  ];
  for (const [name, viaE2b, viaV1] of rowsDef) {
    const a = [], b = [];
    for (let i = 0; i < N; i++) await pair(viaE2b, viaV1, a, b, i);
    report(name, a, b);
  }
} finally {
  await sbx.kill().catch(() => {});
}
if (jsonOut) writeFileSync(jsonOut, JSON.stringify({ n: N, template, rows }, null, 2) + '\n');
