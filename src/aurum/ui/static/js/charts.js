// Charts: Apache ECharts (vendored, see aurum/ui/static/vendor/VENDOR.json) with the
// Okabe-Ito palette, hover tooltips drawn from classes (no inline style: the page's CSP),
// zoom by wheel/drag and a slider, and one resize observer per chart.

import * as echarts from '../vendor/echarts.esm.min.js';

/** Okabe-Ito: distinguishable with every common colour-vision deficiency. */
export const PALETTE = ['#0072B2', '#E69F00', '#009E73', '#CC79A7', '#56B4E9', '#D55E00', '#F0E442', '#000000'];

const observers = new WeakMap();

/** Draw `option` in `el` (replacing any chart there); `el.dataset.drawn` says when it is done. */
export function chart(el, option) {
  const previous = echarts.getInstanceByDom(el);
  if (previous) previous.dispose();
  const instance = echarts.init(el, null, { renderer: 'canvas' });
  instance.on('finished', () => { el.dataset.drawn = String(performance.now()); });
  instance.setOption({
    color: PALETTE,
    animation: false,
    aria: { enabled: true, decal: { show: false } },
    textStyle: { fontFamily: 'system-ui, -apple-system, "Segoe UI", Roboto, Arial, sans-serif' },
    grid: { left: 64, right: 24, top: 40, bottom: 64, containLabel: false },
    ...option,
  });
  if (!observers.has(el)) {
    const observer = new ResizeObserver(() => echarts.getInstanceByDom(el)?.resize());
    observer.observe(el);
    observers.set(el, observer);
  }
  return instance;
}

/** Zoom: mouse wheel and drag inside the plot, and a slider under it. */
export function zoom(xIndex = 0) {
  return [
    { type: 'inside', xAxisIndex: xIndex, filterMode: 'none' },
    { type: 'slider', xAxisIndex: xIndex, filterMode: 'none', height: 18, bottom: 8 },
  ];
}

export function escape(text) {
  return String(text).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));
}

/**
 * An axis tooltip: a heading (`head(params)`, default the axis value) and one row per series
 * with its colour dot and `value(param)` formatted by `format`. Series named with a leading
 * '_' (helpers such as a band's base) are left out.
 */
export function tooltip({ format = (v) => v, head, value = defaultValue, trigger = 'axis' } = {}) {
  return {
    trigger,
    confine: true,
    className: 'tip',
    axisPointer: { type: trigger === 'axis' ? 'line' : 'none' },
    formatter(params) {
      const list = (Array.isArray(params) ? params : [params]).filter((p) => !String(p.seriesName).startsWith('_'));
      if (!list.length) return '';
      const title = head ? head(list) : (list[0].axisValueLabel ?? list[0].name);
      const rows = list.map((p) => {
        const shown = value(p);
        if (shown === null || shown === undefined || shown === '') return '';
        return `<div class="row"><span><span class="dot c${colourIndex(p.color)}"></span>${escape(p.seriesName)}</span><span class="v">${escape(format(shown, p))}</span></div>`;
      }).join('');
      return `<div class="head">${escape(title)}</div>${rows}`;
    },
  };
}

function colourIndex(colour) {
  const i = PALETTE.indexOf(String(colour).toUpperCase());
  return i < 0 ? 'x' : i;
}

function defaultValue(p) {
  const v = p.value;
  if (Array.isArray(v)) return v[v.length - 1];
  return v;
}

/** A filled band between `lower` and `upper` ([[x, y], ...] on the same x): two stacked areas. */
export function band(name, lower, upper, colour, stack) {
  const base = lower.map(([x, y]) => [x, y]);
  const width = upper.map(([x, y], i) => [x, y === null || lower[i][1] === null ? null : y - lower[i][1]]);
  return [
    { name: `_${name} base`, type: 'line', data: base, stack, symbol: 'none', lineStyle: { opacity: 0 }, silent: true, tooltip: { show: false } },
    { name: `_${name}`, type: 'line', data: width, stack, symbol: 'none', lineStyle: { opacity: 0 }, areaStyle: { color: colour, opacity: 0.25 }, silent: true, tooltip: { show: false } },
  ];
}

export { echarts };
