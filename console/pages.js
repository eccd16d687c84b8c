// The console's pages but the sandbox detail (detail.js). Each takes the
// <main> element and fills it; data comes from the public API only.
import { api, enc, key, usage } from './api.js';
import { histogram, noData, sparkline } from './charts.js';
import { age, bytes, h, replace, say, table } from './dom.js';

export function keyPage(main, problem, onDone) {
  const input = h('input', { id: 'key', type: 'password', autocomplete: 'off', required: true,
    'aria-describedby': 'key-help' });
  const form = h('form', { class: 'card', onsubmit: (e) => {
    e.preventDefault();
    key.set(input.value.trim());
    onDone();
  } },
  h('h1', {}, 'thaw console'),
  problem ? h('p', { class: 'error', role: 'alert' }, problem) : null,
  h('label', { for: 'key' }, 'API key'), input,
  h('p', { id: 'key-help', class: 'help' },
    'Kept in this tab only (session storage); the console can do what the key can.'),
  h('button', { type: 'submit' }, 'Use key'));
  replace(main, form);
  input.focus();
}

async function createSandbox(templates, reload) {
  const sel = document.getElementById('new-template');
  try {
    say('creating…');
    const sb = await api('/v1/sandboxes', { method: 'POST', body: { template: sel.value } });
    say(`created ${sb.id}`);
    reload();
  } catch (e) { say(`create failed: ${e.message}`); }
}

async function deleteSandbox(id, reload) {
  if (!window.confirm(`Delete ${id} and everything in it?`)) return;
  try {
    await api(`/v1/sandboxes/${enc(id)}`, { method: 'DELETE' });
    say(`deleted ${id}`);
    reload();
  } catch (e) { say(`delete failed: ${e.message}`); }
}

async function sparkCells(sb, cpuCell, memCell) {
  const m = await usage(sb.id, 900).catch(() => null);
  if (!m) { replace(cpuCell, noData()); replace(memCell, noData()); return; }
  const cpu = m.points.map((p) => p.cpu_used_pct);
  const mem = m.points.map((p) => p.mem_used_bytes);
  const last = m.points[m.points.length - 1];
  replace(cpuCell, sparkline(cpu, 100, `CPU of ${sb.id}`), ` ${cpu[cpu.length - 1].toFixed(0)}%`);
  replace(memCell, sparkline(mem, last.mem_total_bytes, `memory of ${sb.id}`),
    ` ${bytes(last.mem_used_bytes)}`);
}

export async function listPage(main) {
  const reload = () => listPage(main);
  const [list, tpl] = await Promise.all([api('/v1/sandboxes'), api('/v1/templates')]);
  const ready = tpl.templates.filter((t) => t.status === 'ready');
  const rows = list.sandboxes.map((sb) => {
    const cpu = h('td', { class: 'spark-cell' }, '…');
    const mem = h('td', { class: 'spark-cell' }, '…');
    if (sb.state === 'running') sparkCells(sb, cpu, mem);
    else { replace(cpu, noData()); replace(mem, noData()); }
    return h('tr', { 'data-id': sb.id },
      h('td', {}, h('a', { href: `#/sandbox/${enc(sb.id)}` }, sb.id)),
      h('td', {}, h('span', { class: `state ${sb.state}` }, sb.state)),
      h('td', {}, sb.template), h('td', {}, age(sb.age_s)), h('td', {}, sb.owner),
      cpu, mem,
      h('td', {}, h('button', { type: 'button', class: 'danger',
        'aria-label': `Delete ${sb.id}`, onclick: () => deleteSandbox(sb.id, reload) },
      'Delete')));
  });
  replace(main,
    h('h1', {}, 'Sandboxes'),
    h('div', { class: 'toolbar' },
      h('label', { for: 'new-template' }, 'Template '),
      h('select', { id: 'new-template' }, ready.map((t) => h('option', { value: t.name }, t.name))),
      h('button', { type: 'button', id: 'create', disabled: !ready.length,
        onclick: () => createSandbox(ready, reload) }, 'Create sandbox'),
      h('button', { type: 'button', onclick: reload }, 'Refresh')),
    rows.length ? table(['Id', 'State', 'Template', 'Age', 'Owner', 'CPU', 'Memory', ''], rows)
      : h('p', {}, 'No sandboxes yet.'));
}

