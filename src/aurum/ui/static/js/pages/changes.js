// Changes: one vendor's as-of against another as-of. The biggest movers per asset class, the
// curves added and removed, and a heat map of the change by curve family and delivery year
// (GET /v1/curves/diff/heatmap); a mover or a cell opens the curve with the earlier as-of
// overlaid.
//
// URL state: vendor, from, to (as-of dates; default the vendor's last two), sort
// (pct_change | abs_change | z), asset_class.

import { all, cachedGet, get } from '../api.js';
import { chart, escape } from '../charts.js';
import { field, fill, fmt, h, kpi, loading, notice, problem, select, table } from '../dom.js';
import { go, link, update } from '../state.js';
import { curveName } from './curves.js';

export const TITLE = 'Changes';

const SORTS = [['pct_change', 'largest % change'], ['abs_change', 'largest change'], ['z', 'most unusual (z within family)']];
const TOP = 10;
const MOST_NAMED = 40;
const MOST_CELLS = 25;
const MANY_FAMILIES = 40;

export async function render(main, params, ctx) {
  main.append(h('h1', {}, 'Changes between as-of dates'));
  const vendors = (await cachedGet('/v1/metadata/vendors')).data.map((v) => v.vendor);
  if (!ctx.current()) return;
  if (!vendors.length) {
    main.append(notice('empty', 'Nothing published that you may read.', 'Ingest vendor workbooks (aurum ingest FOLDER), or ask an administrator for a vendor entitlement.'));
    return;
  }
  const asked = (params.vendor || '').toUpperCase();
  const vendor = vendors.includes(asked) ? asked : vendors[0];
  const dates = (await cachedGet('/v1/metadata/asof-dates', { vendor })).data.map((d) => d.asof_date);
  if (!ctx.current()) return;
  const to = dates.includes(params.to) ? params.to : dates[dates.length - 1];
  const earlier = dates.filter((d) => d < to);
  const from = earlier.includes(params.from) ? params.from : earlier[earlier.length - 1];
  const sort = SORTS.some(([s]) => s === params.sort) ? params.sort : 'pct_change';
  main.append(controls(vendors, vendor, dates, from, to, sort, params.asset_class));
  // a link may name a vendor or a day that is not (or no longer) readable here: say what is shown instead
  const instead = [];
  if (asked && asked !== vendor) instead.push(`${asked} is not a vendor you may read here`);
  if (params.to && params.to !== to) instead.push(`${vendor} published nothing as of ${params.to}`);
  if (params.from && params.from !== from && from) instead.push(`${vendor} published nothing as of ${params.from} before ${to}`);
  if (instead.length) {
    main.append(notice('warn', `${instead.join('; ')}.`, `Showing ${vendor}${from ? ` ${from} → ${to}` : ''} instead: pick the dates above (they list the published as-ofs).`));
  }
  if (!from) {
    main.append(notice('empty', `${vendor} has no as-of before ${to || 'any'}: nothing to compare with.`,
      'Pick a later "To" date or another vendor, or come back after the next delivery is published.'));
    return;
  }
  const body = h('div', { id: 'changes-body' }, loading('Comparing…'));
  main.append(body);
  const filters = { vendor, asof_from: from, asof_to: to, asset_class: params.asset_class };
  let movers;
  let cells;
  try {
    [movers, cells] = await Promise.all([
      get('/v1/curves/diff', { ...filters, sort, top: TOP, per: 'asset_class', limit: 1000 }),
      all('/v1/curves/diff/heatmap', filters, 20000, { cached: true }),
    ]);
  } catch (error) {
    if (ctx.current()) fill(body, problem(error, 'The comparison'));
    return;
  }
  if (!ctx.current()) return;
  const meta = movers.meta;
  const largest = [...cells.data].sort((a, b) => (b.max_abs_change_pct ?? -1) - (a.max_abs_change_pct ?? -1)).slice(0, MOST_CELLS);
  const keys = [...meta.curves_added.slice(0, MOST_NAMED), ...meta.curves_removed.slice(0, MOST_NAMED), ...largest.map((c) => c.top_curve_key)];
  const named = await names([...new Set(keys.filter(Boolean))]);
  if (!ctx.current()) return;
  const target = (key) => ({ curve: key, asof: to, overlay: from });
  const open = (key) => link('curves', target(key));
  const pick = (key) => go('curves', target(key));
  const heat = heatmap(cells.data, pick);
  fill(body,
    h('div', { class: 'kpis' },
      kpi('Tenors changed', `${fmt.int(meta.tenors_changed)} of ${fmt.int(meta.tenors_total)}`),
      kpi('Curves added', fmt.int(meta.curves_added.length)),
      kpi('Curves removed', fmt.int(meta.curves_removed.length))),
    h('div', {},
      h('section', { class: 'panel', 'aria-labelledby': 'movers-title' },
        h('h2', { id: 'movers-title' }, `Biggest movers, ${from} → ${to}`),
        h('p', { class: 'sub' }, `The ${TOP} largest per asset class by ${SORTS.find(([s]) => s === sort)[1]}. Enter or a click opens the curve.`),
        table({
          id: 'movers', rows: movers.data, empty: 'No tenor changed between these dates.',
          onPick: (r) => pick(r.curve_key),
          columns: [
            { key: 'asset_class', label: 'Asset class' },
            { key: 'curve', label: 'Curve', cell: (r) => h('a', { href: open(r.curve_key) }, curveName(r)) },
            { key: 'tenor_label', label: 'Tenor' },
            { key: 'value_from', label: from, num: true, format: fmt.price },
            { key: 'value_to', label: to, num: true, format: fmt.price },
            { key: 'change', label: 'Change', num: true, format: (v) => signed(v, 4) },
            { key: 'change_pct', label: '%', num: true, format: (v) => signed(v, 2) },
            { key: 'z', label: 'z', num: true, format: (v) => fmt.num(v, 1) },
          ],
        })),
      h('section', { class: 'panel', 'aria-labelledby': 'heat-title' },
        h('h2', { id: 'heat-title' }, 'Mean % change by curve family and delivery year'),
        h('p', { class: 'sub' }, `A family is an asset class, product and unit; a cell's colour is the mean % change of its tenors. Hover a cell for its figures; a click opens the curve that moved most in it.${heat.families > MANY_FAMILIES && !params.asset_class ? ` ${fmt.int(heat.families)} families: choose an asset class above to see fewer.` : ''}`),
        heat.el,
        h('h3', {}, `Largest moves by family and year (the ${MOST_CELLS} cells with the largest |% change|)`),
        table({
          id: 'heat-table', short: true, rows: largest,
          empty: 'No tenors to compare.',
          columns: [
            { key: 'family', label: 'Family', cell: (c) => familyName(c) },
            { key: 'year', label: 'Year' },
            { key: 'tenors', label: 'Tenors', num: true, format: fmt.int },
            { key: 'mean_change_pct', label: 'Mean %', num: true, format: (v) => signed(v, 2) },
            { key: 'top_change_pct', label: 'Largest %', num: true, format: (v) => signed(v, 2) },
            { key: 'top', label: 'Where', cell: (c) => (c.top_curve_key ? h('a', { href: open(c.top_curve_key) }, whereName(named.get(c.top_curve_key), c.top_tenor_label)) : '') },
          ],
        }))),
    addedRemoved(meta, named, open));
  heat.draw();
}

