// One sandbox: usage charts, its processes, a files browser and a terminal.
import { api, enc, shellSocket, usage } from './api.js';
import { lineChart, noData } from './charts.js';
import { age, bytes, h, replace, say, table } from './dom.js';
import { Terminal } from './term.js';

let live = null; // the open terminal: its socket, and what to undo when the page changes

export function leaveDetail() {
  if (!live) return;
  live.ws.close();
  window.removeEventListener('resize', live.onResize);
  live = null;
}

function rates(points, field) {
  const out = [];
  for (let i = 1; i < points.length; i++) {
    const dt = points[i].t - points[i - 1].t;
    out.push(dt > 0 ? Math.max(0, points[i][field] - points[i - 1][field]) / dt : 0);
  }
  return out;
}

async function charts(id, box) {
  const m = await usage(id, 3600).catch(() => null);
  if (!m) { replace(box, h('h2', {}, 'Usage'), noData('no data (no usage samples yet)')); return; }
  const p = m.points;
  const t = p.map((x) => x.t);
  const pct = (v) => `${v.toFixed(0)}%`;
  const perSec = (v) => `${bytes(Math.round(v))}/s`;
  replace(box, h('h2', {}, 'Usage'), h('div', { class: 'charts' },
    lineChart('CPU', t, [{ name: 'cpu', values: p.map((x) => x.cpu_used_pct) }], pct, 100),
    lineChart('Memory', t, [{ name: 'used', values: p.map((x) => x.mem_used_bytes) }], bytes,
      p[p.length - 1].mem_total_bytes),
    lineChart('Network', t.slice(1), [
      { name: 'received', values: rates(p, 'net_rx_bytes'), cls: 'rx' },
      { name: 'sent', values: rates(p, 'net_tx_bytes'), cls: 'tx' }], perSec)));
}

async function processes(id, box) {
  const { processes: list } = await api(`/v1/sandboxes/${enc(id)}/processes`);
  const rows = list.map((x) => h('tr', {},
    h('td', {}, x.pid), h('td', {}, x.cmd ?? ''), h('td', {}, x.tag ?? ''),
    h('td', {}, x.running ? 'running'
      : `exited ${x.exit_code ?? ''}${x.signal ? ` (signal ${x.signal})` : ''}`),
    h('td', {}, x.started_at ?? '')));
  replace(box, h('h2', {}, 'Processes'),
    h('button', { type: 'button', onclick: () => processes(id, box) }, 'Refresh'),
    rows.length ? table(['PID', 'Command', 'Tag', 'State', 'Started'], rows)
      : h('p', {}, 'No processes.'));
}

function parentOf(path) {
  const i = path.replace(/\/+$/, '').lastIndexOf('/');
  return i <= 0 ? '/' : path.slice(0, i);
}

