// everynode's live view: a DaemonSet's nodes as one canvas grid, coloured by the revision and
// readiness of each node's daemon pod, fed by server-sent events from /ui/api/stream.
'use strict';

const $ = (id) => document.getElementById(id);

// A cell's code is revision * 8 + state.
const STATE = { NONE: 0, NOT_READY: 1, READY: 2, AVAILABLE: 3, REPLACING: 4 };
const STATE_NAMES = ['no pod', 'not ready', 'ready, not yet available', 'available', 'replacing'];
const CURRENT = [46, 158, 79];
const OTHERS = [[59, 111, 216], [216, 129, 59], [155, 89, 182], [23, 162, 184]];
const NO_POD = [204, 208, 214];

function mix(a, b, t) { return a.map((v, i) => Math.round(v + (b[i] - v) * t)); }

// The colour of a cell: its revision's hue (green for the current one), paler the less ready.
function color(revision, state, current) {
  if (state === STATE.NONE || !revision) return NO_POD;
  const base = revision === current ? CURRENT : OTHERS[revision % OTHERS.length];
  switch (state) {
    case STATE.AVAILABLE: return base;
    case STATE.READY: return mix(base, [255, 255, 255], 0.4);
    case STATE.NOT_READY: return mix(base, [255, 255, 255], 0.75);
    case STATE.REPLACING: return mix(base, [0, 0, 0], 0.3);
    default: return NO_POD;
  }
}
const css = (rgb) => `rgb(${rgb[0]},${rgb[1]},${rgb[2]})`;

const view = {
  key: null, source: null, frame: null, points: [], plan: null,
  geometry: { cols: 0, size: 0, n: 0, gap: 0 }, drawn: 0, pending: false,
};
// How busy the page is, for benchmarks: time spent taking in frames and drawing, and the
// main thread's long tasks (over 50 ms) as the browser reports them.
const stats = { frame: timing(), draw: timing(), longTask: timing() };
function timing() { return { count: 0, totalMs: 0, maxMs: 0 }; }
function record(t, ms) { t.count++; t.totalMs += ms; t.maxMs = Math.max(t.maxMs, ms); }
function measure(kind, start) { record(stats[kind], performance.now() - start); }
try {
  new PerformanceObserver((list) => { for (const e of list.getEntries()) record(stats.longTask, e.duration); })
    .observe({ type: 'longtask', buffered: true });
} catch (_) { /* no long-task timing in this browser */ }
window.everynode = { view, color, STATE, stats };

async function api(path) {
  const r = await fetch(path, { credentials: 'same-origin' });
  if (r.status === 401) { location.href = '/ui/'; throw new Error('signed out'); }
  const body = await r.json();
  if (!r.ok) throw new Error(body.message || r.statusText);
  return body;
}

async function loadDaemonSets() {
  const list = await api('/ui/api/daemonsets');
  const select = $('daemonset');
  const keys = list.map((d) => `${d.namespace}/${d.name}`);
  const shown = Array.from(select.options).map((o) => o.value);
  if (keys.join() !== shown.join()) {
    select.replaceChildren(...keys.map((k) => new Option(k, k)));
  }
  const wanted = decodeURIComponent(location.hash.slice(1));
  const key = keys.includes(wanted) ? wanted : (keys.includes(view.key) ? view.key : keys[0]);
  if (key) { select.value = key; if (key !== view.key) follow(key); }
  else { $('title').textContent = 'No DaemonSets yet'; }
}

function follow(key) {
  if (view.source) view.source.close();
  view.key = key; view.frame = null; view.points = []; view.plan = null;
  renderPlan();
  location.hash = encodeURIComponent(key);
  const [namespace, name] = key.split('/');
  $('title').textContent = `daemonset.apps/${name}`;
  const source = new EventSource(`/ui/api/stream?namespace=${encodeURIComponent(namespace)}&name=${encodeURIComponent(name)}`);
  view.source = source;
  source.onopen = () => { $('connection').textContent = 'live'; $('connection').className = 'connection live'; };
  source.onerror = () => { $('connection').textContent = 'reconnecting…'; $('connection').className = 'connection'; };
  source.addEventListener('history', (e) => { view.points = JSON.parse(e.data); });
  source.addEventListener('frame', (e) => {
    const start = performance.now();
    const frame = JSON.parse(e.data);
    // Node names come only when they change.
    if (!frame.nodes && view.frame) frame.nodes = view.frame.nodes;
    view.frame = frame;
    if (frame.point && !view.points.some((p) => p.t === frame.point.t)) view.points.push(frame.point);
    showFrame(frame);
    measure('frame', start);
  });
  source.addEventListener('gone', () => { $('title').textContent = `${key} (deleted)`; });
}

