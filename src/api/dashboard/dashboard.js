// The agent's dashboard: plain browser JavaScript, no framework, no outside requests. Reads
// /api/status, /api/backups, /api/history and /api/wal-backlog; POSTs start jobs with the
// bearer token, which is kept in sessionStorage only (asked once per browser session).
'use strict';
const $ = (sel) => document.querySelector(sel);
const TOKEN_KEY = 'pitr-token';
const esc = (s) => String(s ?? '').replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const at = (iso) => (iso ? new Date(iso).toLocaleString(undefined, { dateStyle: 'short', timeStyle: 'short' }) : '');
function bytes(n) {
  if (n == null) return '';
  const u = ['B', 'KB', 'MB', 'GB', 'TB'];
  let i = 0;
  while (n >= 1000 && i < u.length - 1) {
    n /= 1000;
    i++;
  }
  return `${n < 10 && i ? n.toFixed(1) : Math.round(n)} ${u[i]}`;
}
function secs(s) {
  if (s == null) return '';
  if (s < 90) return `${Math.round(s)} s`;
  if (s < 5400) return `${Math.round(s / 60)} min`;
  if (s < 172800) return `${(s / 3600).toFixed(1)} h`;
  return `${Math.round(s / 86400)} d`;
}
async function getJson(path) {
  const res = await fetch(path, { cache: 'no-store' });
  if (!res.ok) throw new Error(`${path}: HTTP ${res.status}`);
  return res.json();
}

let report = null;
let listing = null;

function showStatus(s) {
  report = s;
  const top = $('#top');
  top.className = s.healthy ? 'healthy' : 'unhealthy';
  $('#health').textContent = s.healthy ? 'Healthy' : 'Unhealthy';
  $('#repo').textContent = `${s.repository}${s.problems.length ? '' : ': no problems'}`;
  $('#problems').innerHTML = s.problems.map((p) => `<li>${esc(p)}</li>`).join('');
  $('#warnings').innerHTML = s.warnings.map((p) => `<li>${esc(p)}</li>`).join('');
}

// The window: a time axis from the oldest backup to now; the restorable span green, backups
// as ticks (red when their own WAL is not all archived), what cannot be restored after the
// window's end red when WAL is missing.
function drawWindow() {
  const svg = $('#window');
  const backups = listing.backups;
  const w = listing.restorableWindow;
  const now = Date.now();
  const times = backups.map((b) => Date.parse(b.stopTime));
  if (w) times.push(Date.parse(w.from));
  const t0 = times.length ? Math.min(...times) : now - 86400000;
  const span = Math.max(now - t0, 60000);
  const x = (t) => ((t - t0) / span) * 980 + 10;
  let out = '<rect x="10" y="20" width="980" height="30" fill="#e5e7eb"/>';
  if (w) {
    const a = x(Date.parse(w.from));
    const b = x(Date.parse(w.to));
    out += `<rect class="restorable" x="${a}" y="20" width="${Math.max(b - a, 2)}" height="30" fill="#34a853"><title>restorable ${esc(at(w.from))} to ${esc(at(w.to))}</title></rect>`;
    if (report && report.walGap) {
      out += `<rect class="gap" x="${b}" y="20" width="${Math.max(990 - b, 2)}" height="30" fill="#d93025"><title>WAL missing from ${esc(report.walGap.missingFrom)}</title></rect>`;
    }
  } else if (backups.length) {
    out += '<rect class="gap" x="10" y="20" width="980" height="30" fill="#d93025"/>';
  }
  let ok = '';
  let bad = '';
  for (const b of backups) {
    const d = `M${x(Date.parse(b.stopTime)).toFixed(1)} ${b.walComplete ? '3v15' : '3v62'}`;
    if (b.walComplete) ok += d;
    else bad += d;
  }
  out += `<path class="marks" d="${ok}" stroke="#1b1f24" stroke-width="1.5"/><path d="${bad}" stroke="#d93025" stroke-width="3"/>`;
  svg.innerHTML = out;
  $('#window-axis').innerHTML = `<span>${esc(at(new Date(t0).toISOString()))}</span><span>now</span>`;
  let text = w ? `Restorable from ${at(w.from)} to ${at(w.to)}` : 'Nothing is restorable: no backup with all its WAL.';
  if (w && w.end === 'archive-time') text += ' (end is an upper bound)';
  if (report && report.walGap)
    text += `. WAL missing ${report.walGap.missingFrom}–${report.walGap.missingTo}: nothing after ${report.walGap.archivedThrough} is restorable.`;
  $('#window-text').textContent = text;
}

