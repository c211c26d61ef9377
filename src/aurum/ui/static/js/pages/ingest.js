// Ingest and quality: files owed and received per vendor and as-of (the vendor schedule), the
// ingest runs with each one's conservation equation, quarantine reasons with sample cells, gate
// outcomes over time, a day's versions and what changed between two, dead letters, open alerts.
// The operator's routes need the ops or admin role; a view the caller may not see says so.
//
// URL state: vendor, from, to (as-of range), run (an ingest run id), day (an as-of of `vendor`),
// a, b (two versions of that day).

import { all, cachedGet, get } from '../api.js';
import { chart, tooltip } from '../charts.js';
import { badge, field, fill, fmt, h, kpi, loading, notice, problem, select, table } from '../dom.js';
import { link, update } from '../state.js';

export const TITLE = 'Ingest and quality';

// a state's badge: a colour of the palette and always its name (failed: solid, missing: dashed)
const STATES = { published: 'good', in_progress: 'warn', pending: '', failed: 'bad', missing: 'bad missing' };
const DAY_MS = 86400000;

export async function render(main, params, ctx) {
  main.append(h('h1', {}, 'Ingest and quality'));
  const vendors = (await cachedGet('/v1/metadata/vendors')).data;
  if (!ctx.current()) return;
  const newest = vendors.map((v) => v.last_asof).sort().pop();
  const to = params.to || newest || new Date().toISOString().slice(0, 10);
  const from = params.from || new Date(Date.parse(to) - 13 * DAY_MS).toISOString().slice(0, 10);
  const vendor = params.vendor || '';
  main.append(h('div', { class: 'controls panel' },
    field('Vendor', select('vendor', [['', 'all'], ...vendors.map((v) => v.vendor)], vendor, (v) => update({ vendor: v, day: null, a: null, b: null }))),
    field('From', dateInput('from', from)), field('To', dateInput('to', to)),
    h('nav', { class: 'jump', 'aria-label': 'Sections' }, ['files', 'runs', 'gates', 'versions', 'quarantine', 'dead-letters', 'alerts'].map((id) => h('a', { href: `#${id}` }, id.replace('-', ' '))))));
  const scope = { vendor: vendor || undefined, from, to };
  const sections = {
    files: h('section', { class: 'panel', id: 'files' }, h('h2', {}, 'Files owed and received'), loading()),
    runs: h('section', { class: 'panel', id: 'runs' }, h('h2', {}, 'Ingest runs'), loading()),
    gates: h('section', { class: 'panel', id: 'gates' }, h('h2', {}, 'Gate outcomes over time'), loading()),
    versions: h('section', { class: 'panel', id: 'versions' }, h('h2', {}, 'Versions of a day'), loading()),
    quarantine: h('section', { class: 'panel', id: 'quarantine' }, h('h2', {}, 'Quarantined cells'), loading()),
    deadLetters: h('section', { class: 'panel', id: 'dead-letters' }, h('h2', {}, 'Dead letters'), loading()),
    alerts: h('section', { class: 'panel', id: 'alerts' }, h('h2', {}, 'Open alerts'), loading()),
  };
  main.append(...Object.values(sections));
  const guard = (section, what, work) => work().catch((error) => {
    if (ctx.current()) fill(section, section.firstChild, problem(error, what));
  });
  await Promise.all([
    guard(sections.files, 'The file schedule', () => files(sections.files, scope, params, ctx)),
    guard(sections.runs, 'The ingest log', () => runs(sections.runs, vendor, params, ctx)),
    guard(sections.gates, 'The gate history', () => gates(sections.gates, scope, params, ctx)),
    guard(sections.versions, 'The versions', () => versions(sections.versions, vendors, vendor, params, ctx)),
    guard(sections.quarantine, 'The quarantine', () => quarantine(sections.quarantine, vendor, params, ctx)),
    guard(sections.deadLetters, 'The dead letters', () => deadLetters(sections.deadLetters, scope, ctx)),
    guard(sections.alerts, 'The alerts', () => alerts(sections.alerts, vendor, ctx)),
  ]);
  // the sections are drawn now: the URL's #section (a jump link, a shared link) can be shown
  const target = ctx.current() && location.hash && document.getElementById(decodeURIComponent(location.hash.slice(1)));
  if (target) target.scrollIntoView({ block: 'start' });
}

/** This page's link with `patch` applied to its state, opening at `section`. */
function here(params, patch, section) {
  return `${link('ingest', { ...params, ...patch })}#${section}`;
}

