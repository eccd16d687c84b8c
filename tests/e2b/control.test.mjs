// The control plane through the unmodified SDK: create (E2B's default
// template name and an explicit one), kill (true, then false), and what
// thaw refuses by name instead of ignoring.
import { after, test } from 'node:test';
import { Sandbox, AuthenticationError, SandboxError } from 'e2b';
import { assert, apiUrl, template } from './lib.mjs';

const created = [];
after(async () => {
  for (const id of created) await Sandbox.kill(id).catch(() => {});
});

async function create(...args) {
  const sbx = await Sandbox.create(...args);
  created.push(sbx.sandboxId);
  return sbx;
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

test('create with the default template ("base") and kill: true, then false', async () => {
  const sbx = await create({ timeoutMs: 120_000 });
  assert.match(sbx.sandboxId, /^sb-[a-z0-9]{12}$/);
  assert.equal(await Sandbox.kill(sbx.sandboxId), true);
  assert.equal(await Sandbox.kill(sbx.sandboxId), false);
  assert.equal(await Sandbox.kill('sb-000000000000'), false);
});

test('create with an explicit thaw template name and E2B\'s code-interpreter alias', async () => {
  for (const name of ['code-interpreter', 'code-interpreter-v1']) {
    const sbx = await create(name, { timeoutMs: 120_000, metadata: { who: 'control' } });
    assert.match(sbx.sandboxId, /^sb-/);
    await sbx.kill();
    assert.equal(await Sandbox.kill(sbx.sandboxId), false, 'instance kill() killed it');
  }
});

test('an unknown template is a 400 naming templateID', async () => {
  await assert.rejects(Sandbox.create('no-such-template-here'), (err) => {
    assert.equal(err.statusCode, 400, `${err}`);
    assert.match(err.message, /templateID/);
    return true;
  });
});

test('what thaw cannot honour is refused, naming the field', async () => {
  await refused({ network: { allowOut: ['example.com'] } }, 'network.allowOut\\[0\\]');
  await refused({ volumeMounts: { '/data': 'vol' } }, 'volumeMounts');
  await refused({ mcp: { exa: { apiKey: 'x' } } }, 'mcp');
});

test('a wrong API key is the SDK\'s AuthenticationError', async () => {
  await assert.rejects(Sandbox.create(template, { apiKey: 'e2b_0123456789abcdef' }),
    AuthenticationError);
  await assert.rejects(Sandbox.kill('sb-000000000000', { apiKey: 'e2b_00' }), AuthenticationError);
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
  const u = await fetch(`${apiUrl}/sandboxes/sb-000000000000`, { method: 'DELETE' });
  assert.equal(u.status, 401);
  assert.equal((await u.json()).code, 401);
});
