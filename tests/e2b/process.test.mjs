// envd's process.Process service on thaw, driven by the unmodified E2B SDK
// (commands, background commands, stdin, signals, re-attach, PTY), plus a
// few raw Connect calls for what the SDK does not reach (keepalives,
// Connect-Timeout-Ms, CloseStdin, refusals).
import { before, after, describe, test } from 'node:test';
import { Sandbox, CommandExitError, InvalidArgumentError, NotFoundError, SandboxError } from 'e2b';
import { assert, apiUrl, template } from './lib.mjs';

let sbx;

before(async () => {
  sbx = await Sandbox.create(template, { timeoutMs: 600_000 });
});

after(async () => {
  await sbx?.kill().catch(() => {});
});

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Polls cond until it holds or ms pass.
async function until(cond, ms, what) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await cond()) return;
    await sleep(200);
  }
  assert.fail(`timed out waiting for ${what}`);
}

// --- raw Connect, as envd's clients speak it -----------------------------

function envdHeaders(extra = {}) {
  return {
    'E2b-Sandbox-Id': sbx.sandboxId,
    'E2b-Sandbox-Port': '49983',
    'X-Access-Token': sbx.envdAccessToken,
    'Connect-Protocol-Version': '1',
    ...extra,
  };
}

async function unary(method, msg) {
  const res = await fetch(`${apiUrl}/process.Process/${method}`, {
    method: 'POST',
    headers: envdHeaders({ 'Content-Type': 'application/json' }),
    body: JSON.stringify(msg),
  });
  return { status: res.status, body: await res.json() };
}

function envelope(msg) {
  const json = Buffer.from(JSON.stringify(msg));
  const head = Buffer.alloc(5);
  head.writeUInt32BE(json.length, 1);
  return Buffer.concat([head, json]);
}

// A whole server stream: its envelopes as {flags, msg}, in order.
async function stream(method, msg, headers = {}) {
  const res = await fetch(`${apiUrl}/process.Process/${method}`, {
    method: 'POST',
    headers: envdHeaders({ 'Content-Type': 'application/connect+json', ...headers }),
    body: envelope(msg),
  });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('content-type'), 'application/connect+json');
  const buf = Buffer.from(await res.arrayBuffer());
  const out = [];
  for (let off = 0; off < buf.length; ) {
    const flags = buf[off];
    const len = buf.readUInt32BE(off + 1);
    out.push({ flags, msg: JSON.parse(buf.subarray(off + 5, off + 5 + len).toString()) });
    off += 5 + len;
  }
  return out;
}

const bash = (cmd) => ({ cmd: '/bin/bash', args: ['-l', '-c', cmd] });

// --- the SDK -------------------------------------------------------------