function showFrame(f) {
  const c = f.counters;
  for (const k of ['desired', 'current', 'ready', 'updated', 'available']) $(k).textContent = c[k];
  $('revision').textContent = `revision ${f.revision}`;
  showLegend(f);
  showList($('conditions'), f.conditions, (x) => {
    const li = document.createElement('li');
    li.className = x.status === 'False' && x.type !== 'Paused' ? 'warning' : '';
    li.innerHTML = '<span class="reason"></span> <span class="status"></span><br><span class="message"></span>';
    li.querySelector('.reason').textContent = x.type;
    li.querySelector('.status').textContent = `${x.status} (${x.reason})`;
    li.querySelector('.message').textContent = x.message;
    return li;
  });
  showList($('events'), f.events, (x) => {
    const li = document.createElement('li');
    li.className = x.type === 'Warning' ? 'warning' : '';
    li.innerHTML = '<span class="reason"></span> <span class="count"></span> <span class="when"></span><br><span class="message"></span>';
    li.querySelector('.reason').textContent = x.reason;
    li.querySelector('.count').textContent = x.count > 1 ? `×${x.count}` : '';
    li.querySelector('.when').textContent = x.last ? ago(x.last) : '';
    li.querySelector('.message').textContent = x.message;
    return li;
  });
  schedule();
}

function ago(time) {
  const s = Math.max(0, Math.round((Date.now() - Date.parse(time)) / 1000));
  return s < 120 ? `${s}s ago` : `${Math.round(s / 60)}m ago`;
}

function showList(ul, items, make) {
  if (!items.length) { const li = document.createElement('li'); li.className = 'none'; li.textContent = 'none'; ul.replaceChildren(li); return; }
  ul.replaceChildren(...items.map(make));
}

function showLegend(f) {
  const revisions = [...new Set(f.cells.map((c) => c >> 3).filter((r) => r > 0))].sort((a, b) => b - a);
  const items = revisions.map((r) => [color(r, STATE.AVAILABLE, f.revision), `revision ${r}${r === f.revision ? ' (current)' : ''}`, r]);
  items.push([color(f.revision, STATE.READY, f.revision), 'ready, not yet available']);
  items.push([color(f.revision, STATE.NOT_READY, f.revision), 'not ready']);
  items.push([color(f.revision, STATE.REPLACING, f.revision), 'old and new pod']);
  items.push([NO_POD, 'no pod']);
  const signature = JSON.stringify(items);
  const legend = $('legend');
  if (legend.dataset.signature === signature) return;
  legend.dataset.signature = signature;
  legend.replaceChildren(...items.map(([rgb, label, r]) => {
    const item = document.createElement('span');
    item.className = 'item';
    if (r) item.dataset.revision = r;
    const swatch = document.createElement('span');
    swatch.className = 'swatch';
    swatch.style.background = css(rgb);
    item.append(swatch, label);
    return item;
  }));
}

function schedule() {
  if (view.pending) return;
  view.pending = true;
  requestAnimationFrame(() => { view.pending = false; drawGrid(); drawTimeline(); });
}

// Cells as large as fit about 420 px of height, at least 2 px, at most 28.
function geometry(n, width) {
  const size = Math.max(2, Math.min(28, Math.floor(Math.sqrt((width * 420) / Math.max(n, 1)))));
  const cols = Math.max(1, Math.floor(width / size));
  return { cols, size, n, gap: size >= 6 ? 1 : 0 };
}

function drawGrid() {
  const f = view.frame;
  const canvas = $('grid');
  if (!f) return;
  const start = performance.now();
  const width = canvas.clientWidth || 900;
  const g = geometry(f.cells.length, width);
  view.geometry = g;
  const height = Math.max(g.size, Math.ceil(g.n / g.cols) * g.size);
  if (canvas.width !== width) canvas.width = width;
  if (canvas.height !== height) canvas.height = height;
  canvas.style.height = `${height}px`;
  const ctx = canvas.getContext('2d');
  ctx.fillStyle = '#fff';
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  const waves = view.plan && view.plan.waveOf;
  for (let i = 0; i < g.n; i++) {
    const code = f.cells[i];
    let rgb;
    if (waves) {
      const w = waves.get(f.nodes[i]);
      rgb = w === undefined ? NO_POD : mix([88, 44, 160], [226, 214, 250], view.plan.waves.length > 1 ? w / (view.plan.waves.length - 1) : 0);
    } else {
      rgb = color(code >> 3, code & 7, f.revision);
    }
    ctx.fillStyle = css(rgb);
    const x = (i % g.cols) * g.size, y = Math.floor(i / g.cols) * g.size;
    ctx.fillRect(x, y, g.size - g.gap, g.size - g.gap);
  }
  view.drawn++;
  measure('draw', start);
}

