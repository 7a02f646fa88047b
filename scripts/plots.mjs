#!/usr/bin/env node
// Draws the performance plots (SVG, no dependencies) from bench/results.json and refreshes the
// benchmark table in docs/performance.md (between the bench-table markers).
//   docs/img/nat-scaling.svg     NAT ns/packet against table size   (benchmark nat44.udp.scaling)
//   docs/img/e2e-throughput.svg  end-to-end iperf3 throughput: l3kit vs the kernel and wireguard-go (e2e.*)
// Usage: node scripts/plots.mjs [--check]   (--check: exit 1 if a file would change)
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const check = process.argv.includes('--check');
const doc = JSON.parse(readFileSync(join(root, 'bench', 'results.json'), 'utf8'));
const byName = new Map(doc.results.map((r) => [r.name, r]));
let stale = 0;

function emit(rel, text) {
  const file = join(root, rel);
  const old = existsSync(file) ? readFileSync(file, 'utf8') : '';
  if (old === text) return;
  if (check) {
    console.error(`${rel} is out of date (run node scripts/plots.mjs)`);
    stale++;
    return;
  }
  mkdirSync(join(file, '..'), { recursive: true });
  writeFileSync(file, text);
  console.log(`wrote ${rel}`);
}

const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const FONT = 'font-family="system-ui, -apple-system, Segoe UI, sans-serif"';

function svg(width, height, title, body) {
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" ${FONT} font-size="12">\n` +
    `<title>${esc(title)}</title>\n<rect width="100%" height="100%" fill="#ffffff"/>\n` +
    `<text x="${width / 2}" y="22" text-anchor="middle" font-size="15" font-weight="600">${esc(title)}</text>\n` +
    `${body}</svg>\n`
  );
}