function dateInput(name, value) {
  const input = h('input', { type: 'date', id: `f-${name}`, name, value });
  input.addEventListener('change', () => { if (input.value) update({ [name]: input.value }); });
  return input;
}

async function files(section, scope, params, ctx) {
  const answer = await get('/v1/operations/files', scope);
  if (!ctx.current()) return;
  const states = answer.meta.states || {};
  const owed = answer.data.filter((d) => d.expected);
  const vendors = [...new Set(answer.data.map((d) => d.vendor))].sort();
  const days = [...new Set(answer.data.map((d) => d.asof_date))].sort();
  const cell = new Map(answer.data.map((d) => [`${d.vendor}|${d.asof_date}`, d]));
  const grid = h('table', { id: 'files-grid' },
    h('caption', {}, 'Each vendor\u2019s business days: the state of its delivery (cut-off in the vendor\u2019s time zone)'),
    h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Vendor'), days.map((d) => h('th', { scope: 'col' }, d.slice(5))))),
    h('tbody', {}, vendors.map((v) => h('tr', {}, h('th', { scope: 'row' }, v), days.map((d) => {
      const x = cell.get(`${v}|${d}`);
      if (!x || !x.expected) return h('td', { class: 'off', title: 'not a business day' }, '·');
      const names = x.files.map((f) => `${f.file} (${f.error_code || f.status})`).join(', ');
      const text = x.state === 'published' ? `v${x.version}` : x.state.replace('_', ' ');
      const title = `${v} ${d}: ${x.state}${x.version ? ` v${x.version}` : ''}${x.late ? ', late' : ''}${names ? ` · ${names}` : ''}`;
      // a published day opens its versions; a failed one, its last run
      const last = x.files[x.files.length - 1];
      const target = x.state === 'published' ? here(params, { vendor: v, day: d, a: null, b: null }, 'versions')
        : last ? here(params, { run: last.run_id }, 'runs') : null;
      const shown = badge(text, STATES[x.state] || '');
      return h('td', { class: `state ${x.state}`, title, dataset: { day: d, state: x.state } },
        target ? h('a', { href: target, 'aria-label': title }, shown) : shown, x.late ? h('span', { class: 'late' }, ' late') : null);
    })))));
  fill(section, section.firstChild,
    h('div', { class: 'kpis' }, kpi('Owed', fmt.int(owed.length)), kpi('Published', fmt.int(states.published ?? 0)),
      kpi('Missing', fmt.int(states.missing ?? 0)), kpi('Failed', fmt.int(states.failed ?? 0)), kpi('Overdue', fmt.int(answer.meta.overdue ?? 0))),
    days.length ? h('div', { class: 'table-wrap short' }, grid) : notice('empty', 'No business days in this range.', 'Widen the dates above.'),
    days.length ? h('p', { class: 'sub legend' }, 'v1, v2…: published (the version now current; click for the day\u2019s versions) · failed: files came, none published (click for the run) · missing: nothing came by the cut-off · pending: before the cut-off · ·: not a business day') : null);
}

/** The conservation equation of a run: price cells = published + quarantined + copies + dead-lettered. */
export function conservation(run) {
  // a run the gates blocked staged its rows on a branch: they are not on main
  const held = (run.gate_failures || []).length && run.status !== 'published';
  const parts = [[held ? 'staged (held by the gates)' : 'published', run.published_cells], ['quarantined', run.quarantined_cells], ['verified copies', run.copy_cells], ['dead-lettered', run.dead_letter_cells]];
  const sum = parts.reduce((total, [, n]) => total + (n || 0), 0);
  const holds = sum === run.price_cells;
  return h('p', { class: `equation ${holds ? 'holds' : 'broken'}`, id: 'conservation' },
    `${fmt.int(run.price_cells)} price cells = `, parts.map(([label, n], i) => [i ? ' + ' : '', h('strong', {}, fmt.int(n || 0)), ` ${label}`]),
    holds ? ' ✓' : ` ✗ (the parts make ${fmt.int(sum)})`);
}