function drawTimeline() {
  const canvas = $('timeline');
  const width = canvas.clientWidth || 900, height = 160;
  if (canvas.width !== width) canvas.width = width;
  const ctx = canvas.getContext('2d');
  ctx.fillStyle = '#fff';
  ctx.fillRect(0, 0, width, height);
  const pts = view.points;
  if (!pts.length) return;
  const t0 = pts[0].t, t1 = Math.max(Date.now() / 1000, pts[pts.length - 1].t, t0 + 1);
  const top = Math.max(1, ...pts.map((p) => p.desired));
  const pad = 24;
  const x = (t) => pad + ((t - t0) / (t1 - t0)) * (width - 2 * pad);
  const y = (v) => height - pad - (v / top) * (height - 2 * pad);
  ctx.strokeStyle = '#dde1e6'; ctx.beginPath(); ctx.moveTo(pad, y(0)); ctx.lineTo(width - pad, y(0)); ctx.stroke();
  ctx.fillStyle = '#6b7380'; ctx.font = '11px system-ui';
  ctx.fillText(String(top), 2, y(top) + 4); ctx.fillText('0', 2, y(0) + 4);
  ctx.fillText(`${Math.round(t1 - t0)}s`, width - pad - 20, height - 6);
  const line = (field, colour, dash) => {
    ctx.strokeStyle = colour; ctx.setLineDash(dash); ctx.lineWidth = 2; ctx.beginPath();
    pts.forEach((p, i) => {
      const px = x(p.t), py = y(p[field]);
      if (i === 0) ctx.moveTo(px, py); else { ctx.lineTo(px, y(pts[i - 1][field])); ctx.lineTo(px, py); }
    });
    ctx.lineTo(x(t1), y(pts[pts.length - 1][field]));
    ctx.stroke(); ctx.setLineDash([]);
  };
  line('desired', '#9aa3ad', [4, 4]);
  line('available', '#3b6fd8', []);
  line('updated', '#2e9e4f', []);
}

function human(s) {
  if (s === null || s === undefined) return 'never';
  if (s < 60) return `${Math.round(s * 10) / 10}s`;
  const m = Math.floor(s / 60), r = Math.round(s % 60);
  return m < 60 ? `${m}m${r ? `${r}s` : ''}` : `${Math.floor(m / 60)}h${m % 60}m`;
}

function renderPlan() {
  const box = $('plan');
  $('plan-clear').hidden = !view.plan;
  if (!view.plan) { box.replaceChildren(); schedule(); return; }
  const f = view.plan.forecast;
  const total = f.duration === null ? `never completes: ${f.blocked.length} nodes block it` : `${human(f.duration)} in ${f.waves.length} waves`;
  let html = `<p id="plan-total">Total: ${total}</p><table><tr><th>Wave</th><th>Start</th><th>Done</th><th>Nodes</th></tr>`;
  f.waves.forEach((w, i) => { html += `<tr><td>${i + 1}</td><td>${human(w.start)}</td><td>${human(w.end)}</td><td>${w.nodes.length}</td></tr>`; });
  html += '</table>';
  box.innerHTML = html;
  if (f.blocked.length) {
    const ul = document.createElement('ul');
    f.blocked.slice(0, 10).forEach((b) => { const li = document.createElement('li'); li.textContent = `${b.node}: ${b.reason}`; ul.append(li); });
    box.append(ul);
  }
  schedule();
}

$('plan-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  if (!view.key) return;
  const [namespace, name] = view.key.split('/');
  const image = $('plan-image').value.trim();
  $('plan').textContent = 'planning…';
  try {
    const plan = await api(`/ui/api/plan?namespace=${encodeURIComponent(namespace)}&name=${encodeURIComponent(name)}&image=${encodeURIComponent(image)}`);
    const waveOf = new Map();
    plan.forecast.waves.forEach((w, i) => w.nodes.forEach((n) => waveOf.set(n, i)));
    view.plan = { forecast: plan.forecast, waves: plan.forecast.waves, waveOf };
  } catch (err) {
    view.plan = null;
    $('plan').textContent = String(err.message || err);
    return;
  }
  renderPlan();
});
$('plan-clear').addEventListener('click', () => { view.plan = null; renderPlan(); });

$('grid').addEventListener('mousemove', (e) => {
  const f = view.frame, g = view.geometry, tip = $('tooltip');
  if (!f || !g.size) return;
  const rect = e.target.getBoundingClientRect();
  const col = Math.floor((e.clientX - rect.left) / g.size), row = Math.floor((e.clientY - rect.top) / g.size);
  const i = row * g.cols + col;
  if (col >= g.cols || i >= g.n) { tip.hidden = true; return; }
  const code = f.cells[i];
  const wave = view.plan && view.plan.waveOf.get(f.nodes[i]);
  tip.textContent = `${f.nodes[i]}: ${code >> 3 ? `revision ${code >> 3}, ` : ''}${STATE_NAMES[code & 7]}` +
    (f.waits[f.waiting[i]] !== '-' ? `; waits for ${f.waits[f.waiting[i]]}` : '') + (wave !== undefined && wave !== null ? `; wave ${wave + 1}` : '');
  tip.hidden = false;
  tip.style.left = `${e.offsetX + 14}px`;
  tip.style.top = `${e.target.offsetTop + e.offsetY + 14}px`;
});
$('grid').addEventListener('mouseleave', () => { $('tooltip').hidden = true; });
$('daemonset').addEventListener('change', (e) => follow(e.target.value));
window.addEventListener('resize', schedule);
setInterval(() => { loadDaemonSets().catch(() => {}); }, 3000);
setInterval(drawTimeline, 1000);
loadDaemonSets().catch((e) => { $('title').textContent = String(e.message || e); });
