// Ingest and quality: files owed and received per vendor and as-of (the vendor schedule), the
// ingest runs with each one's conservation equation, quarantine reasons with sample cells, gate
// outcomes over time, a day's versions and what changed between two, dead letters, open alerts.
// The operator's routes need the ops or admin role; a view the caller may not see says so.
//
// URL state: vendor, from, to (as-of range), run (an ingest run id), day (an as-of of `vendor`),
// a, b (two versions of that day).

import { all, cachedGet, get } from '../api.js';
import { chart, PALETTE, tooltip } from '../charts.js';
import { badge, field, fill, fmt, h, kpi, loading, notice, problem, select, table } from '../dom.js';
import { link, update } from '../state.js';

export const TITLE = 'Ingest and quality';

const STATES = { published: 'good', in_progress: 'warn', pending: '', failed: 'bad', missing: 'bad' };
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
    guard(sections.files, 'The file schedule', () => files(sections.files, scope, ctx)),
    guard(sections.runs, 'The ingest log', () => runs(sections.runs, vendor, params, ctx)),
    guard(sections.gates, 'The gate history', () => gates(sections.gates, scope, ctx)),
    guard(sections.versions, 'The versions', () => versions(sections.versions, vendors, vendor, params, ctx)),
    guard(sections.quarantine, 'The quarantine', () => quarantine(sections.quarantine, vendor, params, ctx)),
    guard(sections.deadLetters, 'The dead letters', () => deadLetters(sections.deadLetters, scope, ctx)),
    guard(sections.alerts, 'The alerts', () => alerts(sections.alerts, vendor, ctx)),
  ]);
}

function dateInput(name, value) {
  const input = h('input', { type: 'date', id: `f-${name}`, name, value });
  input.addEventListener('change', () => { if (input.value) update({ [name]: input.value }); });
  return input;
}

async function files(section, scope, ctx) {
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
      const names = x.files.map((f) => f.file || f.name || '').filter(Boolean).join(', ');
      return h('td', { class: `state ${x.state}`, title: `${x.state}${x.version ? ` v${x.version}` : ''}${names ? `: ${names}` : ''}${x.late ? ' (late)' : ''}` },
        badge(x.state === 'published' ? `v${x.version}` : x.state, STATES[x.state] || ''));
    })))));
  fill(section, section.firstChild,
    h('div', { class: 'kpis' }, kpi('Owed', fmt.int(owed.length)), kpi('Published', fmt.int(states.published ?? 0)),
      kpi('Missing', fmt.int(states.missing ?? 0)), kpi('Failed', fmt.int(states.failed ?? 0)), kpi('Overdue', fmt.int(answer.meta.overdue ?? 0))),
    days.length ? h('div', { class: 'table-wrap short' }, grid) : notice('empty', 'No business days in this range.', 'Widen the dates above.'));
}

/** The conservation equation of a run: price cells = published + quarantined + copies + dead-lettered. */
export function conservation(run) {
  const parts = [['published', run.published_cells], ['quarantined', run.quarantined_cells], ['verified copies', run.copy_cells], ['dead-lettered', run.dead_letter_cells]];
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
    h('p', { class: 'sub' }, 'Newest first. Enter or a click shows a run\u2019s conservation equation and the gates that fired.'),
    table({
      id: 'run-table', short: true, rows: list, empty: 'No ingest runs yet: aurum ingest FOLDER or POST /v1/ingest.',
      onPick: (r) => update({ run: r.run_id }), selected: (r) => chosen && r.run_id === chosen.run_id,
      columns: [
        { key: 'file', label: 'File' }, { key: 'vendor', label: 'Vendor' }, { key: 'asof', label: 'As-of' },
        { key: 'status', label: 'Status', cell: (r) => badge(r.status, r.status === 'published' ? 'good' : ['failed', 'dead_letter', 'held'].includes(r.status) ? 'bad' : '') },
        { key: 'version', label: 'v', num: true },
        { key: 'rows', label: 'Rows', num: true, format: fmt.int },
        { key: 'quarantined', label: 'Quarantined', num: true, format: fmt.int },
        { key: 'error_code', label: 'Error' },
        { key: 'finished_at', label: 'Finished', format: fmt.time },
      ],
    }),
    chosen ? runDetail(chosen) : null);
}