async function runs(section, vendor, params, ctx) {
  const list = (await get('/v1/ingest/runs', { vendor: vendor || undefined, limit: 100 })).data;
  if (!ctx.current()) return;
  const chosen = list.find((r) => r.run_id === params.run) || null;
  fill(section, section.firstChild,
    h('p', { class: 'sub' }, 'The newest 100 runs, whatever their as-of (the dates above filter the files and the gates). Enter or a click shows a run\u2019s conservation equation, the gates that fired and its quarantined cells.'),
    table({
      id: 'run-table', short: true, rows: list, empty: 'No ingest runs yet: aurum ingest FOLDER or POST /v1/ingest.',
      onPick: (r) => update({ run: r.run_id }), selected: (r) => chosen && r.run_id === chosen.run_id,
      columns: [
        { key: 'file', label: 'File' }, { key: 'vendor', label: 'Vendor' }, { key: 'asof', label: 'As-of' },
        { key: 'status', label: 'Status', cell: (r) => badge(r.status, r.status === 'published' ? 'good' : ['failed', 'dead_letter', 'held'].includes(r.status) ? 'bad' : '') },
        { key: 'version', label: 'v', num: true },
        { key: 'rows', label: 'Rows', num: true, format: fmt.int },
        { key: 'quarantined', label: 'Quarantined', num: true, format: fmt.int },
        { key: 'error_code', label: 'Error / gates', cell: (r) => r.error_code || ((r.gate_failures || []).length ? badge(`blocked: ${r.gate_failures.join(', ')}`, 'bad') : '') },
        { key: 'finished_at', label: 'Finished', format: fmt.time },
      ],
    }),
    chosen ? runDetail(chosen, params) : (params.run ? notice('empty', 'That run is not among the newest 100 of this vendor.', 'Choose a run above.') : null));
}

function runDetail(run, params) {
  const fired = (run.gates || []).filter((g) => g.failed);
  const blocked = run.gate_failures || [];
  return h('div', { id: 'run-detail' },
    h('h3', {}, `${run.file} · ${run.status}${run.tag ? ` · ${run.tag}` : ''}`),
    conservation(run),
    run.error_message ? notice('error', run.error_code || 'error', run.error_message) : null,
    blocked.length ? notice('warn', `The gates blocked this publish: ${blocked.join(', ')}.`,
      `Main is unchanged${run.branch ? `; the day is staged on branch ${run.branch} for inspection` : ''}. `,
      'Ask the vendor for a corrected file and ingest it again, or set the gate to warn (AURUM_GATES__…).') : null,
    fired.length ? table({ id: 'run-gates', rows: fired, columns: [
      { key: 'rule', label: 'Gate' }, { key: 'severity', label: 'Severity' },
      { key: 'failed', label: 'Failed', num: true, format: fmt.int }, { key: 'checked', label: 'Checked', num: true, format: fmt.int },
      { key: 'sample_keys', label: 'Examples', cell: (g) => examples(g.sample_keys) },
    ] }) : h('p', { class: 'sub' }, 'No day-over-day gate fired.'),
    h('p', { class: 'links' },
      run.quarantined ? h('a', { href: '#quarantine' }, `its ${fmt.int(run.quarantined)} quarantined rows`) : null,
      run.asof && run.version ? h('a', { href: here(params, { vendor: run.vendor, day: run.asof, a: null, b: null }, 'versions') }, `the versions of ${run.vendor} ${run.asof}`) : null,
      h('a', { href: here(params, { run: null }, 'runs') }, 'close')));
}