export async function templatesPage(main) {
  const { templates } = await api('/v1/templates');
  const rows = templates.map((t) => {
    const b = t.bytes || {};
    const size = t.disk ? t.disk.allocated_bytes
      : (b.memory || 0) + (b.rootfs || 0) + (b.state || 0);
    return h('tr', { 'data-name': t.name },
      h('td', {}, t.name),
      h('td', {}, h('span', { class: `state ${t.status}` }, t.status),
        t.progress ? [' ', h('progress', { max: t.progress.steps, value: t.progress.step,
          'aria-label': `bake step ${t.progress.step} of ${t.progress.steps}` }),
        ` ${t.detail ?? ''} (${t.progress.step}/${t.progress.steps})`] : ''),
      h('td', {}, t.owner ?? 'shared'), h('td', {}, t.vcpus ?? '–'),
      h('td', {}, t.memory_mb ? `${t.memory_mb} MiB` : '–'), h('td', {}, bytes(size)),
      h('td', {}, t.created_at ?? '–'));
  });
  replace(main, h('h1', {}, 'Templates'),
    rows.length ? table(['Name', 'Status', 'Owner', 'vCPUs', 'Memory', 'Size', 'Created'], rows)
      : h('p', {}, 'No templates.'));
}

export async function hostsPage(main) {
  const { hosts } = await api('/v1/hosts');
  const cols = [...new Set(hosts.flatMap((x) => Object.keys(x)
    .filter((k) => x[k] === null || typeof x[k] !== 'object')))];
  replace(main, h('h1', {}, 'Hosts'), table(cols, hosts.map((x) => h('tr', {},
    cols.map((c) => h('td', {}, x[c] ?? '–'))))));
}

// Prometheus text: the buckets of thaw_create_duration_seconds, summed over
// its labels (pool = warm|cold), cumulative as written.
export function createBuckets(text) {
  const sums = new Map();
  let count = 0, total = 0;
  for (const line of text.split('\n')) {
    const m = /^thaw_create_duration_seconds_(bucket|sum|count)(\{[^}]*\})? ([^ ]+)/.exec(line);
    if (!m) continue;
    const v = Number(m[3]);
    if (m[1] === 'sum') total += v;
    else if (m[1] === 'count') count += v;
    else {
      const le = /le="([^"]+)"/.exec(m[2] || '');
      if (le) sums.set(le[1], (sums.get(le[1]) || 0) + v);
    }
  }
  const buckets = [...sums].map(([le, c]) => ({ le, count: c }))
    .sort((a, b) => (a.le === '+Inf') - (b.le === '+Inf') || Number(a.le) - Number(b.le));
  return { buckets, count, total };
}

export async function latencyPage(main, info) {
  replace(main, h('h1', {}, 'Create latency'));
  if (info.key && info.key.role && info.key.role !== 'admin') {
    main.append(h('p', { class: 'error' }, 'This page needs an admin key.'));
    return;
  }
  let text;
  try {
    text = await api('/metrics', { headers: { Accept: 'text/plain' } });
  } catch (e) {
    main.append(h('p', { class: 'error' }, e.status === 403 ? 'This page needs an admin key.'
      : `No metrics here (${e.message}).`));
    return;
  }
  const { buckets, count, total } = createBuckets(String(text));
  if (!buckets.length || !count) { main.append(noData('no creates measured yet')); return; }
  main.append(histogram(`Creates: ${count}, mean ${(total / count).toFixed(3)} s`, buckets));
}