function runDetail(run) {
  const fired = (run.gates || []).filter((g) => g.failed);
  return h('div', { id: 'run-detail' },
    h('h3', {}, `${run.file} · ${run.status}${run.tag ? ` · ${run.tag}` : ''}`),
    conservation(run),
    run.error_message ? notice('error', run.error_code || 'error', run.error_message) : null,
    fired.length ? table({ id: 'run-gates', rows: fired, columns: [
      { key: 'rule', label: 'Gate' }, { key: 'severity', label: 'Severity' },
      { key: 'failed', label: 'Failed', num: true, format: fmt.int }, { key: 'checked', label: 'Checked', num: true, format: fmt.int },
      { key: 'sample_keys', label: 'Examples', format: (v) => (v || []).slice(0, 3).join('; ') },
    ] }) : h('p', { class: 'sub' }, 'No gate fired.'),
    h('p', {}, h('a', { href: link('ingest', { vendor: run.vendor, day: run.asof }) + '#versions' }, `the versions of ${run.vendor} ${run.asof}`)));
}

async function gates(section, scope, ctx) {
  const rows = (await all('/v1/operations/gates', scope, 20000)).data;
  if (!ctx.current()) return;
  if (!rows.length) {
    fill(section, section.firstChild, notice('empty', 'No gate outcomes in this range.', 'Widen the dates, or ingest a day.'));
    return;
  }
  const days = [...new Set(rows.map((r) => r.asof_date))].sort();
  const rules = [...new Set(rows.map((r) => `${r.stage}:${r.rule}`))].sort();
  const failed = new Map();
  for (const r of rows) {
    const key = `${r.stage}:${r.rule}|${r.asof_date}`;
    failed.set(key, (failed.get(key) || 0) + (r.failed || 0));
  }
  const el = h('div', { class: 'chart small', id: 'gates-chart', role: 'img', 'aria-label': 'Cells failing each rule and gate per as-of; the table lists them' });
  const series = rules.map((rule) => ({ name: rule, type: 'bar', stack: 'failed', data: days.map((d) => failed.get(`${rule}|${d}`) || 0) }))
    .filter((s) => s.data.some((v) => v));
  const failures = rows.filter((r) => r.failed);
  fill(section, section.firstChild,
    h('p', { class: 'sub' }, `${rules.length} rules and gates checked on ${days.length} as-of days; ${failures.length} outcomes with failures.`),
    series.length ? el : notice('info', 'Every rule and gate passed in this range.'),
    table({ id: 'gates-table', short: true, rows: failures, empty: 'No failures.', columns: [
      { key: 'asof_date', label: 'As-of' }, { key: 'vendor', label: 'Vendor' }, { key: 'stage', label: 'Stage' },
      { key: 'rule', label: 'Rule' }, { key: 'severity', label: 'Severity' },
      { key: 'failed', label: 'Failed', num: true, format: fmt.int }, { key: 'checked', label: 'Checked', num: true, format: fmt.int },
      { key: 'sample_keys', label: 'Examples', format: (v) => (v || []).slice(0, 2).join('; ') },
    ] }));
  if (series.length) {
    chart(el, {
      legend: { top: 0, type: 'scroll' }, tooltip: tooltip({ format: (v) => fmt.int(v) }),
      grid: { left: 56, right: 16, top: 32, bottom: 32 },
      xAxis: { type: 'category', data: days }, yAxis: { type: 'value', name: 'cells failed' }, series,
      color: PALETTE,
    });
  }
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
  const list = (await get('/v1/observability/alerts', { state: 'open', limit: 100 })).data
    .filter((a) => !vendor || !a.vendor || a.vendor === vendor);
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
