// Curve explorer: find a curve by any identity field or free text, chart its monthly forward
// curve for an as-of with the bid/ask band, overlay other as-of dates and a scenario run, show
// strips (the vendor's quoted ones and Aurum's derived ones, labelled), and the rows beneath;
// for a power curve mapped to an ISO node, that node's settled monthly prices in the curve's
// block (realised), from a year before the as-of.
//
// URL state: vendor, asset_class, q (search); curve (curve_key), asof, overlay (as-of dates,
// comma separated), run (a scenario run id), strips (derived | vendor | both | none).

import { all, cachedGet, download, get } from '../api.js';
import { band, chart, PALETTE, tooltip, zoom } from '../charts.js';
import { field, fill, fmt, h, loading, notice, problem, select, table } from '../dom.js';
import { link, update } from '../state.js';

export const TITLE = 'Curves';

const ASSET_CLASSES = ['', 'power', 'gas', 'emissions', 'environmental', 'refined_products', 'biofuels', 'petrochemicals'];
const FIELDS = 'asof_date,tenor_type,tenor_label,contract_month,tenor_start,tenor_end,value,bid,ask,mid';
const MOST_OVERLAYS = 5;

/** A curve's name as people say it: location, product, block, market. */
export function curveName(c) {
  return [c.iso, c.region, c.location, c.product, c.block, c.market, c.spark_location && `vs ${c.spark_location}`,
    c.price_type && c.price_type !== 'MID' ? c.price_type : null]
    .filter((part, i, parts) => part && parts.indexOf(part) === i).join(' · ');
}

export async function render(main, params, ctx) {
  const results = h('div', { id: 'curve-results' }, loading('Finding curves…'));
  const view = h('section', { id: 'curve-view', 'aria-label': 'The chosen curve' });
  main.append(
    h('h1', {}, 'Curve explorer'),
    h('div', { class: 'grid2' },
      h('section', { class: 'panel', 'aria-label': 'Find a curve' }, searchForm(params), results),
      view));
  const search = findCurves(params);
  if (params.curve) {
    await Promise.all([
      search.then((rows) => ctx.current() && fill(results, resultTable(rows, params))).catch((e) => fill(results, problem(e, 'The search'))),
      drawCurve(view, params, ctx),
    ]);
    return;
  }
  let rows;
  try { rows = await search; } catch (error) { fill(results, problem(error, 'The search')); return; }
  if (!ctx.current()) return;
  fill(results, resultTable(rows, params));
  if (!rows.length) {
    const filtered = params.q || params.vendor || params.asset_class || MORE.some((name) => params[name]);
    fill(view, filtered
      ? notice('empty', 'No curve matches.', 'Clear a filter or search for fewer words (a location, a product, an ISO).')
      : notice('empty', 'No curves to show yet.', 'Nothing is published that you may read. Ingest vendor workbooks (',
        h('code', {}, 'aurum ingest FOLDER'), ' or POST /v1/ingest), or ask an administrator for a vendor entitlement.'));
    return;
  }
  // nothing chosen yet: show the first match, and say so in the URL
  update({ curve: rows[0].curve_key }, { replace: true });
}

// identity fields the search form offers beyond vendor and asset class (all filter /v1/metadata/curves)
const MORE = ['iso', 'region', 'location', 'product', 'block', 'market', 'currency'];

