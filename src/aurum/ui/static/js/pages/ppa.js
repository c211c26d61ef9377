// PPA: the tenant's valuations. One valuation's figures (NPV, capture price and rate, energy and
// its P-bands), its monthly cashflows by leg, for an ensemble the NPV distribution over its
// paths and its percentiles; beside another valuation of the same contract (base vs scenario).
//
// URL state: valuation, compare (another valuation's id).

import { download, get } from '../api.js';
import { chart, escape, PALETTE, zoom } from '../charts.js';
import { field, fill, fmt, h, kpi, notice, problem, select, table } from '../dom.js';
import { link, update } from '../state.js';

export const TITLE = 'PPA';

const LEGS = [['settlement', PALETTE[0]], ['certificates', PALETTE[2]], ['balancing', PALETTE[1]]];

export async function render(main, params, ctx) {
  main.append(h('h1', {}, 'PPA valuations'));
  const [valuations, contracts] = await Promise.all([
    get('/v1/ppa/valuations', { limit: 200 }).then((a) => a.data),
    get('/v1/ppa-contracts', { limit: 200 }).then((a) => a.data),
  ]);
  if (!ctx.current()) return;
  if (!valuations.length) {
    main.append(notice('empty', 'No valuations yet.', 'Value a contract with ', h('code', {}, 'aurum ppa value NAME --rate 0.07'),
      ' or POST /v1/ppa/valuate (contracts: aurum ppa create FILE.json); it then appears here.'));
    return;
  }
  const names = new Map(contracts.map((c) => [c.id, c.name]));
  const chosen = valuations.find((v) => v.id === params.valuation) || valuations.find((v) => v.status === 'published') || valuations[0];
  const view = h('section', { id: 'ppa-view', 'aria-label': 'The chosen valuation' });
  main.append(h('div', { class: 'grid2' },
    h('section', { class: 'panel', 'aria-label': 'Valuations' }, table({
      id: 'valuation-list', short: true, rows: valuations, caption: `${valuations.length} valuations, newest first`,
      onPick: (v) => update({ valuation: v.id, compare: null }), selected: (v) => v.id === chosen.id,
      columns: [
        { key: 'contract_id', label: 'Contract', cell: (v) => h('a', { href: link('ppa', { valuation: v.id }) }, names.get(v.contract_id) || v.contract_id.slice(0, 8)) },
        { key: 'on', label: 'On', cell: (v) => on(v) },
        { key: 'status', label: 'Status' },
        { key: 'npv', label: 'NPV', num: true, cell: (v) => (v.summary ? fmt.num(v.summary.npv, 0) : '') },
      ],
    })),
    view));
  if (chosen.status !== 'published') {
    view.append(notice(chosen.status === 'failed' ? 'error' : 'info', `This valuation is ${chosen.status}.`,
      chosen.error_message || 'An ensemble valuation runs on a worker (aurum worker); reload when it is published.'));
    return;
  }
  const peers = valuations.filter((v) => v.id !== chosen.id && v.contract_id === chosen.contract_id && v.status === 'published');
  const other = peers.find((v) => v.id === params.compare);
  try {
    const [one, two] = await Promise.all([
      get(`/v1/ppa/valuations/${chosen.id}`).then((a) => a.data[0]),
      other ? get(`/v1/ppa/valuations/${other.id}`).then((a) => a.data[0]) : Promise.resolve(null),
    ]);
    if (!ctx.current()) return;
    show(view, one, two, peers, names);
  } catch (error) {
    if (ctx.current()) fill(view, problem(error, 'The valuation'));
  }
}

/** What a valuation priced: base curves, a scenario run, or its ensemble. */
function on(v) {
  const curves = v.curves || {};
  if (curves.scenario_run) return `${curves.ensemble ? 'ensemble of' : 'scenario'} ${curves.scenario_run.slice(0, 8)}`;
  return `base ${curves.asof || ''}`.trim();
}