function whereName(curve, tenor) {
  return curve ? `${curveName(curve)} ${tenor}` : tenor;
}

function signed(v, digits) {
  if (v === null || v === undefined) return '';
  return h('span', { class: v > 0 ? 'up' : v < 0 ? 'down' : '' }, fmt.signed(v, digits));
}

function familyName(c) {
  return `${c.asset_class ?? ''} · ${c.product ?? ''}${c.currency ? ` · ${c.currency}/${c.per_unit ?? ''}` : ''}`;
}

async function names(keys) {
  if (!keys.length) return new Map();
  const found = await get('/v1/metadata/curves', { curve_key: keys, limit: keys.length });
  return new Map(found.data.map((c) => [c.curve_key, c]));
}

function addedRemoved(meta, named, open) {
  const item = (key) => h('li', {}, named.has(key) ? h('a', { href: open(key) }, `${named.get(key).vendor} · ${curveName(named.get(key))}`) : h('span', { class: 'mono' }, key.slice(0, 16)));
  const list = (keys, none) => (keys.length ? h('ul', {}, keys.slice(0, MOST_NAMED).map(item), keys.length > MOST_NAMED ? h('li', {}, `and ${keys.length - MOST_NAMED} more`) : null) : h('p', { class: 'sub' }, none));
  return h('div', { class: 'cols' },
    h('section', { class: 'panel', id: 'added' }, h('h2', {}, 'Curves added'), list(meta.curves_added, 'None: every curve of the later day was there before.')),
    h('section', { class: 'panel', id: 'removed' }, h('h2', {}, 'Curves removed'), list(meta.curves_removed, 'None: every curve of the earlier day is still there.')));
}