function searchForm(params) {
  const q = h('input', { type: 'search', id: 'q', name: 'q', value: params.q || '', placeholder: 'German base, PJM West on-peak, EUA…', size: 28 });
  const vendor = h('input', { type: 'text', id: 'f-vendor', name: 'vendor', value: params.vendor || '', size: 6, placeholder: 'any' });
  const assetClass = select('asset_class', ASSET_CLASSES.map((a) => [a, a || 'any']), params.asset_class, () => {});
  const more = Object.fromEntries(MORE.map((name) => [name, h('input', { type: 'text', id: `f-${name}`, name, value: params[name] || '', size: 10, placeholder: 'any' })]));
  const details = h('details', { open: MORE.some((name) => params[name]) },
    h('summary', {}, 'More fields'),
    h('div', { class: 'controls' }, MORE.map((name) => field(name.replace('_', ' '), more[name]))));
  const form = h('form', { class: 'controls', role: 'search', id: 'curve-search' },
    field('Search', q), field('Vendor', vendor), field('Asset class', assetClass),
    h('button', { type: 'submit' }, 'Find'), details);
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const fields = Object.fromEntries(MORE.map((name) => [name, more[name].value.trim()]));
    update({ q: q.value.trim(), vendor: vendor.value.trim().toUpperCase(), asset_class: assetClass.value, ...fields, curve: null, asof: null, overlay: null, run: null });
  });
  return form;
}

async function findCurves(params) {
  const fields = Object.fromEntries(MORE.map((name) => [name, params[name]]));
  const answer = await cachedGet('/v1/metadata/curves', {
    q: params.q, vendor: params.vendor, asset_class: params.asset_class, ...fields, limit: 200,
  });
  return answer.data;
}

function resultTable(rows, params) {
  return table({
    id: 'curve-list',
    short: true,
    caption: rows.length >= 200 ? 'The first 200 matches: search for more words to narrow them.' : `${rows.length} curves`,
    empty: 'No curve matches: clear a filter or search for fewer words.',
    columns: [
      { key: 'vendor', label: 'Vendor' },
      { key: 'name', label: 'Curve', cell: (r) => h('a', { href: link('curves', { ...params, curve: r.curve_key, asof: null, overlay: null }) }, curveName(r)) },
      { key: 'unit', label: 'Unit', cell: (r) => unit(r) },
      { key: 'last_asof', label: 'Last as-of' },
    ],
    rows,
    selected: (r) => r.curve_key === params.curve,
  });
}

function unit(c) {
  return c.currency ? `${c.currency}/${c.per_unit ?? ''}` : (c.units_raw || '');
}