/** A "nice" upper bound for an axis. */
function niceMax(v) {
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

function natScaling() {
  const r = byName.get('nat44.udp.scaling');
  if (!r?.points?.length) {
    console.error('no nat44.udp.scaling in bench/results.json (node scripts/bench.mjs nat44.udp.scaling)');
    return;
  }
  const W = 640;
  const H = 380;
  const L = 70;
  const R = 45;
  const T = 40;
  const B = 60;
  const pts = r.points;
  const xs = pts.map((p) => Math.log10(p.mappings));
  const x0 = Math.floor(Math.min(...xs));
  const x1 = Math.ceil(Math.max(...xs));
  const yMax = niceMax(Math.max(...pts.map((p) => p.nsPerPkt)) * 1.1);
  const X = (m) => L + ((Math.log10(m) - x0) / (x1 - x0)) * (W - L - R);
  const Y = (v) => H - B - (v / yMax) * (H - T - B);
  let body = '';
  for (let i = 0; i <= 5; i++) {
    const v = (yMax / 5) * i;
    body += `<line x1="${L}" x2="${W - R}" y1="${Y(v)}" y2="${Y(v)}" stroke="#e5e7eb"/>`;
    body += `<text x="${L - 8}" y="${Y(v) + 4}" text-anchor="end">${Math.round(v)}</text>\n`;
  }
  for (let e = x0; e <= x1; e++) {
    const m = 10 ** e;
    body += `<line x1="${X(m)}" x2="${X(m)}" y1="${T}" y2="${H - B}" stroke="#e5e7eb"/>`;
    body += `<text x="${X(m)}" y="${H - B + 18}" text-anchor="middle">${m >= 1e6 ? `${m / 1e6}M` : m >= 1e3 ? `${m / 1e3}k` : m}</text>\n`;
  }
  body += `<line x1="${L}" x2="${L}" y1="${T}" y2="${H - B}" stroke="#111827"/><line x1="${L}" x2="${W - R}" y1="${H - B}" y2="${H - B}" stroke="#111827"/>\n`;
  if (pts.every((p) => typeof p.minNsPerPkt === 'number')) {
    body += `<polyline fill="none" stroke="#93c5fd" stroke-width="2" stroke-dasharray="6 4" points="${pts.map((p) => `${X(p.mappings).toFixed(1)},${Y(p.minNsPerPkt).toFixed(1)}`).join(' ')}"/>\n`;
    body += `<line x1="${L + 16}" x2="${L + 46}" y1="${T + 14}" y2="${T + 14}" stroke="#2563eb" stroke-width="2.5"/><text x="${L + 52}" y="${T + 18}">median of 20 passes</text>`;
    body += `<line x1="${L + 16}" x2="${L + 46}" y1="${T + 32}" y2="${T + 32}" stroke="#93c5fd" stroke-width="2" stroke-dasharray="6 4"/><text x="${L + 52}" y="${T + 36}">fastest pass</text>\n`;
  }
  body += `<polyline fill="none" stroke="#2563eb" stroke-width="2.5" points="${pts.map((p) => `${X(p.mappings).toFixed(1)},${Y(p.nsPerPkt).toFixed(1)}`).join(' ')}"/>\n`;
  for (const p of pts) {
    body += `<circle cx="${X(p.mappings).toFixed(1)}" cy="${Y(p.nsPerPkt).toFixed(1)}" r="4" fill="#2563eb"/>`;
    body += `<text x="${X(p.mappings).toFixed(1)}" y="${(Y(p.nsPerPkt) - 10).toFixed(1)}" text-anchor="middle">${p.nsPerPkt}</text>\n`;
  }
  body += `<text x="${(L + W - R) / 2}" y="${H - 18}" text-anchor="middle">live UDP mappings in the NAT (log scale)</text>\n`;
  body += `<text transform="translate(18 ${(T + H - B) / 2}) rotate(-90)" text-anchor="middle">ns per translated packet</text>\n`;
  emit('docs/img/nat-scaling.svg', svg(W, H, 'NAT44: ns per packet against table size', body));
}

const E2E = [
  ['e2e.kernel.iperf3', 'Linux kernel NAT (nftables)', '#6b7280'],
  ['e2e.relay.iperf3', 'l3kit relay, TUN (no NAT)', '#93c5fd'],
  ['e2e.nat44.iperf3', 'l3kit NAT44, TUN', '#2563eb'],
  ['e2e.relay.iperf3.gso', 'l3kit relay, TUN + GSO', '#93c5fd'],
  ['e2e.nat44.iperf3.gso', 'l3kit NAT44, TUN + GSO', '#2563eb'],
  ['e2e.wireguard-go.iperf3', 'wireguard-go + kernel NAT', '#6b7280'],
  ['e2e.wireguard.iperf3', 'l3kit WireGuard + NAT44', '#16a34a'],
];

function e2e() {
  const rows = E2E.filter(([n]) => byName.has(n)).map(([n, label, color]) => ({
    n,
    label,
    color,
    r: byName.get(n),
  }));
  if (!rows.length) {
    console.error('no e2e.* results in bench/results.json (npm run bench:interop)');
    return;
  }
  const W = 720;
  const L = 230;
  const R = 90;
  const T = 40;
  const BAR = 26;
  const GAP = 10;
  const H = T + rows.length * (BAR + GAP) + 50;
  const max = niceMax(
    Math.max(...rows.flatMap((x) => [x.r.value, ...(Array.isArray(x.r.runs) ? x.r.runs : [])])),
  );
  const X = (v) => L + (v / max) * (W - L - R);
  let body = '';
  for (let i = 0; i <= 4; i++) {
    const v = (max / 4) * i;
    body += `<line x1="${X(v)}" x2="${X(v)}" y1="${T - 4}" y2="${H - 46}" stroke="#e5e7eb"/>`;
    body += `<text x="${X(v)}" y="${H - 30}" text-anchor="middle">${v}</text>\n`;
  }
  rows.forEach((x, i) => {
    const y = T + i * (BAR + GAP);
    body += `<text x="${L - 8}" y="${y + BAR / 2 + 4}" text-anchor="end">${esc(x.label)}</text>`;
    body += `<rect x="${L}" y="${y}" width="${(X(x.r.value) - L).toFixed(1)}" height="${BAR}" fill="${x.color}"/>`;
    const runs = Array.isArray(x.r.runs) ? x.r.runs : [];
    if (runs.length > 1) {
      const lo = Math.min(...runs);
      const hi = Math.max(...runs);
      body += `<line x1="${X(lo).toFixed(1)}" x2="${X(hi).toFixed(1)}" y1="${y + BAR / 2}" y2="${y + BAR / 2}" stroke="#111827"/>`;
    }
    body += `<text x="${(X(Math.max(x.r.value, ...runs)) + 6).toFixed(1)}" y="${y + BAR / 2 + 4}">${Math.round(x.r.value)}</text>\n`;
  });
  body += `<text x="${(L + W - R) / 2}" y="${H - 10}" text-anchor="middle">iperf3 TCP, Mbit/s (median; the line spans all runs) — ${esc(doc.machine?.cpu ?? '')}, ${doc.machine?.cores ?? '?'} cores</text>\n`;
  emit(
    'docs/img/e2e-throughput.svg',
    svg(W, H, 'End to end: l3kit against the kernel and wireguard-go', body),
  );
}

function fmt(v) {
  if (typeof v !== 'number') return String(v);
  return v >= 100 ? v.toLocaleString('en-US', { maximumFractionDigits: 0 }) : String(v);
}

/** A Markdown table with padded columns (the layout Biome's formatter gives it). */
function alignedTable(head, right, rows) {
  const len = (x) => [...x].length;
  const w = head.map((h, i) => Math.max(3, len(h), ...rows.map((r) => len(r[i]))));
  const pad = (x, i) => (right[i] ? ' '.repeat(w[i] - len(x)) + x : x + ' '.repeat(w[i] - len(x)));
  const line = (cells) => `| ${cells.map(pad).join(' | ')} |`;
  const sep = `| ${w.map((n, i) => (right[i] ? `${'-'.repeat(n - 1)}:` : '-'.repeat(n))).join(' | ')} |`;
  return [line(head), sep, ...rows.map(line)];
}

function table() {
  const file = join(root, 'docs', 'performance.md');
  if (!existsSync(file)) return;
  const text = readFileSync(file, 'utf8');
  const start = '<!-- bench-table:start -->';
  const end = '<!-- bench-table:end -->';
  const a = text.indexOf(start);
  const b = text.indexOf(end);
  if (a < 0 || b < a) return;
  const rows = [...doc.results]
    .sort((x, y) => x.name.localeCompare(y.name))
    .map((r) => [`\`${r.name}\``, fmt(r.value), r.unit, String(r.description ?? '').replace(/\|/g, '\\|')]);
  const lines = alignedTable(
    ['benchmark', 'value', 'unit', 'what is measured'],
    [false, true, false, false],
    rows,
  );
  const m = doc.machine ?? {};
  lines.push(
    '',
    `Machine: ${m.cpu ?? '?'}, ${m.cores ?? '?'} cores, Node ${m.node ?? '?'}, ${m.platform ?? '?'}; results of ${m.date ?? '?'}.`,
  );
  emit('docs/performance.md', `${text.slice(0, a + start.length)}\n${lines.join('\n')}\n${text.slice(b)}`);
}

natScaling();
e2e();
table();
if (stale) process.exit(1);