describe('commands', () => {
  test('a foreground command: stdout, stderr, callbacks, exit code 0', async () => {
    const seen = { out: '', err: '' };
    const r = await sbx.commands.run('echo out1; echo err1 >&2; echo out2', {
      onStdout: (d) => (seen.out += d),
      onStderr: (d) => (seen.err += d),
    });
    assert.equal(r.exitCode, 0);
    assert.equal(r.stdout, 'out1\nout2\n');
    assert.equal(r.stderr, 'err1\n');
    assert.equal(seen.out, 'out1\nout2\n');
    assert.equal(seen.err, 'err1\n');
  });

  test('a non-zero exit raises CommandExitError with the output', async () => {
    await assert.rejects(sbx.commands.run('echo o; echo e >&2; exit 3'), (e) => {
      assert.ok(e instanceof CommandExitError, `got ${e}`);
      assert.equal(e.exitCode, 3);
      assert.equal(e.stdout, 'o\n');
      assert.equal(e.stderr, 'e\n');
      assert.match(e.error, /exit status 3/);
      return true;
    });
  });

  test('envs, cwd, and the default user (E2B\'s "user", in its home)', async () => {
    const r = await sbx.commands.run('echo "$FOO"; pwd', { envs: { FOO: 'bar baz' }, cwd: '/tmp' });
    assert.equal(r.stdout, 'bar baz\n/tmp\n');
    const who = await sbx.commands.run('whoami; pwd; echo $HOME');
    assert.equal(who.stdout, 'user\n/home/user\n/home/user\n');
  });

  test('the user option (Authorization: Basic) runs as that user', async () => {
    const r = await sbx.commands.run('whoami; pwd', { user: 'root' });
    assert.equal(r.stdout, 'root\n/root\n');
    // A user the guest does not have is refused, not run as someone else.
    await assert.rejects(sbx.commands.run('whoami', { user: 'nobody-here' }), SandboxError);
  });

  test('a relative cwd is refused with invalid_argument', async () => {
    await assert.rejects(sbx.commands.run('pwd', { cwd: 'tmp' }), /absolute/);
  });

  test('background: start, pid, wait, output', async () => {
    const h = await sbx.commands.run('sleep 1; echo done', { background: true });
    assert.ok(Number.isInteger(h.pid) && h.pid > 1);
    const r = await h.wait();
    assert.equal(r.exitCode, 0);
    assert.equal(r.stdout, 'done\n');
  });

  test('kill: true for a running command (it ends by SIGKILL), false for an unknown pid', async () => {
    const h = await sbx.commands.run('sleep 60', { background: true });
    assert.equal(await sbx.commands.kill(h.pid), true);
    await assert.rejects(h.wait(), (e) => {
      assert.ok(e instanceof CommandExitError);
      assert.equal(e.exitCode, -1);
      assert.match(e.error, /signal: killed/);
      return true;
    });
    // It has ended: envd no longer knows it.
    assert.equal(await sbx.commands.kill(h.pid), false);
    assert.equal(await sbx.commands.kill(4000000), false);
  });

  test('sendStdin to a command started with stdin: true', async () => {
    const h = await sbx.commands.run('read a; read b; echo "got:$a,$b"', {
      background: true,
      stdin: true,
    });
    await sbx.commands.sendStdin(h.pid, 'hello\n');
    await h.sendStdin('world\n');
    const r = await h.wait();
    assert.equal(r.stdout, 'got:hello,world\n');
  });

  test('sendStdin over 512 KiB at once is InvalidArgumentError', async () => {
    await assert.rejects(sbx.commands.sendStdin(4000000, 'x'.repeat(600 * 1024)), (e) => {
      assert.ok(e instanceof InvalidArgumentError, `got ${e}`);
      assert.match(e.message, /over 524288 bytes/);
      return true;
    });
  });

  test('closeStdin ends the input of a command (envd 0.5.2)', async () => {
    const h = await sbx.commands.run('cat; echo eof', { background: true, stdin: true });
    await sbx.commands.sendStdin(h.pid, 'first\n');
    await sbx.commands.closeStdin(h.pid);
    const r = await h.wait();
    assert.equal(r.stdout, 'first\neof\n');
  });

  test('list shows a running background command with its pid, cmd and args', async () => {
    const h = await sbx.commands.run('sleep 45; echo listed', { background: true });
    try {
      const procs = await sbx.commands.list();
      const p = procs.find((x) => x.pid === h.pid);
      assert.ok(p, `pid ${h.pid} not in ${JSON.stringify(procs)}`);
      assert.equal(p.cmd, '/bin/bash');
      assert.deepEqual(p.args, ['-l', '-c', 'sleep 45; echo listed']);
      // Only running ones: a finished command is not listed.
      const done = await sbx.commands.run('true');
      assert.equal(done.exitCode, 0);
    } finally {
      await sbx.commands.kill(h.pid);
    }
    const after = await sbx.commands.list();
    assert.ok(!after.some((x) => x.pid === h.pid), 'a killed command is still listed');
  });

  test('connect(pid) re-attaches: later output and the exit code', async () => {
    let first = '';
    const h = await sbx.commands.run('echo early; sleep 4; echo later; exit 4', {
      background: true,
      onStdout: (d) => (first += d),
    });
    await until(() => first === 'early\n', 30_000, 'its first line');
    await h.disconnect();
    let streamed = '';
    const h2 = await sbx.commands.connect(h.pid, { onStdout: (d) => (streamed += d) });
    assert.equal(h2.pid, h.pid);
    await assert.rejects(h2.wait(), (e) => {
      assert.ok(e instanceof CommandExitError, `got ${e}`);
      assert.equal(e.exitCode, 4);
      // From now on: what came before the re-attach is not replayed.
      assert.equal(e.stdout, 'later\n');
      return true;
    });
    assert.equal(streamed, 'later\n');
  });

  test('connect to an unknown pid is NotFoundError', async () => {
    await assert.rejects(sbx.commands.connect(4000000), NotFoundError);
  });

  test('a command outlives a client that disconnects', async () => {
    const h = await sbx.commands.run('sleep 2; echo survived > /tmp/outlive.txt', {
      background: true,
    });
    await h.disconnect();
    await until(
      async () => (await sbx.commands.run('cat /tmp/outlive.txt 2>/dev/null || true')).stdout === 'survived\n',
      30_000,
      'the disconnected command to finish'
    );
  });

  test('a command outlives the SDK\'s timeoutMs on its stream', async () => {
    await assert.rejects(
      sbx.commands.run('sleep 5; echo late > /tmp/late.txt', { timeoutMs: 2500 }),
      (e) => e.name === 'TimeoutError' || /deadline|timed out|aborted/i.test(String(e))
    );
    await until(
      async () => (await sbx.commands.run('cat /tmp/late.txt 2>/dev/null || true')).stdout === 'late\n',
      30_000,
      'the timed-out command to finish'
    );
  });
});

