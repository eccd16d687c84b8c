// The public API with the key the user typed. The key lives in
// sessionStorage: it goes when the tab closes, and "Forget key" drops it.
const KEY = 'thaw.key';

export const key = {
  get: () => sessionStorage.getItem(KEY),
  set: (k) => sessionStorage.setItem(KEY, k),
  forget: () => sessionStorage.removeItem(KEY),
};

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

// fetch with the key; JSON answers parsed, others as text (raw: the Response).
export async function api(path, opts = {}) {
  const headers = { ...(opts.headers || {}) };
  const k = key.get();
  if (k) headers.Authorization = `Bearer ${k}`;
  let body = opts.body;
  if (body !== undefined && !(body instanceof Blob) && typeof body !== 'string') {
    body = JSON.stringify(body);
    headers['Content-Type'] = 'application/json';
  }
  const res = await fetch(path, { method: opts.method || 'GET', headers, body });
  if (opts.raw && res.ok) return res;
  const type = res.headers.get('Content-Type') || '';
  const data = type.includes('json') ? await res.json().catch(() => null) : await res.text();
  if (!res.ok) {
    const msg = data && data.error ? data.error : `${res.status} ${res.statusText}`;
    throw new ApiError(res.status, msg);
  }
  return data;
}

export const enc = encodeURIComponent;

// The terminal's WebSocket: the key rides as a subprotocol item, since a
// browser cannot set Authorization on a WebSocket.
export function shellSocket(id, rows, cols) {
  const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
  const url = `${proto}//${location.host}/v1/sandboxes/${enc(id)}/shell?rows=${rows}&cols=${cols}`;
  const ws = new WebSocket(url, ['thaw-shell', `thaw-key.${key.get()}`]);
  ws.binaryType = 'arraybuffer';
  return ws;
}

// GET /v1/sandboxes/{id}/metrics (per-sandbox usage): null when the host
// has no such route or no points yet, so pages show "no data".
export async function usage(id, sinceSeconds) {
  const q = sinceSeconds ? `?start=${Math.floor(Date.now() / 1000) - sinceSeconds}` : '';
  try {
    const m = await api(`/v1/sandboxes/${enc(id)}/metrics${q}`);
    return m && Array.isArray(m.points) && m.points.length ? m : null;
  } catch (e) {
    if (e.status === 404 || e.status === 405) return null;
    throw e;
  }
}