function drawWal(samples) {
  const per = listing.walArchivedPerHour;
  const from = Date.parse(per.from);
  const max = Math.max(1, ...per.counts);
  let out = '';
  per.counts.forEach((c, i) => {
    const h = (c / max) * 100;
    out += `<rect x="${i * (1000 / 24) + 2}" y="${110 - h}" width="${1000 / 24 - 4}" height="${h}" fill="#5b8def"><title>${c} archived</title></rect>`;
  });
  const pts = samples.filter((s) => s.ready != null && Date.parse(s.at) >= from);
  const bmax = Math.max(1, ...pts.map((s) => s.ready));
  if (pts.length) {
    const line = pts.map(
      (s) => `${(((Date.parse(s.at) - from) / 86400000) * 1000).toFixed(1)},${(110 - (s.ready / bmax) * 100).toFixed(1)}`,
    );
    out += `<polyline points="${line.join(' ')}" fill="none" stroke="#e8710a" stroke-width="2"/>`;
  }
  $('#wal-chart').innerHTML = out;
  const lastHour = per.counts[per.counts.length - 1];
  const backlog = report && report.database && report.database.reachable && report.database.backlog ? report.database.backlog.ready : null;
  const last = report && report.lastArchived ? `, last archived ${secs(report.lastArchived.ageSeconds)} ago` : '';
  $('#wal-text').textContent =
    `${lastHour} WAL file(s) archived this hour, ${per.counts.reduce((a, b) => a + b, 0)} in 24 h (peak ${max}/h)${last}; ` +
    `backlog ${backlog == null ? 'unknown' : `${backlog} .ready`}${pts.length ? ` (peak ${bmax} since the agent started)` : ''}.`;
}

function verifiedOf(b) {
  const v = b.verified;
  if (!v) return '';
  return `<span class="${v.result}" title="verified ${esc(at(v.at))}">${v.result === 'passed' ? 'yes' : `failed (${v.problems})`}</span>`;
}
function restoreTestOf(b) {
  const t = report && report.lastRestoreTest;
  return t && t.backup === b.id
    ? `<span class="${t.result}">${esc(t.result)}${t.rtoSeconds != null ? `, RTO ${secs(t.rtoSeconds)}` : ''}</span>`
    : '';
}

function drawBackups() {
  const rows = [];
  for (let i = listing.backups.length - 1; i >= 0; i--) {
    const b = listing.backups[i];
    const f = b.files[0];
    rows.push(
      `<tr data-id="${esc(b.id)}"><td>${esc(b.id)}${b.walComplete ? '' : ' <span class="bad">WAL missing</span>'}</td><td>${esc(at(b.stopTime))}</td>` +
        `<td class="num">${secs(b.durationMs / 1000)}</td><td class="num">${bytes(f.size)}</td><td class="num">${bytes(f.storedSize)}${f.encryption ? ' <small>age</small>' : ''}</td>` +
        `<td>${verifiedOf(b)}</td><td>${b.pinned ? 'pinned' : ''}</td><td>${restoreTestOf(b)}</td><td><button type="button" class="get">get</button></td></tr>`,
    );
  }
  $('#backups tbody').innerHTML = rows.join('');
  $('#backup-count').textContent = `(${listing.backups.length})`;
}

function unpackCommand(f, dir) {
  const name = f.key.slice(f.key.lastIndexOf('/') + 1);
  const decompress = f.compression === 'lz4' ? ' | lz4 -d' : '';
  if (f.encryption === 'age') return `mkdir -p ${dir} && age -d -i key.txt ${name}${decompress} | tar -x -C ${dir}`;
  if (f.compression === 'lz4') return `mkdir -p ${dir} && lz4 -d < ${name} | tar -x -C ${dir}`;
  return `mkdir -p ${dir} && tar -x -f ${name} -C ${dir}`;
}

function showGet(id) {
  const b = listing.backups.find((x) => x.id === id);
  if (!b) return;
  const f = b.files[0];
  const name = f.key.slice(f.key.lastIndexOf('/') + 1);
  const url = `${location.origin}/api/backups/${encodeURIComponent(b.id)}/download`;
  const panel = $('#get-panel');
  panel.hidden = false;
  panel.innerHTML =
    `<strong>${esc(b.id)}</strong>: ${esc(name)}, ${bytes(f.storedSize)} stored${f.encryption ? ', encrypted with age' : ''}. ` +
    `<button type="button" id="download">Download</button> <button type="button" id="get-close">Close</button>` +
    `<p>Or with curl:</p><pre>curl -fH "Authorization: Bearer $PITR_HTTP_TOKEN" -o ${esc(name)} ${esc(url)}</pre>` +
    `<p>Unpack${f.encryption ? ' (key.txt: the age identity, see docs/encryption.md)' : ''}:</p><pre class="unpack">${esc(unpackCommand(f, 'restored'))}</pre>` +
    `<p>The tar is the data directory as of the backup; <code>pitr restore</code> also fetches the WAL it needs.</p>`;
  $('#download').onclick = () => download(b.id, name);
  $('#get-close').onclick = () => (panel.hidden = true);
}

