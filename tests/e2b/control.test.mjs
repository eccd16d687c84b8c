// The control plane through the unmodified SDK: create (E2B's default
// template name and explicit ones), getInfo, isRunning, list (metadata
// filter, state filter, pages), setTimeout, pause and connect (resume),
// fork, metrics, kill (true, then false), the access token's binding to
// its sandbox, and what thaw refuses by name instead of ignoring.
import { after, test } from 'node:test';
import { randomBytes } from 'node:crypto';
import { Sandbox, AuthenticationError, SandboxError, SandboxNotFoundError } from 'e2b';
import { assert, apiUrl, template } from './lib.mjs';

const RUN = randomBytes(4).toString('hex'); // this run's sandboxes, by metadata
const MISSING = 'sb-zzzzzzzzzzzz'; // a well-formed id that no sandbox has
const created = [];
after(async () => {
  for (const id of created) await Sandbox.kill(id).catch(() => {});
});

async function create(...args) {
  const sbx = await Sandbox.create(...args);
  created.push(sbx.sandboxId);
  return sbx;
}

async function listAll(opts) {
  const pages = [];
  const p = Sandbox.list(opts);
  while (p.hasNext) pages.push(await p.nextItems());
  return pages;
}

// A refusal of Sandbox.create: a 400 whose message names the field.
async function refused(opts, field) {
  await assert.rejects(create(template, opts), (err) => {
    assert.ok(err instanceof SandboxError, `${err}`);
    assert.equal(err.statusCode, 400, `${err}`);
    assert.match(err.message, new RegExp(field), `${err}`);
    return true;
  });
}

// envd's /health on the data plane as the SDK addresses it; null where
// this tree has no /health route (it is the files part's).
async function health(id, token) {
  const r = await fetch(`${apiUrl}/health`, {
    headers: { 'E2b-Sandbox-Id': id, 'E2b-Sandbox-Port': '49983', 'X-Access-Token': token },
  });
  const body = await r.text();
  if (r.status === 404 && /no such endpoint/.test(body)) return null;
  return r.status;
}

test('create with the default template ("base"): getInfo, isRunning, setTimeout, kill true then false', async () => {
  const before = Date.now();
  const sbx = await create({ timeoutMs: 120_000, metadata: { run: RUN, test: 'info' } });
  assert.match(sbx.sandboxId, /^sb-[a-z0-9]{12}$/);
  const info = await sbx.getInfo();
  assert.equal(info.sandboxId, sbx.sandboxId);
  assert.equal(info.templateId, 'code-interpreter'); // "base" is the host's default template
  assert.deepEqual(info.metadata, { run: RUN, test: 'info' });
  assert.equal(info.state, 'running');
  assert.equal(info.envdVersion, '0.5.2');
  assert.equal(info.lifecycle.onTimeout, 'kill');
  assert.equal(info.allowInternetAccess, true);
  assert.ok(info.cpuCount >= 1 && info.memoryMB >= 64, JSON.stringify(info));
  assert.ok(info.startedAt.getTime() >= before - 2000, `${info.startedAt}`);
  const end = info.endAt.getTime() - info.startedAt.getTime();
  assert.ok(end > 100_000 && end <= 121_000, `endAt ${info.endAt} startedAt ${info.startedAt}`);
  if (await health(sbx.sandboxId, sbx.envdAccessToken) !== null) {
    assert.equal(await sbx.isRunning(), true);
  }

  await sbx.setTimeout(600_000);
  const later = await sbx.getInfo();
  assert.ok(later.endAt.getTime() - Date.now() > 500_000, `endAt ${later.endAt}`);
  await assert.rejects(Sandbox.setTimeout(MISSING, 60_000), SandboxNotFoundError);

  assert.equal(await Sandbox.kill(sbx.sandboxId), true);
  assert.equal(await Sandbox.kill(sbx.sandboxId), false);
  assert.equal(await Sandbox.kill(MISSING), false);
  await assert.rejects(Sandbox.getInfo(sbx.sandboxId), SandboxNotFoundError);
  if (await health(sbx.sandboxId, sbx.envdAccessToken) !== null) {
    assert.equal(await sbx.isRunning(), false);
  }
});

