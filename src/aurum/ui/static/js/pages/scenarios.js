// Scenarios: the tenant's scenarios and their runs; run one and watch its progress; for a
// published run, a fan chart of its bands around the base curve and the attribution of a
// tenor's move to each assumption (a waterfall), with the rows beneath.
//
// URL state: scenario, run, curve (a curve key of the run), tenor (a tenor label).

import { all, cachedGet, get, post } from '../api.js';
import { band, chart, escape, PALETTE, tooltip, zoom } from '../charts.js';
import { badge, field, fill, fmt, h, loading, notice, problem, select, table } from '../dom.js';
import { link, update } from '../state.js';
import { curveName } from './curves.js';

export const TITLE = 'Scenarios';

const FINAL = new Set(['published', 'failed', 'cancelled']);
const MOVERS = 400;

export async function render(main, params, ctx) {
  main.append(h('h1', {}, 'Scenarios'));
  const scenarios = (await get('/v1/scenarios', { limit: 200 })).data;
  if (!ctx.current()) return;
  if (!scenarios.length) {
    main.append(notice('empty', 'No scenarios yet.', 'Create one with ', h('code', {}, 'aurum scenario create FILE.json'),
      ' (see examples/scenarios/) or POST /v1/scenarios; it then appears here to run.'));
    return;
  }
  const chosen = scenarios.find((s) => s.id === params.scenario) || scenarios[0];
  const right = h('section', { id: 'scenario-view', 'aria-label': 'The chosen scenario' });
  main.append(h('div', { class: 'grid2' },
    h('section', { class: 'panel', 'aria-label': 'Scenarios' }, table({
      id: 'scenario-list', short: true, rows: scenarios, caption: `${scenarios.length} scenarios`,
      onPick: (s) => update({ scenario: s.id, run: null, curve: null, tenor: null }),
      selected: (s) => s.id === chosen.id,
      columns: [
        { key: 'name', label: 'Scenario', cell: (s) => h('a', { href: link('scenarios', { scenario: s.id }) }, s.name) },
        { key: 'version', label: 'Version', num: true },
        { key: 'updated_at', label: 'Changed', format: fmt.time },
      ],
    })),
    right));
  await scenarioView(right, chosen, params, ctx);
}

async function scenarioView(view, scenario, params, ctx) {
  const runs = (await get(`/v1/scenarios/${scenario.id}/runs`, { limit: 50 })).data;
  if (!ctx.current()) return;
  const run = runs.find((r) => r.id === params.run) || runs.find((r) => r.status === 'published');
  const status = h('div', { id: 'run-status', 'aria-live': 'polite' });
  const launch = h('button', { type: 'button', id: 'run-now', onclick: () => start(scenario, status, launch) }, 'Run now');
  view.append(h('div', { class: 'panel' },
    h('h2', { id: 'scenario-title' }, scenario.name),
    scenario.description ? h('p', { class: 'sub' }, scenario.description) : null,
    h('div', { class: 'controls' }, launch, h('span', { class: 'sub' }, `version ${scenario.version}; a run on a worker (aurum worker)`)),
    status,
    table({
      id: 'run-list', short: true, rows: runs, empty: 'No runs yet: "Run now" queues one.',
      onPick: (r) => update({ run: r.id, curve: null, tenor: null }),
      selected: (r) => run && r.id === run.id,
      columns: [
        { key: 'id', label: 'Run', cell: (r) => h('span', { class: 'mono' }, r.id.slice(0, 8)) },
        { key: 'status', label: 'Status', cell: (r) => badge(r.status, r.status === 'published' ? 'good' : r.status === 'failed' ? 'bad' : 'warn') },
        { key: 'version', label: 'Version', num: true },
        { key: 'finished_at', label: 'Finished', format: fmt.time },
        { key: 'result', label: 'Curves', num: true, format: (v) => (v && v.curves !== undefined ? fmt.int(v.curves) : '') },
      ],
    })));
  if (!run) return;
  if (run.status !== 'published') {
    view.append(notice(run.status === 'failed' ? 'error' : 'info', `Run ${run.id.slice(0, 8)} is ${run.status}.`,
      run.error_message || 'Its curves appear here once it is published.'));
    return;
  }
  const body = h('div', { class: 'panel', id: 'run-view' }, loading('Reading the run…'));
  view.append(body);
  try {
    await runView(body, scenario, run, params, ctx);
  } catch (error) {
    if (ctx.current()) fill(body, problem(error, 'The run'));
  }
}