async function drawCurve(view, params, ctx) {
  fill(view, h('div', { class: 'panel' }, loading('Reading the curve…')));
  const key = params.curve;
  const overlays = (params.overlay || '').split(',').filter(Boolean).slice(0, MOST_OVERLAYS);
  const stripSource = params.strips || 'derived';
  let identity;
  let main;
  try {
    [identity, main] = await Promise.all([
      cachedGet('/v1/metadata/curves', { curve_key: key, limit: 1 }).then((a) => a.data[0]),
      rowsAt(key, params.asof || 'latest'),
    ]);
  } catch (error) {
    if (!ctx.current()) return;
    if (error.code !== 'curve_unknown') {
      fill(view, h('div', { class: 'panel' }, problem(error, 'The curve')));
      return;
    }
  }
  if (!ctx.current()) return;
  if (!identity) {
    fill(view, h('div', { class: 'panel' }, notice('empty', 'No such curve here.', 'It may belong to a vendor you are not entitled to, or the link is from another server. Search for it on the left.')));
    return;
  }
  const asof = main.length ? main[0].asof_date : (params.asof || identity.last_asof);
  const [dates, others, scenario, strips, realised] = await Promise.all([
    cachedGet('/v1/metadata/asof-dates', { vendor: identity.vendor }).then((a) => a.data.map((d) => d.asof_date)),
    Promise.all(overlays.map((d) => rowsAt(key, d).then((rows) => ({ asof: d, rows })))),
    params.run ? all('/v1/curves', { curve_key: key, scenario_run: params.run, fields: FIELDS }, 20000, { cached: true }).then((a) => a.data) : Promise.resolve(null),
    stripSource === 'none' ? Promise.resolve([]) : all('/v1/curves/strips', { curve_key: key, asof, source: stripSource }, 20000, { cached: true }).then((a) => a.data),
    identity.asset_class === 'power' ? realisedMonths(key, main, asof) : Promise.resolve(null),
  ]);
  if (!ctx.current()) return;
  const panel = h('div', { class: 'panel' });
  const chartEl = h('div', { class: 'chart tall', id: 'curve-chart', role: 'img', 'aria-label': `Forward curve of ${curveName(identity)} as of ${asof}` });
  fill(view, panel);
  panel.append(
    h('h2', { id: 'curve-title' }, `${identity.vendor} · ${curveName(identity)}`),
    h('p', { class: 'sub' }, `${identity.asset_class} · ${unit(identity)} · as of ${asof} · `,
      h('a', { href: link('changes', { vendor: identity.vendor, to: asof }) }, 'what moved on this day')),
    controls(params, identity, dates, asof, overlays, stripSource),
    chartEl);
  const monthly = (rows) => rows.filter((r) => r.tenor_type === 'MONTHLY');
  const series = [];
  const m = monthly(main);
  const point = (r, v) => [r.contract_month, v];
  if (m.some((r) => r.bid !== null && r.ask !== null)) {
    series.push(...band('bid/ask', m.map((r) => point(r, r.bid)), m.map((r) => point(r, r.ask)), PALETTE[0], 'band'));
  }
  series.push({ name: `${asof} mid`, type: 'line', data: m.map((r) => point(r, r.value)), symbolSize: 4, color: PALETTE[0], lineStyle: { width: 2 } });
  others.forEach(({ asof: d, rows }, i) => {
    series.push({ name: `${d} mid`, type: 'line', data: monthly(rows).map((r) => point(r, r.value)), symbolSize: 3, color: PALETTE[(i + 1) % 8 === 0 ? 7 : i + 1], lineStyle: { width: 1.5, type: 'dashed' } });
  });
  if (scenario) {
    series.push({ name: `scenario ${params.run.slice(0, 8)}`, type: 'line', data: monthly(scenario).map((r) => point(r, r.value)), symbolSize: 3, color: PALETTE[5], lineStyle: { width: 2, type: 'dotted' } });
  }
  for (const s of stripSegments(strips)) series.push(s);
  if (realised && realised.data.length) {
    const { node, block, market_run: run } = realised.meta;
    series.push({ name: `realised ${node} ${run} ${block}`, type: 'scatter', symbol: 'diamond', symbolSize: 9, color: PALETTE[2], data: realised.data.map((r) => [`${r.month}-01`, r.lmp]) });
  }
  if (!m.length && !strips.length) {
    panel.append(notice('empty', `No prices for this curve on ${asof}.`, 'Pick another as-of above; the curve may not have been delivered that day.'));
    return;
  }
  chart(chartEl, {
    legend: { top: 4, type: 'scroll', data: series.filter((s) => !s.name.startsWith('_')).map((s) => s.name) },
    tooltip: tooltip({ format: (v) => fmt.price(v), head: (list) => fmt.month(list[0].axisValue ? new Date(list[0].axisValue).toISOString() : list[0].name) }),
    xAxis: { type: 'time', axisLabel: { hideOverlap: true } },
    yAxis: { type: 'value', scale: true, name: unit(identity), nameTextStyle: { align: 'left' } },
    dataZoom: zoom(),
    series,
  });
  const columns = [
    { key: 'tenor_label', label: 'Tenor' },
    { key: 'tenor_type', label: 'Type' },
    { key: 'contract_month', label: 'Month', format: fmt.month },
    { key: 'bid', label: 'Bid', num: true, format: fmt.price },
    { key: 'value', label: `Mid ${asof}`, num: true, format: fmt.price },
    { key: 'ask', label: 'Ask', num: true, format: fmt.price },
  ];
  const byMonth = (rows) => new Map(rows.map((r) => [`${r.tenor_type}|${r.tenor_label}`, r.value]));
  const rows = main.map((r) => ({ ...r }));
  others.forEach(({ asof: d, rows: theirs }) => {
    const values = byMonth(theirs);
    for (const r of rows) {
      const v = values.get(`${r.tenor_type}|${r.tenor_label}`);
      r[`at ${d}`] = v ?? null;
      r[`chg ${d}`] = v === undefined || v === null ? null : r.value - v;
    }
    columns.push({ key: `at ${d}`, label: `Mid ${d}`, num: true, format: fmt.price },
      { key: `chg ${d}`, label: `Change since ${d}`, num: true, format: (v) => (v === null ? '' : h('span', { class: v > 0 ? 'up' : v < 0 ? 'down' : '' }, fmt.signed(v, 4))) });
  });
  if (scenario) {
    const values = byMonth(scenario);
    for (const r of rows) r.scenario = values.get(`${r.tenor_type}|${r.tenor_label}`) ?? null;
    columns.push({ key: 'scenario', label: 'Scenario', num: true, format: fmt.price });
  }
  panel.append(table({ id: 'curve-table', rows, columns, caption: `${main.length} tenors as of ${asof}` }));
  if (realised && realised.data.length) {
    const { node, block, market_run: run } = realised.meta;
    panel.append(h('h3', {}, 'Realised'), table({
      id: 'realised-table', short: true, rows: realised.data,
      caption: `${node} ${run === 'DA' ? 'day-ahead' : 'real-time'} prices averaged over the month's ${block} hours (time-weighted; hours = what the loaded prices cover)`,
      columns: [
        { key: 'month', label: 'Month' }, { key: 'lmp', label: 'Realised LMP', num: true, format: fmt.price },
        { key: 'hours', label: 'Hours', num: true, format: (v) => String(Math.round(v)) },
      ],
    }));
  }
  if (strips.length) {
    panel.append(h('h3', {}, 'Strips'), table({
      id: 'strip-table', short: true, rows: strips,
      caption: 'derived: Aurum from the monthly rows (hour-weighted for power blocks); vendor: the vendor\'s quoted strip',
      columns: [
        { key: 'label', label: 'Strip' }, { key: 'source', label: 'Source' }, { key: 'kind', label: 'Kind' },
        { key: 'weighting', label: 'Weighting' }, { key: 'value', label: 'Value', num: true, format: fmt.price },
        { key: 'complete', label: 'Complete', format: (v, r) => (v === false ? `${r.months_present}/${r.months_expected} months` : v === true ? 'yes' : '') },
      ],
    }));
  }
  // the rows shown: this as-of's, or with overlays every as-of from the earliest shown to this one
  const shown = [asof, ...overlays].sort();
  const span = shown.length > 1 ? `${shown[0]}..${shown[shown.length - 1]}` : asof;
  const downloads = { curve_key: key, asof: span };
  const name = `${identity.vendor}-${curveName(identity).replace(/[^A-Za-z0-9]+/g, '-')}-${span.replace('..', '-to-')}`;
  const what = shown.length > 1 ? `as of ${shown[0]} to ${shown[shown.length - 1]}` : `as of ${asof}`;
  panel.append(h('div', { class: 'controls' },
    h('button', { type: 'button', class: 'quiet', id: 'download-csv', onclick: () => download('/v1/curves', downloads, `${name}.csv`, 'csv') }, `Download CSV (${what})`),
    h('button', { type: 'button', class: 'quiet', id: 'download-xlsx', onclick: () => download('/v1/curves', downloads, `${name}.xlsx`, 'xlsx') }, `Download XLSX (${what})`)));
  if (ctx.current()) fillRuns(params);
}