describe('pause', () => {
  test('a background command survives pause and resume; connect(pid) follows it again', async () => {
    const other = await Sandbox.create(template, { timeoutMs: 300_000 });
    try {
      const h = await other.commands.run('for i in $(seq 8); do sleep 1; done; echo resumed; exit 5', {
        background: true,
      });
      await h.disconnect();
      assert.equal(await other.pause(), true);
      const again = await Sandbox.connect(other.sandboxId, { timeoutMs: 300_000 });
      const procs = await again.commands.list();
      assert.ok(procs.some((p) => p.pid === h.pid), `pid ${h.pid} not listed after resume`);
      const h2 = await again.commands.connect(h.pid);
      await assert.rejects(h2.wait(), (e) => {
        assert.ok(e instanceof CommandExitError, `got ${e}`);
        assert.equal(e.exitCode, 5);
        assert.equal(e.stdout, 'resumed\n');
        return true;
      });
    } finally {
      await other.kill().catch(() => {});
    }
  });
});

describe('pty', () => {
  test('create, sendInput, onData echo, resize, kill', async () => {
    let out = '';
    const dec = new TextDecoder();
    const pty = await sbx.pty.create({ cols: 80, rows: 24, onData: (d) => (out += dec.decode(d)) });
    assert.ok(pty.pid > 1);
    await sbx.pty.sendInput(pty.pid, new TextEncoder().encode('echo pty-$((6*7))\n'));
    await until(() => out.includes('pty-42'), 30_000, 'the PTY to run echo');
    // The terminal echoes what it is sent.
    assert.ok(out.includes('echo pty-$((6*7))'), `no echo in ${JSON.stringify(out)}`);
    await sbx.pty.resize(pty.pid, { cols: 100, rows: 30 });
    await sbx.pty.sendInput(pty.pid, new TextEncoder().encode('stty size\n'));
    await until(() => out.includes('30 100'), 30_000, 'stty to report the new size');
    const listed = await sbx.commands.list();
    assert.ok(listed.some((p) => p.pid === pty.pid && p.cmd === '/bin/bash'));
    assert.equal(await sbx.pty.kill(pty.pid), true);
    await assert.rejects(pty.wait(), (e) => e instanceof CommandExitError && e.exitCode === -1);
  });
});