function show(view, one, two, peers, names) {
  const s = one.summary;
  const money = (v) => `${fmt.num(v, 0)} ${s.currency}`;
  const compare = select('compare', [['', 'nothing'], ...peers.map((v) => [v.id, `${on(v)} · NPV ${fmt.num(v.summary?.npv, 0)}`])], two ? two.id : '', (v) => update({ compare: v }), { id: 'f-compare' });
  const figures = h('div', { class: 'kpis', id: 'ppa-kpis' },
    kpi('NPV', money(s.npv)),
    kpi('Capture price', `${fmt.num(s.capture_price, 2)} ${s.currency}/MWh`),
    kpi('Capture rate', fmt.pct(s.capture_rate * 100, 1)),
    kpi('Baseload price', `${fmt.num(s.baseload_price, 2)} ${s.currency}/MWh`),
    kpi('Energy', `${fmt.num(s.energy_mwh / 1000, 1)} GWh`));
  const name = names.get(one.contract_id) || one.contract_id;
  view.append(h('div', { class: 'panel' },
    h('h2', { id: 'ppa-title' }, `${name} · ${on(one)}`),
    h('p', { class: 'sub' }, `${s.perspective}'s view · valued ${s.valuation_date} · ${s.months} months · contract v${one.contract_version}`),
    figures,
    h('div', { class: 'controls' }, field('Compare with', compare),
      h('button', { type: 'button', class: 'quiet', id: 'download-cashflows', onclick: () => download(`/v1/ppa/valuations/${one.id}/cashflows`, {}, `valuation-${one.id.slice(0, 8)}-cashflows.csv`, 'csv') }, 'Cashflows CSV'),
      h('button', { type: 'button', class: 'quiet', id: 'download-report', onclick: () => download(`/v1/ppa/valuations/${one.id}/report.xlsx`, {}, `valuation-${one.id.slice(0, 8)}.xlsx`, null) }, 'Report XLSX'))));
  if (two) view.append(comparison(one, two));
  const bars = h('div', { class: 'chart', id: 'cashflow-chart', role: 'img', 'aria-label': 'Monthly cashflows by leg' });
  view.append(h('div', { class: 'panel' }, h('h3', {}, `Monthly cashflows (${s.currency})${two ? ', beside the compared valuation' : ''}`), bars));
  cashflowChart(bars, one, two);
  if (s.ensemble) view.append(distribution(s));
  view.append(energy(s), h('div', { class: 'panel' }, h('h3', {}, 'Monthly rows'), cashflowTable(one)));
}

function comparison(one, two) {
  const a = one.summary;
  const b = two.summary;
  const rows = [['NPV', 'npv', 0], ['Capture price', 'capture_price', 2], ['Capture rate', 'capture_rate', 4], ['Baseload price', 'baseload_price', 2], ['Energy (MWh)', 'energy_mwh', 0]]
    .map(([label, key, digits]) => ({ label, a: a[key], b: b[key], diff: b[key] - a[key], digits }));
  return h('div', { class: 'panel' }, h('h3', {}, `${on(one)} against ${on(two)}`), table({
    id: 'ppa-compare', rows,
    columns: [
      { key: 'label', label: 'Figure' },
      { key: 'a', label: on(one), num: true, format: (v, r) => fmt.num(v, r.digits) },
      { key: 'b', label: on(two), num: true, format: (v, r) => fmt.num(v, r.digits) },
      { key: 'diff', label: 'Difference', num: true, format: (v, r) => h('span', { class: v > 0 ? 'up' : v < 0 ? 'down' : '' }, fmt.signed(v, r.digits)) },
    ],
  }));
}

function cashflowChart(el, one, two) {
  const months = one.cashflows.map((r) => r.month);
  const series = LEGS.filter(([leg]) => one.cashflows.some((r) => r[leg])).map(([leg, colour]) => ({
    name: leg, type: 'bar', stack: 'legs', color: colour, data: one.cashflows.map((r) => r[leg]),
  }));
  series.push({ name: 'cashflow', type: 'line', color: PALETTE[7], symbolSize: 3, data: one.cashflows.map((r) => r.cashflow) });
  if (one.cashflows.some((r) => r.cashflow_p5 !== null)) {
    series.push({ name: 'P5', type: 'line', color: PALETTE[5], symbol: 'none', lineStyle: { type: 'dotted' }, data: one.cashflows.map((r) => r.cashflow_p5) });
    series.push({ name: 'P95', type: 'line', color: PALETTE[4], symbol: 'none', lineStyle: { type: 'dotted' }, data: one.cashflows.map((r) => r.cashflow_p95) });
  }
  if (two) {
    const theirs = new Map(two.cashflows.map((r) => [r.month, r.cashflow]));
    series.push({ name: `cashflow, ${on(two)}`, type: 'line', color: PALETTE[3], symbolSize: 3, lineStyle: { type: 'dashed' }, data: months.map((m) => theirs.get(m) ?? null) });
  }
  chart(el, {
    legend: { top: 4 },
    tooltip: {
      trigger: 'axis', confine: true, className: 'tip',
      formatter: (list) => `<div class="head">${escape(list[0].axisValue)}</div>` + list.map((p) => `<div class="row"><span>${escape(p.seriesName)}</span><span class="v">${escape(fmt.num(p.value, 0))}</span></div>`).join(''),
    },
    xAxis: { type: 'category', data: months }, yAxis: { type: 'value' }, dataZoom: zoom(), series,
  });
}