/** The heat map's element, and `draw()` to call once it is in the page. */
function heatmap(cells, pick) {
  if (!cells.length) return { el: notice('empty', 'No tenors to compare.'), draw: () => {}, families: 0 };
  const families = [...new Set(cells.map((c) => c.family))].sort();
  const years = [...new Set(cells.map((c) => c.year))].sort((a, b) => a - b);
  const label = new Map(cells.map((c) => [c.family, familyName(c)]));
  // colours span the 95th percentile of |mean %|: one near-zero-priced family (a spread) would
  // otherwise wash every other cell out; beyond it a cell takes the end colour
  const sizes = cells.map((c) => Math.abs(c.mean_change_pct ?? 0)).sort((a, b) => a - b);
  const spread = Math.max(0.01, sizes[Math.floor(0.95 * (sizes.length - 1))]);
  const el = h('div', { class: 'chart heat', id: 'heatmap', role: 'img', 'aria-label': 'Heat map of the mean % change by curve family and delivery year; the table below lists the largest moves' });
  el.style.height = `${Math.min(2400, Math.max(260, 70 + families.length * 16))}px`;
  const data = cells.map((c) => ({ value: [years.indexOf(c.year), families.indexOf(c.family), c.mean_change_pct], cell: c }));
  const draw = () => {
    const instance = chart(el, {
      grid: { left: 260, right: 80, top: 10, bottom: 40 },
      xAxis: { type: 'category', data: years.map(String), splitArea: { show: true } },
      yAxis: { type: 'category', data: families.map((f) => label.get(f)), inverse: true, axisLabel: { width: 240, overflow: 'truncate', fontSize: 10 } },
      visualMap: { min: -spread, max: spread, calculable: true, orient: 'vertical', right: 0, top: 'center', text: ['+%', '−%'], inRange: { color: ['#0072B2', '#f7f7f7', '#D55E00'] } },
      tooltip: {
        trigger: 'item', confine: true, className: 'tip',
        formatter: (p) => {
          const c = p.data.cell;
          return `<div class="head">${escape(familyName(c))} · ${c.year}</div>`
            + `<div class="row"><span>mean change</span><span class="v">${escape(fmt.signed(c.mean_change_pct, 2))} %</span></div>`
            + `<div class="row"><span>largest</span><span class="v">${escape(fmt.signed(c.top_change_pct, 2))} % (${escape(c.top_tenor_label ?? '')})</span></div>`
            + `<div class="row"><span>tenors changed</span><span class="v">${c.changed} of ${c.tenors}</span></div>`;
        },
      },
      series: [{ type: 'heatmap', data, emphasis: { itemStyle: { borderColor: '#000', borderWidth: 1 } } }],
    });
    instance.on('click', (p) => {
      if (p.data && p.data.cell.top_curve_key) pick(p.data.cell.top_curve_key);
    });
  };
  return { el, draw, families: families.length };
}

function controls(vendors, vendor, dates, from, to, sort, assetClass) {
  const later = [...dates].reverse();
  return h('div', { class: 'controls panel' },
    field('Vendor', select('vendor', vendors, vendor, (v) => update({ vendor: v, from: null, to: null }))),
    field('From', select('from', later.filter((d) => d < to), from, (v) => update({ from: v }))),
    field('To', select('to', later, to, (v) => update({ to: v, from: null }))),
    field('Movers by', select('sort', SORTS, sort, (v) => update({ sort: v }))),
    field('Asset class', select('asset_class', ['', 'power', 'gas', 'emissions', 'environmental', 'refined_products', 'biofuels', 'petrochemicals'].map((a) => [a, a || 'all']), assetClass || '', (v) => update({ asset_class: v }))));
}
