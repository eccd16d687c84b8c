// The code interpreter (port 49999) through the unmodified
// @e2b/code-interpreter SDK: runCode's NDJSON answer (text, logs and their
// callbacks, charts, DataFrames, errors), state and per-call envs, code
// contexts, and what thaw refuses (languages other than python).
// One sandbox for the file: a create is seconds under TCG.
import { after, before, describe, test } from 'node:test';
import { Sandbox, NotFoundError, SandboxError } from '@e2b/code-interpreter';
import { assert } from './lib.mjs';

const PNG_MAGIC = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
// The answer starts at once; the cell may take long under TCG.
const SLOW = { timeoutMs: 180_000 };
// For calls that must be refused: runCode leaves its request timer
// running when it throws, which would hold node open for its length.
const REFUSED = { requestTimeoutMs: 0 };

describe('code interpreter', () => {
  let sbx;
  before(async () => {
    // No template: the SDK asks for its default, code-interpreter-v1.
    sbx = await Sandbox.create({ timeoutMs: 600_000 });
  });
  after(async () => {
    await sbx?.kill().catch(() => {});
  });

  test('runCode gives the value of the last expression', async () => {
    const ex = await sbx.runCode('1+1', SLOW);
    assert.equal(ex.text, '2');
    assert.equal(ex.results.length, 1);
    assert.equal(ex.results[0].isMainResult, true);
    assert.equal(ex.error, undefined);
    assert.deepEqual(ex.logs, { stdout: [], stderr: [] });
  });

  test('stdout and stderr reach the callbacks and execution.logs', async () => {
    const out = [];
    const err = [];
    const ex = await sbx.runCode(
      'import sys\nprint("hello")\nprint("oops", file=sys.stderr)\nprint("again")',
      { ...SLOW, onStdout: (m) => out.push(m), onStderr: (m) => err.push(m) },
    );
    assert.equal(ex.logs.stdout.join(''), 'hello\nagain\n');
    assert.equal(ex.logs.stderr.join(''), 'oops\n');
    assert.equal(out.map((m) => m.line).join(''), 'hello\nagain\n');
    assert.equal(err.map((m) => m.line).join(''), 'oops\n');
    assert.ok(out.every((m) => m.error === false && typeof m.timestamp === 'number'));
    assert.ok(err.every((m) => m.error === true));
    assert.equal(ex.text, undefined, 'print returns no value');
  });

  test('non-ASCII text survives the trip', async () => {
    const ex = await sbx.runCode("print('héllo ✓ 日本')\n'ünï'", SLOW);
    assert.equal(ex.logs.stdout.join(''), 'héllo ✓ 日本\n');
    assert.equal(ex.text, "'ünï'");
  });

  test('output streams while the cell runs', async () => {
    const seen = [];
    await sbx.runCode('import time\nprint("first", flush=True)\ntime.sleep(2)\nprint("second")', {
      ...SLOW,
      onStdout: (m) => seen.push([m.line, Date.now()]),
    });
    assert.deepEqual(seen.map(([l]) => l), ['first\n', 'second\n']);
    const gap = seen[1][1] - seen[0][1];
    assert.ok(gap >= 1500, `"first" came only ${gap} ms before "second"`);
  });

  test("the SDK's timeoutMs ends the call; the sandbox goes on", async () => {
    await assert.rejects(
      sbx.runCode('import time\ntime.sleep(4)', { ...REFUSED, timeoutMs: 1000 }),
      (e) => e.name === 'TimeoutError',
    );
    assert.equal((await sbx.runCode('6*7', SLOW)).text, '42');
  });

  test('a matplotlib chart comes back as a PNG result', async () => {
    const ex = await sbx.runCode(
      'import matplotlib.pyplot as plt\nplt.plot([1, 2, 3], [1, 4, 9])\nplt.show()',
      SLOW,
    );
    assert.equal(ex.error, undefined, JSON.stringify(ex.error));
    const figs = ex.results.filter((r) => r.png);
    assert.equal(figs.length, 1, JSON.stringify(ex.results.map((r) => r.formats())));
    const png = Buffer.from(figs[0].png, 'base64');
    assert.ok(png.subarray(0, 8).equals(PNG_MAGIC), 'a PNG signature');
    assert.ok(png.length > 2000, `${png.length} bytes`);
    assert.ok(figs[0].formats().includes('png'));
  });

  test('a pandas DataFrame comes back as HTML', async () => {
    const ex = await sbx.runCode(
      "import pandas as pd\npd.DataFrame({'a': [1, 2], 'b': ['x', 'y']})",
      SLOW,
    );
    const main = ex.results.find((r) => r.isMainResult);
    assert.ok(main, 'a main result');
    assert.match(main.html, /<table/);
    assert.match(main.text, /a\s+b/);
  });

  test('an exception becomes execution.error', async () => {
    const errors = [];
    const ex = await sbx.runCode('x = 1\n1/0', { ...SLOW, onError: (e) => errors.push(e) });
    assert.equal(ex.error.name, 'ZeroDivisionError');
    assert.equal(ex.error.value, 'division by zero');
    assert.match(ex.error.traceback, /ZeroDivisionError/);
    assert.equal(errors.length, 1);
    assert.equal(ex.results.length, 0);
  });

  test('state is kept across calls', async () => {
    await sbx.runCode('counter = 41', SLOW);
    const ex = await sbx.runCode('counter += 1\ncounter', SLOW);
    assert.equal(ex.text, '42');
  });

  test('envs hold for their call only', async () => {
    const code = 'import os\nos.environ.get("THAW_E2B_VAR", "unset")';
    const ex = await sbx.runCode(code, { ...SLOW, envs: { THAW_E2B_VAR: 'per-call' } });
    assert.equal(ex.text, "'per-call'");
    assert.equal((await sbx.runCode(code, SLOW)).text, "'unset'");
  });

  test('contexts: separate state, list, restart, remove', async () => {
    const ctx = await sbx.createCodeContext({ cwd: '/tmp' });
    assert.equal(typeof ctx.id, 'string');
    assert.equal(ctx.language, 'python');
    assert.equal(ctx.cwd, '/tmp');

    await sbx.runCode('only_here = "ctx"', { ...SLOW, context: ctx });
    assert.equal((await sbx.runCode('only_here', { ...SLOW, context: ctx })).text, "'ctx'");
    assert.equal((await sbx.runCode('import os\nos.getcwd()', { ...SLOW, context: ctx })).text,
      "'/tmp'");
    const elsewhere = await sbx.runCode('only_here', SLOW);
    assert.equal(elsewhere.error?.name, 'NameError', 'the default context does not see it');

    const ids = (await sbx.listCodeContexts()).map((c) => c.id);
    assert.ok(ids.includes(ctx.id), JSON.stringify(ids));
    assert.ok(ids.includes('default'), JSON.stringify(ids));

    await sbx.restartCodeContext(ctx);
    const fresh = await sbx.runCode('only_here', { ...SLOW, context: ctx });
    assert.equal(fresh.error?.name, 'NameError', 'a restarted context starts clean');

    await sbx.removeCodeContext(ctx.id);
    assert.ok(!(await sbx.listCodeContexts()).some((c) => c.id === ctx.id));
    await assert.rejects(sbx.runCode('1', { ...REFUSED, context: ctx }), NotFoundError);
    await assert.rejects(sbx.removeCodeContext(ctx.id), NotFoundError);
    await assert.rejects(sbx.restartCodeContext('no-such-context'), NotFoundError);
    await assert.rejects(sbx.removeCodeContext('default'), /409/);
  });

  test('languages other than python are refused with a clear error', async () => {
    for (const language of ['r', 'js']) {
      await assert.rejects(sbx.runCode('1', { ...REFUSED, language }), (e) => {
        assert.ok(e instanceof NotFoundError, `${e.name}: ${e.message}`);
        assert.match(e.message, /python only/);
        return true;
      });
    }
    assert.equal((await sbx.runCode('3*3', { ...SLOW, language: 'python' })).text, '9');
  });

  test('a context in another language is refused with a clear error', async () => {
    await assert.rejects(sbx.createCodeContext({ language: 'r' }), (e) => {
      assert.ok(e instanceof NotFoundError, `${e.name}: ${e.message}`);
      assert.match(e.message, /python only/);
      return true;
    });
  });

  test('bad envs are refused, not run', async () => {
    await assert.rejects(
      sbx.runCode('1', { ...REFUSED, envs: { '1BAD': 'x' } }),
      (e) => e instanceof SandboxError && /400/.test(e.message),
    );
  });

  // Last: it kills the file's sandbox.
  test('a sandbox killed mid-cell ends the answer with an error', async () => {
    const run = sbx.runCode('import time\nprint("started", flush=True)\ntime.sleep(60)', {
      ...SLOW,
      onStdout: async () => {
        await sbx.kill();
      },
    });
    const ex = await run;
    assert.deepEqual(ex.logs.stdout, ['started\n']);
    assert.equal(ex.error?.name, 'SandboxError', JSON.stringify(ex.error));
    assert.ok(ex.error.value.length > 0);
  });
});