async function gates(section, scope, params, ctx) {
  const rows = (await all('/v1/operations/gates', scope, 20000)).data;
  if (!ctx.current()) return;
  if (!rows.length) {
    fill(section, section.firstChild, notice('empty', 'No gate outcomes in this range.', 'Widen the dates, or ingest a day.'));
    return;
  }
  const days = [...new Set(rows.map((r) => r.asof_date))].sort();
  const failed = new Map(); // rule -> as-of -> cells (or curves) failed, summed over vendors
  for (const r of rows.filter((x) => x.failed)) {
    const name = `${r.stage}: ${r.rule} (${r.severity})`;
    if (!failed.has(name)) failed.set(name, new Map());
    const byDay = failed.get(name);
    byDay.set(r.asof_date, (byDay.get(r.asof_date) || 0) + r.failed);
  }
  const rules = new Set(rows.map((r) => `${r.stage}:${r.rule}`));
  // the days' latest outcomes that found something, and the days where an earlier run did
  const found = rows.filter((r) => r.failed || r.runs_failed);
  const el = h('div', { class: 'chart small', id: 'gates-chart', role: 'img', 'aria-label': 'Rows or curves failing each rule and gate per as-of day (log scale); the table below lists them' });
  // one bar per rule and day, on a log axis: a jump over 300 curves and one text cell both show
  const series = [...failed].sort(([x], [y]) => x.localeCompare(y)).map(([name, byDay]) => ({
    name, type: 'bar', barMaxWidth: 28, barMinHeight: 4, data: days.map((d) => byDay.get(d) ?? null),
    label: { show: true, position: 'top', fontSize: 11, formatter: (p) => fmt.int(p.value) },
  }));
  fill(section, section.firstChild,
    h('p', { class: 'sub' }, `${rules.size} rules and gates on ${days.length} as-of ${days.length === 1 ? 'day' : 'days'}; each day shows its latest run (a corrected day, its correction). ${found.length} ${found.length === 1 ? 'outcome' : 'outcomes'} found something.`),
    series.length ? el : notice('info', 'Every rule and gate passed in this range.'),
    table({ id: 'gates-table', short: true, rows: found, empty: 'No rule or gate found anything in this range.', columns: [
      { key: 'asof_date', label: 'As-of' }, { key: 'vendor', label: 'Vendor' }, { key: 'stage', label: 'Stage' },
      { key: 'rule', label: 'Rule' },
      { key: 'severity', label: 'Severity', cell: (r) => badge(r.severity, r.severity === 'fail' ? 'bad' : r.severity === 'quarantine' ? 'warn' : '') },
      { key: 'failed', label: 'Failed', num: true, format: fmt.int }, { key: 'checked', label: 'Checked', num: true, format: fmt.int },
      { key: 'runs_failed', label: 'Runs that found some', num: true, format: (v, r) => `${fmt.int(v)} of ${fmt.int(r.runs)}` },
      { key: 'sample_keys', label: 'Examples', cell: (r) => examples(r.sample_keys) },
      { key: 'run_id', label: 'Latest run', cell: (r) => h('a', { href: here(params, { run: r.run_id }, 'runs') }, r.run_id.slice(0, 8)) },
    ] }));
  if (series.length) {
    chart(el, {
      legend: { top: 0, type: 'scroll' }, tooltip: tooltip({ format: (v) => fmt.int(v) }),
      grid: { left: 56, right: 16, top: 32, bottom: 32 },
      xAxis: { type: 'category', data: days },
      // bars rise from 1 on a log axis: one failed cell is a short bar, its number above it
      yAxis: { type: 'log', min: 1, logBase: 10, name: 'failed (log)' },
      series,
    });
  }
}

/** A rule's sample keys: the first in the cell, every one on hover. */
function examples(keys) {
  const list = keys || [];
  return h('span', { class: 'examples', title: list.join('\n') }, list.slice(0, 2).join('; '));
}

async function versions(section, vendors, vendor, params, ctx) {
  const which = vendor || (vendors[0] && vendors[0].vendor);
  if (!which) { fill(section, section.firstChild, notice('empty', 'Nothing published yet.')); return; }
  const dates = (await cachedGet('/v1/metadata/asof-dates', { vendor: which })).data;
  if (!ctx.current()) return;
  const several = dates.filter((d) => d.version > 1).map((d) => d.asof_date);
  const day = dates.some((d) => d.asof_date === params.day) ? params.day : (several.pop() || (dates.length ? dates[dates.length - 1].asof_date : null));
  if (!day) { fill(section, section.firstChild, notice('empty', `${which} has no published day.`)); return; }
  const list = (await get(`/v1/operations/days/${which}/${day}/versions`)).data;
  if (!ctx.current()) return;
  const numbers = list.map((v) => v.version).sort((x, y) => x - y);
  const b = numbers.includes(Number(params.b)) ? Number(params.b) : numbers[numbers.length - 1];
  const a = numbers.includes(Number(params.a)) && Number(params.a) !== b ? Number(params.a) : numbers.filter((n) => n < b).pop();
  const parts = [
    h('div', { class: 'controls' },
      field('Day', select('day', [...dates].reverse().map((d) => [d.asof_date, `${d.asof_date}${d.version > 1 ? ` (v${d.version})` : ''}`]), day, (v) => update({ vendor: which, day: v, a: null, b: null }), { id: 'f-day' })),
      a ? field('Version A', select('a', numbers.filter((n) => n !== b), a, (v) => update({ vendor: which, day, a: v }), { id: 'f-a' })) : null,
      a ? field('Version B', select('b', numbers, b, (v) => update({ vendor: which, day, b: v }), { id: 'f-b' })) : null),
    table({ id: 'version-table', short: true, rows: list, columns: [
      { key: 'version', label: 'Version', num: true }, { key: 'tag', label: 'Tag' }, { key: 'file', label: 'File' },
      { key: 'rows', label: 'Rows', num: true, format: fmt.int }, { key: 'published_at', label: 'Published', format: fmt.time },
      { key: 'current', label: 'Current', format: (v) => (v ? 'yes' : '') },
    ] }),
  ];
  if (!a) {
    parts.push(h('p', { class: 'sub' }, `${which} ${day} has one version: nothing changed since it was published.`));
    fill(section, section.firstChild, ...parts);
    return;
  }
  const changes = await all(`/v1/operations/days/${which}/${day}/diff`, { from: a, to: b }, 5000);
  if (!ctx.current()) return;
  const m = changes.meta;
  parts.push(h('h3', {}, `What changed from v${a} to v${b}`),
    h('p', { class: 'sub', id: 'version-counts' }, `${fmt.int(m.changed ?? 0)} tenors changed, ${fmt.int(m.added ?? 0)} added, ${fmt.int(m.removed ?? 0)} removed, ${fmt.int(m.unchanged ?? 0)} unchanged`),
    table({
    id: 'version-diff', rows: changes.data, empty: 'No value changed between these versions.',
    columns: [
      { key: 'status', label: 'Change' }, { key: 'location', label: 'Location' }, { key: 'product', label: 'Product' },
      { key: 'block', label: 'Block' }, { key: 'tenor_label', label: 'Tenor' },
      { key: 'mid_from', label: `v${a}`, num: true, format: fmt.price }, { key: 'mid_to', label: `v${b}`, num: true, format: fmt.price },
      { key: 'change', label: 'Change', num: true, format: (v) => fmt.signed(v, 4) },
    ],
  }));
  fill(section, section.firstChild, ...parts);
}