test('create with an explicit thaw template name and E2B\'s code-interpreter alias', async () => {
  for (const name of ['code-interpreter', 'code-interpreter-v1']) {
    const sbx = await create(name, { timeoutMs: 120_000 });
    assert.equal((await sbx.getInfo()).templateId, 'code-interpreter');
    await sbx.kill();
    assert.equal(await Sandbox.kill(sbx.sandboxId), false, 'instance kill() killed it');
  }
});

test('list: the key\'s sandboxes by metadata and state, in pages', async () => {
  const mine = [];
  for (let i = 0; i < 3; i++) {
    mine.push((await create({ timeoutMs: 300_000, metadata: { run: RUN, test: 'list', i: `${i}` } })).sandboxId);
  }
  const query = { metadata: { run: RUN, test: 'list' } };
  const one = await listAll({ query });
  assert.equal(one.length, 1);
  assert.deepEqual(one[0].map((s) => s.sandboxId).sort(), [...mine].sort());
  for (const s of one[0]) {
    assert.equal(s.state, 'running');
    assert.equal(s.templateId, 'code-interpreter');
    assert.equal(s.metadata.run, RUN);
    assert.equal(s.envdVersion, '0.5.2');
  }
  // Pages of 2: every sandbox once, in the one order (creation second,
  // then id), then no more.
  const paged = await listAll({ query, limit: 2 });
  assert.deepEqual(paged.map((p) => p.length), [2, 1]);
  assert.deepEqual(paged.flat().map((s) => s.sandboxId), one[0].map((s) => s.sandboxId));
  const desc = await listAll({ query, limit: 2, order: 'desc' });
  assert.deepEqual(desc.flat().map((s) => s.sandboxId), one[0].map((s) => s.sandboxId).reverse());
  // A metadata value matches whole; an encoded key and value round-trip.
  assert.equal((await listAll({ query: { metadata: { run: RUN, i: '1' } } }))[0].length, 1);
  assert.equal((await listAll({ query: { metadata: { run: `${RUN}x` } } }))[0].length, 0);
  assert.equal((await listAll({ query: { metadata: { run: RUN, 'a b&c=': 'x' } } }))[0].length, 0);
  // None of them is paused.
  assert.equal((await listAll({ query: { ...query, state: ['paused'] } }))[0].length, 0);
  for (const id of mine) assert.equal(await Sandbox.kill(id), true);
  assert.equal((await listAll({ query }))[0].length, 0);
});

test('pause, then connect resumes it; a second pause is false', async () => {
  const sbx = await create({ timeoutMs: 300_000, metadata: { run: RUN, test: 'pause' } });
  assert.equal(await sbx.pause(), true);
  assert.equal(await sbx.pause(), false);
  assert.equal((await sbx.getInfo()).state, 'paused');
  const paused = await listAll({ query: { metadata: { run: RUN, test: 'pause' }, state: ['paused'] } });
  assert.deepEqual(paused[0].map((s) => s.sandboxId), [sbx.sandboxId]);
  await assert.rejects(Sandbox.connect(sbx.sandboxId, { onResume: 'reboot' }), (err) => {
    assert.equal(err.statusCode, 400, `${err}`);
    assert.match(err.message, /memory/);
    return true;
  });
  await assert.rejects(sbx.pause({ keepMemory: false }), /memory/);
  const again = await Sandbox.connect(sbx.sandboxId, { timeoutMs: 200_000 });
  assert.equal(again.sandboxId, sbx.sandboxId);
  const info = await again.getInfo();
  assert.equal(info.state, 'running');
  assert.ok(info.endAt.getTime() - Date.now() > 150_000, `endAt ${info.endAt}`);
  // Connecting to a running sandbox leaves it running.
  await Sandbox.connect(sbx.sandboxId);
  assert.equal((await sbx.getInfo()).state, 'running');
  await assert.rejects(Sandbox.connect(MISSING), SandboxNotFoundError);
});

