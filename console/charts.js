// Small SVG charts of our own: a sparkline for the list, a line chart with
// axes for the detail page, and bars for the create-latency histogram.
import { h, s } from './dom.js';

export function noData(text = 'no data') {
  return h('span', { class: 'nodata' }, text);
}

function path(values, w, hgt, max) {
  const n = values.length;
  const top = max > 0 ? max : 1;
  return values.map((v, i) => {
    const x = n === 1 ? w : (i / (n - 1)) * w;
    const y = hgt - (Math.max(0, v) / top) * hgt;
    return `${i ? 'L' : 'M'}${x.toFixed(1)},${y.toFixed(1)}`;
  }).join('');
}

export function sparkline(values, max, label) {
  if (!values || !values.length) return noData();
  const w = 100, hgt = 24;
  return s('svg', { class: 'spark', viewBox: `0 0 ${w} ${hgt}`, width: w, height: hgt,
    role: 'img', 'aria-label': label, preserveAspectRatio: 'none' },
  s('title', {}, label),
  s('path', { d: path(values, w, hgt, max ?? Math.max(...values)), class: 'line' }));
}

// series: [{name, values, cls}] sharing the times in t (unix seconds).
export function lineChart(title, t, series, fmt, max) {
  const all = series.flatMap((x) => x.values);
  if (!t.length || !all.length) return h('figure', { class: 'chart' }, h('figcaption', {}, title),
    noData());
  const W = 420, H = 140, L = 64, B = 20;
  const top = max ?? (Math.max(...all) || 1);
  const span = `${Math.round((t[t.length - 1] - t[0]) / 60)} min`;
  const svg = s('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': title,
    'data-points': t.length, class: 'chartsvg' },
  s('title', {}, title),
  s('line', { x1: L, y1: 4, x2: L, y2: H - B, class: 'axis' }),
  s('line', { x1: L, y1: H - B, x2: W, y2: H - B, class: 'axis' }),
  s('text', { x: L - 4, y: 12, class: 'tick', 'text-anchor': 'end' }, fmt(top)),
  s('text', { x: L - 4, y: H - B, class: 'tick', 'text-anchor': 'end' }, fmt(0)),
  s('text', { x: W, y: H - 4, class: 'tick', 'text-anchor': 'end' }, `last ${span}`),
  s('g', { transform: `translate(${L},4)` },
    series.map((x) => s('path', { d: path(x.values, W - L, H - B - 4, top),
      class: `line ${x.cls || ''}` }))));
  const legend = series.length > 1
    ? h('div', { class: 'legend' }, series.map((x) => h('span', { class: `key ${x.cls || ''}` },
      x.name)))
    : null;
  return h('figure', { class: 'chart' }, h('figcaption', {}, title), svg, legend);
}

// buckets: [{le, count}] cumulative, as Prometheus writes them. Only the
// range that holds creates is drawn (with an empty bucket either side):
// the buckets span sub-millisecond to tens of seconds.
export function histogram(title, all) {
  const every = all.map((b, i) => b.count - (i ? all[i - 1].count : 0));
  const first = Math.max(0, every.findIndex((c) => c > 0) - 1);
  const last = Math.min(every.length - 1,
    every.length - 1 - [...every].reverse().findIndex((c) => c > 0) + 1);
  const buckets = all.slice(first, last + 1);
  const counts = every.slice(first, last + 1);
  const H = 180, B = 34, L = 40, W = Math.max(520, L + buckets.length * 48);
  const top = Math.max(...counts, 1);
  const bw = (W - L) / buckets.length;
  const bars = buckets.map((b, i) => {
    const bh = (counts[i] / top) * (H - B - 10);
    const x = L + i * bw;
    return s('g', {},
      s('rect', { x: x + 2, y: H - B - bh, width: Math.max(1, bw - 4), height: bh, class: 'bar' },
        s('title', {}, `≤ ${b.le}: ${counts[i]}`)),
      s('text', { x: x + bw / 2, y: H - B + 14, class: 'tick', 'text-anchor': 'middle' },
        b.le === '+Inf' ? '∞' : b.le),
      counts[i] ? s('text', { x: x + bw / 2, y: H - B - bh - 2, class: 'tick',
        'text-anchor': 'middle' }, counts[i]) : null);
  });
  return h('figure', { class: 'chart wide' }, h('figcaption', {}, title),
    s('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': title, class: 'chartsvg' },
      s('title', {}, title),
      s('line', { x1: L, y1: H - B, x2: W, y2: H - B, class: 'axis' }),
      s('text', { x: W / 2, y: H - 4, class: 'tick', 'text-anchor': 'middle' },
        'seconds (upper bound of each bucket)'),
      bars));
}
