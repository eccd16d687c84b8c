// What an E2B user copies from E2B's getting-started pages, run as is:
// no thaw-specific option, the SDKs' default templates and timeouts.
// Each test is one such program, end to end (the "done when").
import { test } from 'node:test';
import { Sandbox } from 'e2b';
import { Sandbox as CodeSandbox } from '@e2b/code-interpreter';
import { assert } from './lib.mjs';

test('quickstart: a command, a file written and read back, a listing', async () => {
  const sbx = await Sandbox.create();
  try {
    const result = await sbx.commands.run('echo "hello from $(uname -s)"');
    assert.equal(result.stdout, 'hello from Linux\n');
    assert.equal(result.exitCode, 0);

    await sbx.files.write('/home/user/hello.txt', 'Hello, world!');
    const content = await sbx.files.read('/home/user/hello.txt');
    assert.equal(content, 'Hello, world!');

    const entries = await sbx.files.list('/home/user');
    assert.ok(entries.some((e) => e.name === 'hello.txt' && e.type === 'file'), JSON.stringify(entries));
  } finally {
    await sbx.kill();
  }
});

test('code interpreter: state across cells, a chart as a PNG', async () => {
  const sbx = await CodeSandbox.create();
  try {
    await sbx.runCode('x = 1');
    const execution = await sbx.runCode('x += 1; x');
    assert.equal(execution.text, '2');

    const chart = await sbx.runCode(`
import matplotlib.pyplot as plt
import numpy as np

x = np.linspace(0, 10, 100)
plt.plot(x, np.sin(x))
plt.title("sin(x)")
plt.show()
`);
    assert.equal(chart.error, undefined);
    const png = chart.results.find((r) => r.png);
    assert.ok(png, JSON.stringify(chart.results.map((r) => Object.keys(r))));
    const bytes = Buffer.from(png.png, 'base64');
    assert.ok(bytes.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])));
  } finally {
    await sbx.kill();
  }
});

test('analyse an uploaded CSV with pandas', async () => {
  const sbx = await CodeSandbox.create();
  try {
    const csv = 'city,temp\nOslo,4\nLisbon,19\nCairo,29\n';
    await sbx.files.write('/home/user/weather.csv', csv);
    const execution = await sbx.runCode(`
import pandas as pd
df = pd.read_csv("/home/user/weather.csv")
print(df["temp"].mean())
df.sort_values("temp", ascending=False)
`);
    assert.equal(execution.error, undefined);
    assert.deepEqual(execution.logs.stdout, ['17.333333333333332\n']);
    assert.ok(execution.results[0].html.includes('Cairo'), execution.results[0].html);
  } finally {
    await sbx.kill();
  }
});

test('a failing command raises with its output', async () => {
  const sbx = await Sandbox.create();
  try {
    await assert.rejects(sbx.commands.run('echo partial; exit 2'), (e) => {
      assert.equal(e.exitCode, 2);
      assert.equal(e.stdout, 'partial\n');
      return true;
    });
    // Long-running work in the background, then its result.
    const handle = await sbx.commands.run('sleep 1; echo done', { background: true });
    const done = await handle.wait();
    assert.equal(done.stdout, 'done\n');
  } finally {
    await sbx.kill();
  }
});
