// The E2B file area through the unmodified SDK: envd's Filesystem
// service (Connect), REST /files (multipart), signed URLs and /health,
// against a real thaw guest. One sandbox serves every scenario (guests
// are slow to start under TCG); the last one kills it and checks /health.
import { describe, test, before, after } from 'node:test';
import { createHash, randomBytes } from 'node:crypto';
import { Sandbox, FileNotFoundError, NotFoundError, FileType } from 'e2b';
import { assert, apiUrl, template } from './lib.mjs';

let sbx;

before(async () => {
  sbx = await Sandbox.create(template, { timeoutMs: 600_000 });
});
after(async () => {
  await sbx?.kill().catch(() => {});
});

// A Connect call made by hand, for input the SDK would not send.
async function rpc(method, body, headers = {}) {
  const res = await fetch(`${apiUrl}/filesystem.Filesystem/${method}`, {
    method: 'POST',
    headers: {
      'Content-Type': 'application/json',
      'Connect-Protocol-Version': '1',
      'E2b-Sandbox-Id': sbx.sandboxId,
      'E2b-Sandbox-Port': '49983',
      'X-Access-Token': sbx.envdAccessToken,
      ...headers,
    },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: await res.json() };
}

const sha = (b) => createHash('sha256').update(b).digest('hex');

describe('files', () => {
  test('write and read text, bytes and a few MiB', async () => {
    const info = await sbx.files.write('/tmp/t/hello.txt', 'héllo\n');
    assert.deepEqual({ name: info.name, type: info.type, path: info.path },
      { name: 'hello.txt', type: 'file', path: '/tmp/t/hello.txt' });
    assert.equal(await sbx.files.read('/tmp/t/hello.txt'), 'héllo\n');

    const all = Uint8Array.from({ length: 256 }, (_, i) => i);
    await sbx.files.write('/tmp/t/bytes.bin', all);
    assert.deepEqual(await sbx.files.read('/tmp/t/bytes.bin', { format: 'bytes' }), all);

    await sbx.files.write('/tmp/t/empty', '');
    assert.equal(await sbx.files.read('/tmp/t/empty'), '');

    const big = randomBytes(3 * 1024 * 1024 + 17);
    await sbx.files.write('/tmp/t/big.bin', new Blob([big]));
    const back = await sbx.files.read('/tmp/t/big.bin', { format: 'bytes' });
    assert.equal(back.length, big.length);
    assert.equal(sha(back), sha(big));
    assert.equal((await sbx.files.getInfo('/tmp/t/big.bin')).size, big.length);
  });

  test('batch write of several files', async () => {
    const out = await sbx.files.write([
      { path: '/tmp/batch/a.txt', data: 'A' },
      { path: '/tmp/batch/sub/b.txt', data: 'BB' },
      { path: '/tmp/batch/c.bin', data: new Uint8Array([0, 1, 2]) },
    ]);
    assert.deepEqual(out.map((f) => f.path),
      ['/tmp/batch/a.txt', '/tmp/batch/sub/b.txt', '/tmp/batch/c.bin']);
    assert.ok(out.every((f) => f.type === 'file'));
    assert.equal(await sbx.files.read('/tmp/batch/sub/b.txt'), 'BB');
    assert.deepEqual(await sbx.files.read('/tmp/batch/c.bin', { format: 'bytes' }),
      new Uint8Array([0, 1, 2]));
  });

  test('list at depth 1 and 2, getInfo, exists', async () => {
    await sbx.files.write('/tmp/l/d/inner.txt', 'inner');
    await sbx.files.write('/tmp/l/top.txt', '12345');
    const one = await sbx.files.list('/tmp/l');
    assert.deepEqual(one.map((e) => [e.name, e.type, e.path]), [
      ['d', FileType.DIR, '/tmp/l/d'],
      ['top.txt', FileType.FILE, '/tmp/l/top.txt'],
    ]);
    const two = await sbx.files.list('/tmp/l', { depth: 2 });
    assert.deepEqual(two.map((e) => e.path).sort(),
      ['/tmp/l/d', '/tmp/l/d/inner.txt', '/tmp/l/top.txt']);
    assert.equal(two.find((e) => e.path === '/tmp/l/d/inner.txt').name, 'inner.txt');

    const f = await sbx.files.getInfo('/tmp/l/top.txt');
    assert.equal(f.name, 'top.txt');
    assert.equal(f.type, FileType.FILE);
    assert.equal(f.size, 5);
    assert.equal(f.mode, 0o644);
    assert.equal(f.permissions, '-rw-r--r--');
    assert.equal(f.owner, 'user'); // written as the default user
    assert.equal(f.group, 'user');
    assert.ok(f.modifiedTime instanceof Date);
    assert.ok(Math.abs(f.modifiedTime.getTime() - Date.now()) < 600_000, `${f.modifiedTime}`);
    const d = await sbx.files.getInfo('/tmp/l/d');
    assert.equal(d.type, FileType.DIR);
    assert.match(d.permissions, /^drwx/);

    assert.equal(await sbx.files.exists('/tmp/l/top.txt'), true);
    assert.equal(await sbx.files.exists('/tmp/l/nope'), false);
  });

  test('remove, rename, makeDir', async () => {
    await sbx.files.write('/tmp/r/x.txt', 'x');
    const moved = await sbx.files.rename('/tmp/r/x.txt', '/tmp/r/y.txt');
    assert.equal(moved.path, '/tmp/r/y.txt');
    assert.equal(moved.name, 'y.txt');
    assert.equal(await sbx.files.exists('/tmp/r/x.txt'), false);
    assert.equal(await sbx.files.read('/tmp/r/y.txt'), 'x');
    await assert.rejects(sbx.files.rename('/tmp/r/none', '/tmp/r/z'), NotFoundError);

    await sbx.files.remove('/tmp/r');
    assert.equal(await sbx.files.exists('/tmp/r'), false);
    await assert.rejects(sbx.files.remove('/tmp/r'), NotFoundError);

    assert.equal(await sbx.files.makeDir('/tmp/mk/a/b'), true);
    assert.equal(await sbx.files.makeDir('/tmp/mk/a/b'), false);
    assert.equal((await sbx.files.getInfo('/tmp/mk/a/b')).type, FileType.DIR);
  });

  test('a missing file raises NotFoundError', async () => {
    const err = await sbx.files.read('/tmp/no/such/file').catch((e) => e);
    assert.ok(err instanceof FileNotFoundError, String(err));
    assert.ok(err instanceof NotFoundError);
    await assert.rejects(sbx.files.getInfo('/tmp/no/such'), NotFoundError);
    await assert.rejects(sbx.files.list('/tmp/no/such'), NotFoundError);
  });

  test('relative paths and the user', async () => {
    const mine = await sbx.files.write('rel.txt', 'mine');
    assert.equal(mine.path, '/home/user/rel.txt');
    assert.equal(await sbx.files.read('/home/user/rel.txt'), 'mine');
    assert.equal((await sbx.files.getInfo('rel.txt')).owner, 'user');
    const roots = await sbx.files.write('rel.txt', 'root', { user: 'root' });
    assert.equal(roots.path, '/root/rel.txt');
    const info = await sbx.files.getInfo('~/rel.txt', { user: 'root' });
    assert.equal(info.path, '/root/rel.txt');
    assert.equal(info.owner, 'root');
    assert.equal(await sbx.files.read('rel.txt', { user: 'root' }), 'root');
    const names = (await sbx.files.list('.')).map((e) => e.name);
    assert.ok(names.includes('rel.txt'), names.join(','));
    // the directories a call makes are its user's; those already there keep theirs
    assert.equal(await sbx.files.makeDir('/tmp/own/a/b'), true);
    for (const d of ['/tmp/own', '/tmp/own/a', '/tmp/own/a/b']) {
      assert.equal((await sbx.files.getInfo(d)).owner, 'user', d);
    }
    assert.equal((await sbx.files.getInfo('/tmp')).owner, 'root');
    await sbx.files.write('/tmp/wown/d/f.txt', 'f');
    assert.equal((await sbx.files.getInfo('/tmp/wown/d')).owner, 'user');
    assert.equal((await sbx.files.getInfo('/tmp/wown/d/f.txt')).owner, 'user');
    await sbx.files.makeDir('/tmp/rootown/x', { user: 'root' });
    assert.equal((await sbx.files.getInfo('/tmp/rootown')).owner, 'root');
    // a user the guest does not have
    await assert.rejects(sbx.files.write('x.txt', 'x', { user: 'nobody-here' }), /nobody-here/);
  });

  test('watchDir sees a create, a write and a remove', async () => {
    await sbx.files.makeDir('/tmp/w');
    const seen = [];
    const handle = await sbx.files.watchDir('/tmp/w', (e) => seen.push(`${e.type} ${e.name}`));
    try {
      await sbx.files.write('/tmp/w/f.txt', 'one');
      await sbx.files.remove('/tmp/w/f.txt');
      const want = ['create f.txt', 'write f.txt', 'remove f.txt'];
      for (let i = 0; i < 100 && !want.every((w) => seen.includes(w)); i++) {
        await new Promise((r) => setTimeout(r, 100));
      }
      for (const w of want) assert.ok(seen.includes(w), `${w} not in ${seen.join(', ')}`);
    } finally {
      await handle.stop();
    }
    await assert.rejects(sbx.files.watchDir('/tmp/no/such', () => {}), NotFoundError);

    // recursive: names below the watched directory, relative to it
    await sbx.files.makeDir('/tmp/wr/sub');
    const deep = [];
    const rh = await sbx.files.watchDir('/tmp/wr', (e) => deep.push(`${e.type} ${e.name}`),
      { recursive: true });
    try {
      await sbx.files.write('/tmp/wr/sub/g.txt', 'g');
      for (let i = 0; i < 100 && !deep.includes('write sub/g.txt'); i++) {
        await new Promise((r) => setTimeout(r, 100));
      }
      assert.ok(deep.includes('create sub/g.txt') && deep.includes('write sub/g.txt'),
        deep.join(', '));
    } finally {
      await rh.stop();
    }
  });

  test('polled watchers (the Python sync SDK\'s): create, poll, remove', async () => {
    await sbx.files.makeDir('/tmp/pw');
    let r = await rpc('CreateWatcher', { path: '/tmp/pw', recursive: false });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    const id = r.body.watcherId;
    assert.match(id, /^[0-9a-f]{32}$/);
    await sbx.files.write('/tmp/pw/a.txt', 'a');
    await sbx.files.rename('/tmp/pw/a.txt', '/tmp/pw/b.txt');
    const seen = [];
    for (let i = 0; i < 50 && !seen.includes('EVENT_TYPE_CREATE b.txt'); i++) {
      r = await rpc('GetWatcherEvents', { watcherId: id });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      seen.push(...r.body.events.map((e) => `${e.type} ${e.name}`));
      await new Promise((res) => setTimeout(res, 100));
    }
    assert.deepEqual(seen, ['EVENT_TYPE_CREATE a.txt', 'EVENT_TYPE_WRITE a.txt',
      'EVENT_TYPE_RENAME a.txt', 'EVENT_TYPE_CREATE b.txt']);
    // an id this sandbox was not given
    r = await rpc('GetWatcherEvents', { watcherId: id.replace(/.$/, (c) => (c === '0' ? '1' : '0')) });
    assert.equal(r.body.code, 'not_found');
    r = await rpc('RemoveWatcher', { watcherId: id });
    assert.equal(r.status, 200);
    r = await rpc('GetWatcherEvents', { watcherId: id });
    assert.equal(r.body.code, 'not_found');
    r = await rpc('CreateWatcher', { path: '/tmp/pw/b.txt' });
    assert.equal(r.body.code, 'invalid_argument');
    r = await rpc('CreateWatcher', { path: '/tmp/none' });
    assert.equal(r.body.code, 'not_found');
  });

  test('the watch stream on the wire: envelopes, keepalives, its end', async () => {
    await sbx.files.makeDir('/tmp/wk');
    const frames = async (path, ms) => {
      const body = Buffer.from(JSON.stringify({ path }));
      const env = Buffer.concat([Buffer.from([0, 0, 0, 0, body.length]), body]);
      const ac = new AbortController();
      const res = await fetch(`${apiUrl}/filesystem.Filesystem/WatchDir`, {
        method: 'POST', signal: ac.signal, body: env,
        headers: {
          'Content-Type': 'application/connect+json', 'Connect-Protocol-Version': '1',
          'Keepalive-Ping-Interval': '1', 'E2b-Sandbox-Id': sbx.sandboxId,
          'E2b-Sandbox-Port': '49983', 'X-Access-Token': sbx.envdAccessToken,
        },
      });
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('content-type'), 'application/connect+json');
      const timer = setTimeout(() => ac.abort(), ms);
      let buf = Buffer.alloc(0);
      try {
        for await (const chunk of res.body) buf = Buffer.concat([buf, chunk]);
      } catch { /* aborted */ }
      clearTimeout(timer);
      const out = [];
      for (let i = 0; i + 5 <= buf.length;) {
        const n = buf.readUInt32BE(i + 1);
        out.push({ flags: buf[i], msg: JSON.parse(buf.subarray(i + 5, i + 5 + n)) });
        i += 5 + n;
      }
      return out;
    };
    const live = await frames('/tmp/wk', 2600);
    assert.deepEqual(live[0], { flags: 0, msg: { start: {} } });
    assert.ok(live.filter((f) => f.msg.keepalive).length >= 2, JSON.stringify(live));
    // a file is no directory: the stream ends at once with the error
    await sbx.files.write('/tmp/wk/file', 'x');
    const refused = await frames('/tmp/wk/file', 5000);
    assert.equal(refused.length, 1);
    assert.equal(refused[0].flags, 2);
    assert.equal(refused[0].msg.error.code, 'invalid_argument');
  });

  test('signed URLs: plain fetch reads and writes; tampered and expired refused', async () => {
    const up = await sbx.uploadUrl('/tmp/s/up.txt');
    assert.ok(new URL(up).searchParams.get('signature').startsWith('v1_'));
    const form = new FormData();
    form.append('file', new Blob(['signed bytes']), 'up.txt');
    let res = await fetch(up, { method: 'POST', body: form });
    assert.equal(res.status, 200, await res.clone().text());
    assert.deepEqual((await res.json()).map((f) => f.path), ['/tmp/s/up.txt']);

    const down = await sbx.downloadUrl('/tmp/s/up.txt');
    res = await fetch(down);
    assert.equal(res.status, 200);
    assert.equal(await res.text(), 'signed bytes');

    // another path under the same signature
    const moved = new URL(down);
    moved.searchParams.set('path', '/etc/shadow');
    res = await fetch(moved);
    assert.equal(res.status, 401);
    // a read signature does not write
    const asWrite = new URL(down);
    res = await fetch(asWrite, { method: 'POST', body: form });
    assert.equal(res.status, 401);
    // a changed signature
    const bent = new URL(down);
    const sig = bent.searchParams.get('signature');
    bent.searchParams.set('signature', sig.slice(0, -1) + (sig.endsWith('A') ? 'B' : 'A'));
    res = await fetch(bent);
    assert.equal(res.status, 401);
    // no path signed: the part's filename is the path; a user's URL writes as that user
    const anyPath = await sbx.uploadUrl(undefined, { user: 'root' });
    assert.equal(new URL(anyPath).searchParams.get('username'), 'root');
    const form2 = new FormData();
    form2.append('file', new Blob(['rooted']), 'signed-rel.txt');
    res = await fetch(anyPath, { method: 'POST', body: form2 });
    assert.equal(res.status, 200, await res.clone().text());
    assert.deepEqual((await res.json()).map((f) => f.path), ['/root/signed-rel.txt']);
    assert.equal((await sbx.files.getInfo('/root/signed-rel.txt')).owner, 'root');
    res = await fetch(await sbx.downloadUrl('signed-rel.txt', { user: 'root' }));
    assert.equal(await res.text(), 'rooted');
    // the same URL with its user changed
    const other = new URL(await sbx.downloadUrl('signed-rel.txt', { user: 'root' }));
    other.searchParams.set('username', 'user');
    assert.equal((await fetch(other)).status, 401);
    // expiry: one second, then past it
    const soon = await sbx.downloadUrl('/tmp/s/up.txt', { useSignatureExpiration: 1 });
    res = await fetch(soon);
    assert.equal(res.status, 200);
    await res.arrayBuffer();
    await new Promise((r) => setTimeout(r, 2100));
    res = await fetch(soon);
    assert.equal(res.status, 401);
    const body = await res.json();
    assert.equal(body.code, 401);
    assert.match(body.message, /expired/);
  });

  test('bad input is invalid_argument', async () => {
    let r = await rpc('ListDir', { path: '/tmp', depth: 99 });
    assert.equal(r.body.code, 'invalid_argument');
    r = await rpc('ListDir', { path: '/tmp', depth: -1 });
    assert.equal(r.body.code, 'invalid_argument');
    r = await rpc('Stat', { path: '/tmp/a\u0000b' });
    assert.equal(r.body.code, 'invalid_argument');
    r = await rpc('Stat', { path: '/' + 'a'.repeat(5000) });
    assert.equal(r.body.code, 'invalid_argument');
    r = await rpc('Stat', { path: '/tmp', extra: 1 });
    assert.equal(r.body.code, 'invalid_argument');
    r = await rpc('Stat', { path: '/tmp' }, { Authorization: 'Basic Li4vZXRjOg==' });
    assert.equal(r.body.code, 'invalid_argument');
    r = await rpc('CreateWatcher', { path: '/tmp', includeEntry: true });
    assert.equal(r.body.code, 'invalid_argument');
    r = await rpc('GetWatcherEvents', { watcherId: 'nope' });
    assert.equal(r.body.code, 'not_found');
    // a wrong access token
    r = await rpc('Stat', { path: '/tmp' }, { 'X-Access-Token': 'f'.repeat(64) });
    assert.notEqual(r.status, 200);
  });

  test('REST /files: octet-stream upload, refused bodies', async () => {
    const hdrs = {
      'E2b-Sandbox-Id': sbx.sandboxId, 'E2b-Sandbox-Port': '49983',
      'X-Access-Token': sbx.envdAccessToken,
    };
    const url = (q) => `${apiUrl}/files?${new URLSearchParams(q)}`;
    let res = await fetch(url({ path: 'oct.bin' }), {
      method: 'POST', body: new Uint8Array([7, 8, 9]),
      headers: { ...hdrs, 'Content-Type': 'application/octet-stream' },
    });
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), [{ name: 'oct.bin', type: 'file', path: '/home/user/oct.bin' }]);
    assert.deepEqual(await sbx.files.read('/home/user/oct.bin', { format: 'bytes' }),
      new Uint8Array([7, 8, 9]));
    const refused = async (q, init, status, re) => {
      const r = await fetch(url(q), { method: 'POST', ...init, headers: { ...hdrs, ...init.headers } });
      const body = await r.json();
      assert.equal(r.status, status, JSON.stringify(body));
      assert.equal(body.code, status);
      assert.match(body.message, re);
    };
    await refused({ path: '/tmp/g' }, { body: 'x', headers: { 'Content-Type': 'application/octet-stream', 'Content-Encoding': 'gzip' } }, 400, /Content-Encoding/);
    await refused({ path: '/tmp/g' }, { body: 'x', headers: { 'Content-Type': 'text/plain' } }, 400, /Content-Type/);
    await refused({}, { body: 'x', headers: { 'Content-Type': 'application/octet-stream' } }, 400, /path/);
    let form = new FormData();
    form.append('other', new Blob(['x']), '/tmp/o');
    await refused({}, { body: form }, 400, /named "file"/);
    form = new FormData();
    form.append('file', new Blob(['a']), '/tmp/p1');
    form.append('file', new Blob(['b']), '/tmp/p2');
    await refused({ path: '/tmp/one' }, { body: form }, 400, /one file/);
    await refused({ path: '/tmp/g' }, { body: '--x\r\nbroken', headers: { 'Content-Type': 'multipart/form-data; boundary=x' } }, 400, /multipart/);
    await refused({ path: '/tmp/g', username: '../etc' }, { body: 'x', headers: { 'Content-Type': 'application/octet-stream' } }, 400, /user/);
    res = await fetch(`${apiUrl}/files?path=/tmp/a%00b`, { headers: hdrs });
    assert.equal(res.status, 400);
    assert.match((await res.json()).message, /path/);
    res = await fetch(url({ path: '/' + 'a'.repeat(5000) }), { headers: hdrs });
    assert.equal(res.status, 400);
    assert.equal((await res.json()).code, 400);
    // GET of a directory, and of nothing
    res = await fetch(url({ path: '/tmp' }), { headers: hdrs });
    assert.equal(res.status, 400);
    res = await fetch(url({ path: '/tmp/none' }), { headers: hdrs });
    assert.equal(res.status, 404);
    assert.equal((await res.json()).code, 404);
  });

  test('health: running, then 502 once killed', async () => {
    assert.equal(await sbx.isRunning(), true);
    await sbx.kill();
    assert.equal(await sbx.isRunning(), false);
    sbx = undefined;
  });
});
