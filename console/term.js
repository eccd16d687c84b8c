// A small terminal: enough for a shell. A grid of cells with a cursor;
// printable text, CR, LF, BS, TAB, and the common CSI sequences (cursor
// moves, erase in display/line, SGR colours and bold); other escape
// sequences (OSC titles, modes, charsets) are read and dropped. Rendered
// as text nodes in a <pre>, one span per run of equal attributes.
import { h } from './dom.js';

const blank = () => ({ ch: ' ', fg: 0, bg: 0, bold: false });

export class Terminal {
  constructor(onInput) {
    this.onInput = onInput; // bytes (Uint8Array) typed by the user
    this.rows = 24;
    this.cols = 80;
    this.grid = [];
    this.x = 0;
    this.y = 0;
    this.attr = { fg: 0, bg: 0, bold: false };
    this.state = 'text';
    this.params = '';
    this.decoder = new TextDecoder();
    this.encoder = new TextEncoder();
    this.el = h('pre', { class: 'term', tabindex: 0, role: 'log', 'aria-label': 'Terminal',
      onkeydown: (e) => this.key(e), onpaste: (e) => this.paste(e) });
    this.reset();
    this.pending = false;
  }

  reset() {
    this.grid = Array.from({ length: this.rows }, () => Array.from({ length: this.cols }, blank));
  }

  resize(rows, cols) {
    const old = this.grid;
    this.rows = rows;
    this.cols = cols;
    this.reset();
    const skip = Math.max(0, old.length - rows);
    for (let y = 0; y < rows && y + skip < old.length; y++)
      for (let x = 0; x < cols && x < old[y + skip].length; x++) this.grid[y][x] = old[y + skip][x];
    this.y = Math.min(Math.max(0, this.y - skip), rows - 1);
    this.x = Math.min(this.x, cols - 1);
    this.render();
  }

  // Output from the sandbox (ArrayBuffer or string).
  write(data) {
    const text = typeof data === 'string' ? data
      : this.decoder.decode(new Uint8Array(data), { stream: true });
    for (const ch of text) this.feed(ch);
    if (!this.pending) {
      this.pending = true;
      requestAnimationFrame(() => { this.pending = false; this.render(); });
    }
  }

  feed(ch) {
    const c = ch.codePointAt(0);
    if (this.state === 'esc') return this.escape(ch);
    if (this.state === 'csi') return this.csi(ch);
    if (this.state === 'osc') {
      if (c === 7) this.state = 'text';
      else if (ch === '\x1b') this.state = 'osc-esc';
      return undefined;
    }
    if (this.state === 'osc-esc') { this.state = 'text'; return undefined; } // ST
    if (this.state === 'charset') { this.state = 'text'; return undefined; }
    if (c === 0x1b) this.state = 'esc';
    else if (ch === '\r') this.x = 0;
    else if (ch === '\n' || c === 0x0b || c === 0x0c) this.lineFeed();
    else if (c === 8) this.x = Math.max(0, this.x - 1);
    else if (ch === '\t') this.x = Math.min(this.cols - 1, (Math.floor(this.x / 8) + 1) * 8);
    else if (c >= 0x20 && c !== 0x7f) this.put(ch);
    return undefined;
  }

  escape(ch) {
    this.state = 'text';
    if (ch === '[') { this.state = 'csi'; this.params = ''; }
    else if (ch === ']') this.state = 'osc';
    else if ('()*+'.includes(ch)) this.state = 'charset';
    else if (ch === 'c') { this.reset(); this.x = 0; this.y = 0; }
    else if (ch === 'M') this.y = Math.max(0, this.y - 1);
  }

  csi(ch) {
    if (/[0-9;?>=!]/.test(ch)) { this.params += ch; return; }
    this.state = 'text';
    if (this.params.startsWith('?') || this.params.startsWith('>')) return; // modes
    const p = this.params.split(';').map((v) => parseInt(v, 10));
    const n = (i, d = 1) => (Number.isNaN(p[i]) || p[i] === undefined || p[i] === 0 ? d : p[i]);
    const clampY = (v) => Math.max(0, Math.min(this.rows - 1, v));
    const clampX = (v) => Math.max(0, Math.min(this.cols - 1, v));
    switch (ch) {
      case 'A': this.y = clampY(this.y - n(0)); break;
      case 'B': this.y = clampY(this.y + n(0)); break;
      case 'C': this.x = clampX(this.x + n(0)); break;
      case 'D': this.x = clampX(this.x - n(0)); break;
      case 'G': this.x = clampX(n(0) - 1); break;
      case 'd': this.y = clampY(n(0) - 1); break;
      case 'H': case 'f': this.y = clampY(n(0) - 1); this.x = clampX(n(1) - 1); break;
      case 'J': this.eraseDisplay(Number.isNaN(p[0]) ? 0 : p[0]); break;
      case 'K': this.eraseLine(Number.isNaN(p[0]) ? 0 : p[0]); break;
      case 'P': { const row = this.grid[this.y]; row.splice(this.x, n(0));
        while (row.length < this.cols) row.push(blank()); break; }
      case 'X': for (let i = 0; i < n(0) && this.x + i < this.cols; i++)
        this.grid[this.y][this.x + i] = blank(); break;
      case 'm': this.sgr(p); break;
      default: break; // anything else is dropped
    }
  }