test('fork: children of a running sandbox, with their own tokens', async () => {
  const sbx = await create({ timeoutMs: 300_000, metadata: { run: RUN, test: 'fork' } });
  const forks = await sbx.fork({ count: 2, timeoutMs: 120_000 });
  assert.equal(forks.length, 2);
  for (const f of forks) {
    assert.ok(f instanceof Sandbox, `${f}`);
    created.push(f.sandboxId);
    assert.notEqual(f.sandboxId, sbx.sandboxId);
    assert.notEqual(f.envdAccessToken, sbx.envdAccessToken);
    const info = await f.getInfo();
    assert.equal(info.state, 'running');
    assert.deepEqual(info.metadata, { run: RUN, test: 'fork' });
    assert.ok(info.endAt.getTime() - Date.now() < 125_000, `endAt ${info.endAt}`);
  }
  assert.equal((await sbx.getInfo()).state, 'running');
  await assert.rejects(Sandbox.fork(MISSING), SandboxNotFoundError);
});

test('snapshots: a running sandbox\'s snapshot starts new sandboxes, is listed, and is deleted', async () => {
  const sbx = await create({ timeoutMs: 300_000, metadata: { run: RUN, test: 'snapshot' } });
  const snap = await sbx.createSnapshot();
  assert.match(snap.snapshotId, /^snap-[a-z0-9]{12}$/);
  assert.deepEqual(snap.names, [snap.snapshotId]);
  assert.equal((await sbx.getInfo()).state, 'running');
  const child = await create(snap.snapshotId, { timeoutMs: 120_000 });
  assert.equal((await child.getInfo()).templateId, snap.snapshotId);
  const listed = await Sandbox.listSnapshots({ sandboxId: sbx.sandboxId }).nextItems();
  assert.deepEqual(listed.map((x) => x.snapshotId), [snap.snapshotId]);
  assert.equal((await Sandbox.listSnapshots({ sandboxId: MISSING }).nextItems()).length, 0);
  await assert.rejects(sbx.createSnapshot({ name: 'Not A Name' }), (err) => err.statusCode === 400);
  assert.equal(await Sandbox.kill(child.sandboxId), true);
  assert.equal(await Sandbox.deleteSnapshot(snap.snapshotId), true);
  assert.equal(await Sandbox.deleteSnapshot(snap.snapshotId), false);
  await assert.rejects(Sandbox.create(snap.snapshotId), (err) => err.statusCode === 400);
});

test('metrics: the usage history the host sampled, oldest first', async () => {
  const sbx = await create({ timeoutMs: 120_000 });
  // At least one point at once (measured now if the sampler has not come
  // by yet), then more as the sampler (every second in the tests) goes on.
  const m = await sbx.getMetrics();
  assert.ok(m.length >= 1, JSON.stringify(m));
  const last = m[m.length - 1];
  assert.ok(Math.abs(last.timestamp.getTime() - Date.now()) < 60_000, `${last.timestamp}`);
  assert.ok(last.cpuCount >= 1);
  assert.ok(last.diskTotal > 0 && last.diskUsed >= 0, JSON.stringify(last));
  let more = m;
  for (let i = 0; i < 50 && more.length < 3; i++) {
    await new Promise((r) => setTimeout(r, 200));
    more = await sbx.getMetrics();
  }
  assert.ok(more.length >= 3, JSON.stringify(more));
  for (let i = 1; i < more.length; i++)
    assert.ok(more[i].timestamp >= more[i - 1].timestamp, JSON.stringify(more));
  assert.ok(more.every((p) => p.cpuUsedPct >= 0 && p.cpuUsedPct <= 100 && p.memUsed > 0),
    JSON.stringify(more));
  // A window that ended before the sandbox existed holds no point.
  assert.deepEqual(await sbx.getMetrics({ start: new Date(Date.now() - 3600_000), end: new Date(Date.now() - 1800_000) }), []);
});