// --- raw Connect ----------------------------------------------------------

describe('wire', () => {
  test('Start streams start, keepalives at the asked interval, data, end, end-of-stream', async () => {
    const env = await stream('Start', { process: bash('sleep 3; echo done') }, {
      'Keepalive-Ping-Interval': '1',
    });
    assert.ok(env[0].msg.event.start.pid > 1, JSON.stringify(env[0]));
    const kinds = env.slice(0, -1).map((e) => Object.keys(e.msg.event)[0]);
    assert.ok(kinds.filter((k) => k === 'keepalive').length >= 1, kinds.join(','));
    const data = env.find((e) => e.msg.event?.data);
    assert.equal(Buffer.from(data.msg.event.data.stdout, 'base64').toString(), 'done\n');
    const end = env[env.length - 2].msg.event.end;
    assert.deepEqual(end, { exitCode: 0, exited: true, status: 'exit status 0' });
    assert.equal(env[env.length - 1].flags, 2);
    assert.deepEqual(env[env.length - 1].msg, {});
  });

  test('Connect-Timeout-Ms ends the stream with deadline_exceeded; the command runs on', async () => {
    const env = await stream('Start', { process: bash('sleep 3; echo x > /tmp/deadline.txt'), tag: 'dl' }, {
      'Connect-Timeout-Ms': '1500',
    });
    const last = env[env.length - 1];
    assert.equal(last.flags, 2);
    assert.equal(last.msg.error.code, 'deadline_exceeded');
    assert.ok(!env.some((e) => e.msg.event?.end), 'an end event before the command ended');
    // Found again by its tag.
    const again = await stream('Connect', { process: { tag: 'dl' } });
    assert.equal(again[0].msg.event.start.pid, env[0].msg.event.start.pid);
    assert.equal(again[again.length - 2].msg.event.end.exitCode, 0);
    const r = await sbx.commands.run('cat /tmp/deadline.txt');
    assert.equal(r.stdout, 'x\n');
  });

  test('CloseStdin as a raw Connect call', async () => {
    const h = await sbx.commands.run('cat; echo eof', { background: true, stdin: true });
    await sbx.commands.sendStdin(h.pid, 'abc\n');
    const res = await unary('CloseStdin', { process: { pid: h.pid } });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const r = await h.wait();
    assert.equal(r.stdout, 'abc\neof\n');
  });

  test('bad messages are invalid_argument; unknown pids not_found', async () => {
    const bad = [
      ['SendSignal', { process: { pid: 1 }, signal: 'SIGNAL_SIGHUP' }, /SIGNAL_SIGKILL/],
      ['SendSignal', { process: {}, signal: 9 }, /pid or a tag/],
      ['SendInput', { process: { pid: 1 }, input: { stdin: 'not base64!' } }, /base64/],
      ['Update', { process: { pid: 1 }, pty: { size: { cols: 0, rows: 5 } } }, /cols/],
      ['List', { all: true }, /no fields/],
    ];
    for (const [method, msg, why] of bad) {
      const res = await unary(method, msg);
      assert.equal(res.status, 400, `${method} ${JSON.stringify(res.body)}`);
      assert.equal(res.body.code, 'invalid_argument');
      assert.match(res.body.message, why);
    }
    const gone = await unary('SendInput', { process: { pid: 4000000 }, input: { stdin: 'YQ==' } });
    assert.equal(gone.status, 404);
    assert.equal(gone.body.code, 'not_found');
    const notag = await unary('SendSignal', { process: { tag: 'no-such-tag' }, signal: 'SIGNAL_SIGTERM' });
    assert.equal(notag.body.code, 'not_found');
    const start = await stream('Start', { process: { cmd: '/bin/true', args: [1] } });
    assert.equal(start.length, 1);
    assert.equal(start[0].flags, 2);
    assert.equal(start[0].msg.error.code, 'invalid_argument');
  });
});