/** Queue a run, then poll it until it is published, failed or cancelled. */
async function start(scenario, status, launch) {
  launch.disabled = true;
  let run;
  try {
    run = (await post(`/v1/scenarios/${scenario.id}/run`, {})).data[0];
  } catch (error) {
    fill(status, problem(error, 'Starting the run'));
    launch.disabled = false;
    return;
  }
  const bar = h('progress', { class: 'progress', id: 'run-progress', max: 1, value: 0, 'aria-label': 'Run progress' });
  const text = h('span', { id: 'run-progress-text' });
  const cancel = h('button', { type: 'button', class: 'quiet', id: 'run-cancel', onclick: async () => {
    cancel.disabled = true;
    try { await post(`/v1/scenarios/${scenario.id}/runs/${run.id}/cancel`, {}); } catch (error) { status.append(problem(error, 'Cancelling')); }
  } }, 'Cancel');
  fill(status, h('div', { class: 'controls' }, bar, text, cancel));
  while (document.body.contains(status)) {
    const p = run.progress || {};
    bar.max = p.total || 1;
    bar.value = p.done || 0;
    bar.setAttribute('aria-valuenow', String(p.done || 0));
    text.textContent = `${run.id.slice(0, 8)}: ${run.status} · ${p.done || 0} of ${p.total || '?'}${p.stage ? ` · ${p.stage}` : ''}`;
    if (FINAL.has(run.status)) break;
    await new Promise((resolve) => setTimeout(resolve, 400));
    run = (await get(`/v1/scenarios/${scenario.id}/runs/${run.id}`)).data[0];
  }
  if (!document.body.contains(status)) return;
  if (run.status === 'published') update({ run: run.id, curve: null, tenor: null });
  else {
    cancel.remove();
    status.append(notice(run.status === 'failed' ? 'error' : 'warn', `The run is ${run.status}.`, run.error_message || ''));
    launch.disabled = false;
  }
}

async function runView(body, scenario, run, params, ctx) {
  // the run's curves, largest move first (its diff against its own base)
  const moved = (await cachedGet('/v1/curves/diff', { scenario_run: run.id, sort: 'abs_change', top: MOVERS, limit: MOVERS })).data;
  if (!ctx.current()) return;
  const curves = [];
  const seen = new Set();
  for (const r of moved) if (!seen.has(r.curve_key)) { seen.add(r.curve_key); curves.push(r); }
  if (!curves.length) {
    fill(body, notice('empty', 'This run moved no curve.', 'Its assumptions matched nothing in its base days: check their filters.'));
    return;
  }
  const key = seen.has(params.curve) ? params.curve : curves[0].curve_key;
  const rows = (await all(`/v1/scenarios/${scenario.id}/runs/${run.id}/outputs`, { curve_key: key }, 20000, { cached: true })).data;
  if (!ctx.current()) return;
  const monthly = rows.filter((r) => r.tenor_type === 'MONTHLY');
  const identity = rows[0] || curves[0];
  const names = [...new Set(rows.flatMap((r) => Object.keys(parse(r.attribution))))];
  const moves = monthly.filter((r) => r.value !== r.base_value);
  const pick = monthly.find((r) => r.tenor_label === params.tenor)
    || [...moves].sort((a, b) => Math.abs(b.value - b.base_value) - Math.abs(a.value - a.base_value))[0] || monthly[0];
  const fan = h('div', { class: 'chart', id: 'fan-chart', role: 'img', 'aria-label': 'Base curve, scenario curve and its bands' });
  const fall = h('div', { class: 'chart small', id: 'waterfall', role: 'img', 'aria-label': 'Attribution of the move to each assumption' });
  const unit = identity.currency ? `${identity.currency}/${identity.per_unit ?? ''}` : '';
  fill(body,
    h('div', { class: 'controls' },
      field('Curve', select('curve', curves.map((c) => [c.curve_key, `${c.vendor} · ${curveName(c)}`]), key, (v) => update({ curve: v, tenor: null }), { id: 'f-curve' })),
      pick ? field('Tenor of the waterfall', select('tenor', monthly.map((r) => r.tenor_label), pick.tenor_label, (v) => update({ tenor: v }), { id: 'f-tenor' })) : null,
      h('a', { href: link('curves', { curve: key, run: run.id }) }, 'open in the explorer')),
    h('h2', {}, `${identity.vendor} · ${curveName(identity)}`),
    h('p', { class: 'sub' }, `run ${run.id.slice(0, 8)} on ${Object.values(run.base_tags || {}).join(', ')} · ${unit}`),
    h('div', { class: 'cols' }, h('div', {}, h('h3', {}, 'Base, scenario and bands'), fan), h('div', {}, h('h3', {}, `What moved ${pick ? pick.tenor_label : ''}`), fall)),
    rowsTable(rows, names));
  const x = (r) => r.contract_month;
  const series = [];
  const banded = monthly.filter((r) => r.p5 !== null && r.p95 !== null);
  if (banded.length) series.push(...band('P5–P95', banded.map((r) => [x(r), r.p5]), banded.map((r) => [x(r), r.p95]), PALETTE[4], 'band'));
  series.push({ name: 'base', type: 'line', data: monthly.map((r) => [x(r), r.base_value]), color: PALETTE[7], symbolSize: 3, lineStyle: { width: 1.5, type: 'dashed' } });
  series.push({ name: 'scenario', type: 'line', data: monthly.map((r) => [x(r), r.value]), color: PALETTE[0], symbolSize: 3, lineStyle: { width: 2 } });
  if (banded.length) {
    series.push({ name: 'P5', type: 'line', data: banded.map((r) => [x(r), r.p5]), color: PALETTE[4], symbol: 'none', lineStyle: { width: 1 } });
    series.push({ name: 'P50', type: 'line', data: banded.map((r) => [x(r), r.p50]), color: PALETTE[2], symbol: 'none', lineStyle: { width: 1.5, type: 'dotted' } });
    series.push({ name: 'P95', type: 'line', data: banded.map((r) => [x(r), r.p95]), color: PALETTE[4], symbol: 'none', lineStyle: { width: 1 } });
  }
  chart(fan, {
    legend: { top: 4, data: series.filter((s) => !s.name.startsWith('_')).map((s) => s.name) },
    tooltip: tooltip({ format: (v) => fmt.price(v), head: (list) => fmt.month(new Date(list[0].axisValue).toISOString()) }),
    xAxis: { type: 'time' }, yAxis: { type: 'value', scale: true, name: unit }, dataZoom: zoom(), series,
  });
  if (pick) waterfall(fall, pick, names);
}

