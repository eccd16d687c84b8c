// What every conformance scenario shares: the four variables an E2B user
// sets to point the unmodified SDK at thaw, taken from what the pytest
// wrapper (tests/e2e/test_e2b.py) passes: THAW_E2B_URL (thawd's
// --e2b-listen origin) and THAW_E2B_KEY (a thaw key's secret).
import assert from 'node:assert/strict';

const url = process.env.THAW_E2B_URL;
const key = process.env.THAW_E2B_KEY;
if (!url || !key) {
  throw new Error('THAW_E2B_URL and THAW_E2B_KEY must be set (run through tests/e2e/test_e2b.py)');
}
process.env.E2B_API_URL = url;
process.env.E2B_SANDBOX_URL = url;
process.env.E2B_DOMAIN = 'thaw.test';
process.env.E2B_API_KEY = key;
delete process.env.E2B_DEBUG;

export const apiUrl = url;
export const apiKey = key;
// thaw's template behind E2B's default names ("base", "code-interpreter-v1").
export const template = process.env.THAW_E2B_TEMPLATE || 'base';

// A sandbox for one test, killed after it whatever happens.
export async function withSandbox(Sandbox, opts, fn) {
  const sbx = await Sandbox.create(template, { timeoutMs: 300_000, ...opts });
  try {
    return await fn(sbx);
  } finally {
    await sbx.kill().catch(() => {});
  }
}

export { assert };