/** An ensemble's NPV over its paths: the API's histogram, with its percentiles and risk figures. */
function distribution(s) {
  const e = s.ensemble;
  const histogram = e.npv_histogram;
  const figures = e.npv;
  const el = h('div', { class: 'chart small', id: 'npv-chart', role: 'img', 'aria-label': `Distribution of the NPV over ${e.paths} paths; its percentiles are in the table` });
  const rows = [['P5', figures.p5], ['P50', figures.p50], ['P95', figures.p95], ['Mean', figures.mean], ['VaR 95 %', figures.var_95], ['ES 95 %', figures.es_95], ['VaR 99 %', figures.var_99], ['ES 99 %', figures.es_99]]
    .filter(([, v]) => v !== undefined).map(([figure, value]) => ({ figure, value }));
  if (histogram && histogram.counts.length) {
    const { edges, counts } = histogram;
    const bin = (v) => Math.max(0, Math.min(counts.length - 1, edges.findIndex((edge, i) => i > 0 && v <= edge) - 1));
    queueMicrotask(() => chart(el, {
      grid: { left: 64, right: 16, top: 24, bottom: 40 },
      tooltip: { trigger: 'axis', confine: true, className: 'tip', axisPointer: { type: 'shadow' }, formatter: (list) => `<div class="head">NPV ${escape(fmt.num(edges[list[0].dataIndex], 0))} to ${escape(fmt.num(edges[list[0].dataIndex + 1], 0))}</div><div class="row"><span>paths</span><span class="v">${list[0].value}</span></div>` },
      xAxis: { type: 'category', data: counts.map((_, i) => fmt.num((edges[i] + edges[i + 1]) / 2e6, 2)), name: `NPV (million ${s.currency})`, nameLocation: 'middle', nameGap: 26 },
      yAxis: { type: 'value', name: 'paths' },
      series: [{ name: 'paths', type: 'bar', data: counts, color: PALETTE[0], barCategoryGap: '5%',
        markLine: { silent: true, symbol: 'none', label: { formatter: '{b}' }, lineStyle: { color: PALETTE[5] },
          data: [['P5', figures.p5], ['P50', figures.p50], ['P95', figures.p95]].map(([n, v]) => ({ name: n, xAxis: bin(v) })) } }],
    }));
  }
  return h('div', { class: 'panel' }, h('h3', {}, `NPV over ${e.paths} paths (${s.currency})`),
    histogram ? el : notice('empty', 'This valuation kept no histogram; its percentiles are below.'),
    table({ id: 'npv-figures', rows, columns: [{ key: 'figure', label: 'Figure' }, { key: 'value', label: s.currency, num: true, format: (v) => fmt.num(v, 0) }] }));
}

function energy(s) {
  const years = Object.entries((s.energy && s.energy.by_calendar_year) || {}).map(([year, e]) => ({ year, ...e }));
  return h('div', { class: 'panel' }, h('h3', {}, `Energy by year and its P-bands (exceedance; uncertainty ${fmt.num(s.energy?.uncertainty_pct ?? 0, 1)} %)`),
    table({ id: 'energy-table', short: true, rows: years, empty: 'No energy figures.', columns: [
      { key: 'year', label: 'Year' },
      { key: 'p50_mwh', label: 'P50 MWh', num: true, format: (v) => fmt.num(v, 0) },
      { key: 'p90_mwh', label: 'P90 MWh', num: true, format: (v) => fmt.num(v, 0) },
      { key: 'p99_mwh', label: 'P99 MWh', num: true, format: (v) => fmt.num(v, 0) },
    ] }));
}

function cashflowTable(one) {
  return table({
    id: 'cashflow-table', rows: one.cashflows,
    columns: [
      { key: 'month', label: 'Month' },
      { key: 'energy_mwh', label: 'MWh', num: true, format: (v) => fmt.num(v, 1) },
      { key: 'strike', label: 'Strike', num: true, format: fmt.price },
      { key: 'capture_price', label: 'Capture', num: true, format: fmt.price },
      { key: 'settlement', label: 'Settlement', num: true, format: (v) => fmt.num(v, 0) },
      { key: 'balancing', label: 'Balancing', num: true, format: (v) => fmt.num(v, 0) },
      { key: 'cashflow', label: 'Cashflow', num: true, format: (v) => fmt.num(v, 0) },
      { key: 'discount_factor', label: 'DF', num: true, format: (v) => fmt.num(v, 4) },
      { key: 'pv', label: 'PV', num: true, format: (v) => fmt.num(v, 0) },
    ],
  });
}