/** Settled monthly averages of the node this curve is mapped to, from a year before the as-of
 * to the curve's last month (null when there is no mapping or the read fails: the chart stands
 * without it). */
async function realisedMonths(key, rows, asof) {
  const months = rows.filter((r) => r.tenor_type === 'MONTHLY').map((r) => String(r.contract_month).slice(0, 7)).sort();
  const year = Number(asof.slice(0, 4)) - 1;
  const first = `${year}-${asof.slice(5, 7)}`;
  const most = `${year + 10}-${asof.slice(5, 7)}`; // the route answers 120 months at a time
  const newest = months.length ? months[months.length - 1] : asof.slice(0, 7);
  const last = newest < most ? newest : most;
  try {
    const answer = await cachedGet('/v1/iso/realised/monthly', { curve_key: key, month_from: first, month_to: last });
    return answer.meta.mapped ? answer : null;
  } catch {
    return null;
  }
}

async function rowsAt(key, asof) {
  // a dated as-of's rows change only when a new version of that day is published: remembered
  // for a minute; 'latest' is always asked afresh
  return (await all('/v1/curves', { curve_key: key, asof, fields: FIELDS }, 20000, { cached: asof !== 'latest' })).data;
}

/** Strips as flat segments over their months, one series per source (labelled in the tooltip). */
function stripSegments(strips) {
  const out = [];
  for (const [source, colour] of [['derived', PALETTE[2]], ['vendor', PALETTE[3]]]) {
    const data = [];
    for (const s of strips.filter((x) => x.source === source)) {
      const end = new Date(`${s.end_month}T00:00:00Z`);
      end.setUTCMonth(end.getUTCMonth() + 1);
      end.setUTCDate(end.getUTCDate() - 1);
      data.push({ value: [s.start_month, s.value], label: s.label }, { value: [end.toISOString().slice(0, 10), s.value], label: s.label }, { value: [end.toISOString().slice(0, 10), null] });
    }
    if (data.length) {
      out.push({ name: `${source} strips`, type: 'line', data, color: colour, symbol: 'none', connectNulls: false, lineStyle: { width: 3, opacity: 0.8 }, step: false });
    }
  }
  return out;
}