async function download(id, path, name) {
  const res = await api(`/v1/sandboxes/${enc(id)}/files?path=${enc(path)}`, { raw: true });
  const url = URL.createObjectURL(await res.blob());
  const a = h('a', { href: url, download: name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

async function openFile(id, path, viewer) {
  const res = await api(`/v1/sandboxes/${enc(id)}/files?path=${enc(path)}`, { raw: true });
  const buf = new Uint8Array(await res.arrayBuffer());
  const shown = new TextDecoder().decode(buf.slice(0, 65536));
  replace(viewer, h('h3', {}, path), h('pre', { class: 'file' }, shown),
    buf.length > 65536 ? h('p', {}, `first 64 KiB of ${bytes(buf.length)}`) : null);
}

async function files(id, box, path) {
  const viewer = h('div', { class: 'viewer' });
  const pathInput = h('input', { id: 'files-path', value: path, 'aria-label': 'Directory' });
  const upload = h('input', { type: 'file', id: 'files-upload', 'aria-label': 'Upload a file' });
  const go = () => files(id, box, pathInput.value || '/');
  upload.addEventListener('change', async () => {
    const f = upload.files[0];
    if (!f) return;
    const target = `${path.replace(/\/+$/, '')}/${f.name}`;
    try {
      await api(`/v1/sandboxes/${enc(id)}/files?path=${enc(target)}`, { method: 'PUT', body: f });
      say(`uploaded ${target}`);
      go();
    } catch (e) { say(`upload failed: ${e.message}`); }
  });
  let listing;
  try {
    listing = await api(`/v1/sandboxes/${enc(id)}/files/list?path=${enc(path)}`);
  } catch (e) {
    replace(box, h('h2', {}, 'Files'), h('p', { class: 'error' }, e.message));
    return;
  }
  const rows = listing.entries.map((e) => h('tr', { 'data-path': e.path },
    h('td', {}, e.type === 'dir'
      ? h('a', { href: '#', onclick: (ev) => { ev.preventDefault(); files(id, box, e.path); } },
        `${e.name}/`)
      : h('a', { href: '#',
        onclick: (ev) => { ev.preventDefault(); openFile(id, e.path, viewer); } }, e.name)),
    h('td', {}, e.type), h('td', {}, e.type === 'file' ? bytes(e.size) : ''),
    h('td', {}, e.mtime ? new Date(e.mtime * 1000).toISOString().replace('.000Z', 'Z') : ''),
    h('td', {}, e.type === 'file' ? h('button', { type: 'button',
      'aria-label': `Download ${e.name}`, onclick: () => download(id, e.path, e.name) },
    'Download') : '')));
  replace(box, h('h2', {}, 'Files'),
    h('form', { class: 'toolbar', onsubmit: (ev) => { ev.preventDefault(); go(); } },
      pathInput, h('button', { type: 'submit' }, 'List'),
      h('button', { type: 'button', onclick: () => files(id, box, parentOf(path)) }, 'Up'),
      h('label', { for: 'files-upload' }, ' Upload: '), upload),
    table(['Name', 'Type', 'Size', 'Modified', ''], rows, `Files in ${listing.path}`),
    listing.truncated ? h('p', {}, 'The listing was cut short.') : null, viewer);
}

// The terminal's size in characters, from its box and one character's width.
function measure(box, pre) {
  const probe = document.createElement('span');
  probe.textContent = 'M'.repeat(10);
  pre.append(probe);
  const cw = probe.getBoundingClientRect().width / 10 || 8;
  probe.remove();
  const w = box.clientWidth - 34; // the box's and the terminal's padding
  return Math.max(20, Math.min(500, Math.floor(w / cw)));
}

function terminal(id, box) {
  leaveDetail();
  const state = h('span', { class: 'term-state', id: 'term-state' }, 'connecting…');
  let ws = null;
  const term = new Terminal((bytesIn) => {
    if (ws && ws.readyState === WebSocket.OPEN) ws.send(bytesIn);
  });
  replace(box, h('h2', {}, 'Terminal ', state), term.el);
  const fit = () => {
    const cols = measure(box, term.el);
    if (cols === term.cols) return;
    term.resize(24, cols);
    if (ws && ws.readyState === WebSocket.OPEN)
      ws.send(JSON.stringify({ resize: { rows: 24, cols } }));
  };
  fit();
  ws = shellSocket(id, term.rows, term.cols);
  let timer;
  const onResize = () => { clearTimeout(timer); timer = setTimeout(fit, 150); };
  window.addEventListener('resize', onResize);
  live = { ws, onResize };
  ws.onopen = () => { state.textContent = 'connected'; term.el.focus(); };
  ws.onmessage = (e) => {
    if (typeof e.data !== 'string') { term.write(e.data); return; }
    const msg = JSON.parse(e.data);
    if ('exit' in msg) state.textContent = `exited ${msg.exit}`;
    if (msg.error) state.textContent = `error: ${msg.error}`;
  };
  ws.onclose = () => { if (!/exited|error/.test(state.textContent)) state.textContent = 'closed'; };
}

export async function detailPage(main, id) {
  const sb = await api(`/v1/sandboxes/${enc(id)}`);
  const chartBox = h('section', { class: 'box', id: 'usage' });
  const procBox = h('section', { class: 'box', id: 'processes' });
  const fileBox = h('section', { class: 'box', id: 'files' });
  const termBox = h('section', { class: 'box', id: 'terminal' });
  const res = sb.resources || {};
  replace(main,
    h('h1', {}, sb.id, ' ', h('span', { class: `state ${sb.state}` }, sb.state)),
    h('dl', { class: 'facts' },
      h('dt', {}, 'Template'), h('dd', {}, sb.template),
      h('dt', {}, 'Owner'), h('dd', {}, sb.owner),
      h('dt', {}, 'Age'), h('dd', {}, age(sb.age_s)),
      h('dt', {}, 'Memory'),
      h('dd', {}, `${bytes(res.memory_used_bytes)} of ${bytes(res.memory_limit_bytes)}`),
      h('dt', {}, 'Disk'), h('dd', {}, sb.disk ? bytes(sb.disk.allocated_bytes) : '–')),
    chartBox, termBox, procBox, fileBox);
  if (sb.state !== 'running') {
    replace(termBox, h('h2', {}, 'Terminal'), h('p', {}, `The sandbox is ${sb.state}.`));
    replace(procBox, h('h2', {}, 'Processes'), noData());
    replace(fileBox, h('h2', {}, 'Files'), noData());
    await charts(id, chartBox);
    return;
  }
  terminal(id, termBox);
  await Promise.all([charts(id, chartBox), processes(id, procBox), files(id, fileBox, '/root')]);
}