  sgr(p) {
    for (let i = 0; i < p.length; i++) {
      const v = Number.isNaN(p[i]) ? 0 : p[i];
      if (v === 0) this.attr = { fg: 0, bg: 0, bold: false };
      else if (v === 1) this.attr.bold = true;
      else if (v === 22) this.attr.bold = false;
      else if (v >= 30 && v <= 37) this.attr.fg = v - 29;
      else if (v >= 90 && v <= 97) this.attr.fg = v - 81;
      else if (v === 39) this.attr.fg = 0;
      else if (v >= 40 && v <= 47) this.attr.bg = v - 39;
      else if (v >= 100 && v <= 107) this.attr.bg = v - 91;
      else if (v === 49) this.attr.bg = 0;
      else if (v === 38 || v === 48) i += p[i + 1] === 5 ? 2 : 4; // 256/true colour: skipped
    }
  }

  eraseLine(mode) {
    const row = this.grid[this.y];
    const [a, b] = mode === 0 ? [this.x, this.cols] : mode === 1 ? [0, this.x + 1] : [0, this.cols];
    for (let x = a; x < b; x++) row[x] = blank();
  }

  eraseDisplay(mode) {
    if (mode === 2 || mode === 3) { this.reset(); return; }
    this.eraseLine(mode);
    const [a, b] = mode === 0 ? [this.y + 1, this.rows] : [0, this.y];
    for (let y = a; y < b; y++) this.grid[y] = Array.from({ length: this.cols }, blank);
  }

  put(ch) {
    if (this.x >= this.cols) { this.x = 0; this.lineFeed(); }
    this.grid[this.y][this.x] = { ch, ...this.attr };
    this.x++;
  }

  lineFeed() {
    if (this.y < this.rows - 1) { this.y++; return; }
    this.grid.shift();
    this.grid.push(Array.from({ length: this.cols }, blank));
  }

  render() {
    const lines = [];
    for (let y = 0; y < this.rows; y++) {
      const row = this.grid[y];
      let run = null;
      for (let x = 0; x < this.cols; x++) {
        const c = row[x];
        const cursor = y === this.y && x === Math.min(this.x, this.cols - 1);
        const cls = `${c.fg ? `f${c.fg}` : ''} ${c.bg ? `b${c.bg}` : ''} ${c.bold ? 'bold' : ''}`
          + (cursor ? ' cursor' : '');
        if (!run || run.cls !== cls) { run = { cls: cls.trim(), text: '' }; lines.push(run); }
        run.text += c.ch;
      }
      lines.push({ cls: '', text: '\n' });
    }
    this.el.replaceChildren(...lines.map((r) => (r.cls ? h('span', { class: r.cls }, r.text)
      : document.createTextNode(r.text))));
  }

  text() { // what the screen shows, for tests and copy
    return this.grid.map((r) => r.map((c) => c.ch).join('').trimEnd()).join('\n');
  }

  send(str) { this.onInput(this.encoder.encode(str)); }

  paste(e) {
    e.preventDefault();
    this.send(e.clipboardData.getData('text').replace(/\r?\n/g, '\r'));
  }

  key(e) {
    const map = { Enter: '\r', Backspace: '\x7f', Tab: '\t', Escape: '\x1b',
      ArrowUp: '\x1b[A', ArrowDown: '\x1b[B', ArrowRight: '\x1b[C', ArrowLeft: '\x1b[D',
      Home: '\x1b[H', End: '\x1b[F', Delete: '\x1b[3~', PageUp: '\x1b[5~', PageDown: '\x1b[6~' };
    let out = map[e.key];
    if (e.ctrlKey && !e.altKey && e.key.length === 1) {
      const c = e.key.toUpperCase().charCodeAt(0);
      if (c >= 64 && c <= 95) out = String.fromCharCode(c - 64);
    } else if (!out && e.key.length === 1 && !e.metaKey && !e.ctrlKey) {
      out = (e.altKey ? '\x1b' : '') + e.key;
    }
    if (out === undefined) return;
    e.preventDefault();
    this.send(out);
  }
}