function controls(params, identity, dates, asof, overlays, stripSource) {
  const asofSelect = select('asof', [...dates].reverse(), asof, (value) => update({ asof: value }), { id: 'f-asof' });
  const checks = h('div', { class: 'checks' });
  for (const d of [...dates].reverse().filter((x) => x !== asof).slice(0, 10)) {
    const box = h('input', { type: 'checkbox', value: d, checked: overlays.includes(d), id: `overlay-${d}` });
    box.addEventListener('change', () => {
      const chosen = [...checks.querySelectorAll('input:checked')].map((b) => b.value).slice(0, MOST_OVERLAYS);
      update({ overlay: chosen.join(',') });
    });
    checks.append(h('label', {}, box, d));
  }
  const runs = select('run', [['', 'none']], params.run || '', (value) => update({ run: value }), { id: 'f-run' });
  if (params.run) runs.append(h('option', { value: params.run, selected: true }, params.run.slice(0, 8)));
  return h('div', { class: 'controls' },
    field('As of', asofSelect),
    h('fieldset', {}, h('legend', {}, `Overlay as-of dates (up to ${MOST_OVERLAYS})`), checks),
    field('Scenario run', runs),
    field('Strips', select('strips', [['derived', 'derived'], ['vendor', 'vendor'], ['both', 'both'], ['none', 'none']], stripSource, (value) => update({ strips: value }))));
}

/** The tenant's published scenario runs, filled into the run picker once the chart is drawn. */
async function fillRuns(params) {
  const picker = document.getElementById('f-run');
  if (!picker) return;
  try {
    const runs = (await get('/v1/model-runs', { limit: 100 })).data.filter((r) => r.kind === 'scenario_run' && r.status === 'published');
    for (const run of runs) {
      if (run.id === params.run) { picker.querySelector(`option[value="${run.id}"]`).textContent = `${run.id.slice(0, 8)} · ${fmt.time(run.finished_at)}`; continue; }
      picker.append(h('option', { value: run.id }, `${run.id.slice(0, 8)} · ${fmt.time(run.finished_at)}`));
    }
  } catch { /* runs are optional: the picker keeps "none" */ }
}