function parse(text) {
  if (!text) return {};
  if (typeof text === 'object') return text;
  try { return JSON.parse(text); } catch { return {}; }
}

/** Base value, each assumption's share, the scenario value: floating bars. */
function waterfall(el, row, names) {
  const shares = parse(row.attribution);
  const steps = [['base', row.base_value, 0, row.base_value]];
  let level = row.base_value;
  for (const name of names) {
    const share = shares[name] ?? 0;
    steps.push([name, share, Math.min(level, level + share), Math.abs(share)]);
    level += share;
  }
  steps.push(['scenario', row.value, 0, row.value]);
  const low = Math.min(...steps.map((s) => s[2]));
  chart(el, {
    grid: { left: 64, right: 16, top: 16, bottom: 48 },
    xAxis: { type: 'category', data: steps.map((s) => s[0]), axisLabel: { interval: 0, rotate: steps.length > 5 ? 20 : 0 } },
    yAxis: { type: 'value', scale: true, min: low > 0 ? Math.floor(low * 0.98) : undefined },
    tooltip: {
      trigger: 'axis', confine: true, className: 'tip', axisPointer: { type: 'shadow' },
      formatter: (list) => {
        const step = steps[list[0].dataIndex];
        const what = step[0] === 'base' || step[0] === 'scenario' ? 'value' : 'contribution';
        return `<div class="head">${escape(step[0])}</div><div class="row"><span>${what}</span><span class="v">${escape(what === 'value' ? fmt.price(step[1]) : fmt.signed(step[1], 4))}</span></div>`;
      },
    },
    series: [
      { name: '_base', type: 'bar', stack: 'w', data: steps.map((s) => s[2]), itemStyle: { color: 'transparent' }, silent: true },
      { name: 'step', type: 'bar', stack: 'w', data: steps.map((s, i) => ({ value: s[3], itemStyle: { color: i === 0 || i === steps.length - 1 ? PALETTE[7] : s[1] >= 0 ? PALETTE[5] : PALETTE[0] } })) },
    ],
  });
}

function rowsTable(rows, names) {
  const shaped = rows.map((r) => ({ ...r, ...Object.fromEntries(Object.entries(parse(r.attribution)).map(([k, v]) => [`a:${k}`, v])) }));
  return table({
    id: 'scenario-table', rows: shaped, caption: `${rows.length} tenors; each assumption's share of scenario − base (they add up to it)`,
    columns: [
      { key: 'tenor_label', label: 'Tenor' },
      { key: 'base_value', label: 'Base', num: true, format: fmt.price },
      { key: 'value', label: 'Scenario', num: true, format: fmt.price },
      { key: 'p5', label: 'P5', num: true, format: fmt.price },
      { key: 'p50', label: 'P50', num: true, format: fmt.price },
      { key: 'p95', label: 'P95', num: true, format: fmt.price },
      ...names.map((n) => ({ key: `a:${n}`, label: n, num: true, format: (v) => fmt.signed(v, 4) })),
    ],
  });
}