// A one-use link asked for with the token: the browser streams the file to disk from it
// (fetching it with the header would hold the whole backup in memory).
async function download(id, name) {
  const res = await authorized(`/api/backups/${encodeURIComponent(id)}/download-link`, 'POST');
  if (!res) return;
  const a = document.createElement('a');
  a.href = (await res.json()).url;
  a.download = name;
  a.click();
}

// The token: asked once, kept in sessionStorage; forgotten when the agent refuses it.
function askToken() {
  return new Promise((resolve) => {
    const form = $('#token-form');
    form.hidden = false;
    $('#token').focus();
    form.onsubmit = (e) => {
      e.preventDefault();
      form.hidden = true;
      sessionStorage.setItem(TOKEN_KEY, $('#token').value.trim());
      $('#token').value = '';
      resolve(sessionStorage.getItem(TOKEN_KEY));
    };
    $('#token-cancel').onclick = () => {
      form.hidden = true;
      resolve(null);
    };
  });
}
async function authorized(path, method) {
  const err = $('#job-error');
  err.hidden = true;
  for (let attempt = 0; attempt < 2; attempt++) {
    const token = sessionStorage.getItem(TOKEN_KEY) || (await askToken());
    if (!token) return null;
    const res = await fetch(path, { method, headers: { Authorization: `Bearer ${token}` } });
    if (res.status === 401 || (res.status === 403 && attempt === 0 && !/read-only|no PITR_HTTP_TOKEN/.test(await res.clone().text()))) {
      sessionStorage.removeItem(TOKEN_KEY);
      continue;
    }
    if (!res.ok) {
      const body = await res.json().catch(() => ({}));
      err.textContent = body.error || `HTTP ${res.status}`;
      err.hidden = false;
      return null;
    }
    return res;
  }
  return null;
}

let watching = null;
async function start(kind) {
  const res = await authorized(kind === 'backup' ? '/api/backups' : '/api/restore-tests', 'POST');
  if (!res) return;
  watching = (await res.json()).id;
  await refreshHistory();
}

function drawHistory(jobs) {
  $('#history tbody').innerHTML = jobs.length ? '' : '<tr><td colspan="6">No job has run yet.</td></tr>';
  $('#history tbody').innerHTML += jobs
    .map(
      (j) =>
        `<tr data-job-id="${esc(j.id)}" data-status="${esc(j.status)}"><td>${esc(at(j.startedAt))}</td><td>${esc(j.kind)}</td>` +
        `<td class="${esc(j.status)}" title="${esc(j.error)}">${esc(j.status)}</td><td>${esc(j.trigger)}</td><td class="num">${secs(j.durationSeconds)}</td><td>${esc(j.id)}</td></tr>`,
    )
    .join('');
  const running = jobs.filter((j) => j.status === 'running' || j.status === 'waiting');
  const mine = watching && jobs.find((j) => j.id === watching);
  const p = $('#progress');
  if (running.length) {
    p.hidden = false;
    $('#progress-text').textContent = running
      .map((j) => `${j.kind} ${j.status}, started ${secs((Date.now() - Date.parse(j.startedAt)) / 1000)} ago`)
      .join('; ');
  } else if (mine) {
    p.hidden = true;
    watching = null;
    const err = $('#job-error');
    err.hidden = mine.status === 'passed';
    err.textContent = `${mine.kind} ${mine.status}${mine.error ? `: ${mine.error}` : ''}`;
    refreshAll();
  } else p.hidden = !watching;
  $('#backup-now').disabled = running.some((j) => j.kind === 'backup');
  $('#restore-test').disabled = running.some((j) => j.kind === 'restore-test');
  return running.length > 0 || Boolean(watching);
}

let historyTimer = null;
async function refreshHistory() {
  clearTimeout(historyTimer);
  let busy = Boolean(watching);
  try {
    busy = drawHistory((await getJson('/api/history?limit=30')).jobs);
  } catch (e) {
    $('#updated').textContent = String(e.message);
  }
  historyTimer = setTimeout(refreshHistory, busy ? 2000 : 30000);
}

async function refreshAll() {
  try {
    const [s, l, b] = await Promise.all([getJson('/api/status').catch(() => null), getJson('/api/backups'), getJson('/api/wal-backlog')]);
    if (s) showStatus(s);
    listing = l;
    drawWindow();
    drawWal(b.samples);
    drawBackups();
    $('#updated').textContent = `Updated ${new Date().toLocaleTimeString()}${s ? '' : ' (no health watch has ended yet)'}`;
  } catch (e) {
    $('#updated').textContent = `Cannot read the agent: ${e.message}`;
  }
}

document.addEventListener('DOMContentLoaded', () => {
  $('#backup-now').onclick = () => start('backup');
  $('#restore-test').onclick = () => start('restore-test');
  $('#backups tbody').onclick = (e) => {
    const row = e.target.closest('button.get') && e.target.closest('tr');
    if (row) showGet(row.dataset.id);
  };
  refreshAll();
  refreshHistory();
  setInterval(refreshAll, 60000);
});