async function quarantine(section, vendor, params, ctx) {
  const answer = await get('/v1/operations/quarantine', { vendor: vendor || undefined, run_id: params.run || undefined, limit: 500 });
  if (!ctx.current()) return;
  const reasons = new Map();
  for (const r of answer.data) reasons.set(r.quarantine_reason, (reasons.get(r.quarantine_reason) || 0) + 1);
  fill(section, section.firstChild,
    h('p', { class: 'sub' }, params.run ? `Of run ${params.run.slice(0, 8)}.` : 'Newest first; pick a run above to see only its cells.'),
    answer.data.length ? h('div', { class: 'badges', id: 'quarantine-reasons' }, [...reasons].map(([reason, n]) => badge(`${reason}: ${n}`, 'warn'))) : null,
    table({ id: 'quarantine-table', short: true, rows: answer.data, empty: 'Nothing quarantined: every price cell was published or verified as a copy.', columns: [
      { key: 'quarantine_reason', label: 'Reason' }, { key: 'vendor', label: 'Vendor' }, { key: 'asof_date', label: 'As-of' },
      { key: 'source_cell', label: 'Cell' }, { key: 'location', label: 'Location' }, { key: 'tenor_label', label: 'Tenor' },
      { key: 'raw_mid', label: 'Raw mid' }, { key: 'raw_bidask', label: 'Raw bid/ask' }, { key: 'source_file', label: 'File' },
    ] }));
}

async function deadLetters(section, scope, ctx) {
  // newest first, whatever the as-of range: a file that could not be read may have no as-of
  const answer = await get('/v1/operations/dead-letters', { vendor: scope.vendor, limit: 200 });
  if (!ctx.current()) return;
  fill(section, section.firstChild, h('p', { class: 'sub' }, 'Files that were not ingested at all, newest first, with the reason.'), table({
    id: 'dead-letter-table', short: true, rows: answer.data, empty: 'No dead letters: every file was read.',
    columns: [
      { key: 'error_code', label: 'Code' }, { key: 'message', label: 'Reason' }, { key: 'vendor', label: 'Vendor' },
      { key: 'file', label: 'File' }, { key: 'failed_at', label: 'When', format: fmt.time },
    ],
  }));
}

async function alerts(section, vendor, ctx) {
  const rank = { critical: 0, warning: 1 };
  const list = (await get('/v1/observability/alerts', { state: 'open', limit: 100 })).data
    .filter((a) => !vendor || !a.vendor || a.vendor === vendor)
    .sort((x, y) => (rank[x.severity] ?? 2) - (rank[y.severity] ?? 2) || String(y.raised_at).localeCompare(String(x.raised_at)));
  if (!ctx.current()) return;
  fill(section, section.firstChild, table({
    id: 'alert-table', short: true, rows: list, empty: 'No open alerts.',
    columns: [
      { key: 'severity', label: 'Severity', cell: (a) => badge(a.severity, a.severity === 'critical' ? 'bad' : 'warn') },
      { key: 'kind', label: 'Kind' }, { key: 'vendor', label: 'Vendor' }, { key: 'summary', label: 'What' },
      { key: 'count', label: 'Seen', num: true }, { key: 'raised_at', label: 'Raised', format: fmt.time },
    ],
  }));
}