test('network: no internet and an IP allow list are the sandbox\'s policy', async () => {
  const sbx = await create({ timeoutMs: 120_000, allowInternetAccess: false,
    network: { allowOut: ['1.1.1.1'], denyOut: ['8.8.8.0/24'] } });
  const info = await sbx.getInfo();
  assert.equal(info.allowInternetAccess, false);
  assert.deepEqual(info.network.allowOut, ['1.1.1.1/32']);
  assert.deepEqual(info.network.denyOut, ['8.8.8.0/24']);
});

test('what thaw cannot honour is refused, naming the field', async () => {
  await refused({ network: { allowOut: ['example.com'] } }, 'network.allowOut\\[0\\]');
  await refused({ network: { egressProxy: { address: 'http://proxy:3128' } } }, 'egressProxy');
  await refused({ volumeMounts: { '/data': 'vol' } }, 'volumeMounts');
  await refused({ mcp: { exa: { apiKey: 'x' } } }, 'mcp');
  await refused({ lifecycle: { onTimeout: { action: 'pause', keepMemory: false } } }, 'autoPauseMemory');
  await assert.rejects(Sandbox.create('no-such-template-here'), (err) => {
    assert.equal(err.statusCode, 400, `${err}`);
    assert.match(err.message, /templateID/);
    return true;
  });
});

test('an access token opens its own sandbox only', async () => {
  const a = await create({ timeoutMs: 120_000 });
  const b = await create({ timeoutMs: 120_000 });
  assert.match(a.envdAccessToken, /^[0-9a-f]{64}$/);
  assert.notEqual(a.envdAccessToken, b.envdAccessToken);
  // A token is no API key: the control plane refuses it.
  const asToken = { 'E2b-Sandbox-Id': a.sandboxId, 'X-Access-Token': a.envdAccessToken };
  const kill = await fetch(`${apiUrl}/sandboxes/${a.sandboxId}`, { method: 'DELETE', headers: asToken });
  assert.equal(kill.status, 401);
  assert.equal((await kill.json()).code, 401);
  assert.equal((await fetch(`${apiUrl}/v2/sandboxes`, { headers: asToken })).status, 401);
  assert.equal((await a.getInfo()).state, 'running');
  const ok = await health(a.sandboxId, a.envdAccessToken);
  if (ok === null) return; // no data-plane route in this tree yet (/health is the files part's)
  assert.ok(ok < 300, `own token: ${ok}`);
  assert.equal(await health(a.sandboxId, b.envdAccessToken), 401);
  assert.equal(await health(b.sandboxId, a.envdAccessToken), 401);
  assert.equal(await health(a.sandboxId, 'f'.repeat(64)), 401);
  assert.equal(await health(MISSING, a.envdAccessToken), 401);
  // The API key is no data-plane token.
  assert.equal(await health(a.sandboxId, process.env.THAW_E2B_KEY), 401);
});

test('a wrong API key is the SDK\'s AuthenticationError', async () => {
  await assert.rejects(Sandbox.create(template, { apiKey: 'e2b_0123456789abcdef' }),
    AuthenticationError);
  await assert.rejects(Sandbox.kill(MISSING, { apiKey: 'e2b_00' }), AuthenticationError);
  await assert.rejects(Sandbox.list({ apiKey: 'e2b_00' }).nextItems(), AuthenticationError);
});

test('unknown routes and methods answer in E2B\'s error shape', async () => {
  const r = await fetch(`${apiUrl}/no/such/route`, { headers: { 'X-API-KEY': 'wrong' } });
  assert.equal(r.status, 404);
  const body = await r.json();
  assert.equal(body.code, 404);
  assert.equal(typeof body.message, 'string');
  const m = await fetch(`${apiUrl}/v2/sandboxes`, { method: 'PATCH' });
  assert.equal(m.status, 405);
  assert.equal((await m.json()).code, 405);
  const u = await fetch(`${apiUrl}/sandboxes/${MISSING}`, { method: 'DELETE' });
  assert.equal(u.status, 401);
  assert.equal((await u.json()).code, 401);
  const q = await fetch(`${apiUrl}/v2/sandboxes?bogus=1`, { headers: { 'X-API-KEY': process.env.THAW_E2B_KEY } });
  assert.equal(q.status, 400);
  assert.match((await q.json()).message, /bogus/);
});
