// Small DOM helpers: elements, tables, notices and number formats. No HTML strings are built
// from data anywhere in the pages: text goes in as text, so a curve name cannot become markup.

import { ApiError } from './api.js';
import { link } from './state.js';

/** An element: `h('button', {class: 'quiet', onclick: fn}, 'Text', child, ...)`. */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith('on') && typeof value === 'function') el.addEventListener(name.slice(2), value);
    else if (name === 'class') el.className = value;
    else if (name === 'text') el.textContent = value;
    else if (name === 'dataset') Object.assign(el.dataset, value);
    else if (name in el && typeof value !== 'string') el[name] = value;
    else el.setAttribute(name, value === true ? '' : value);
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === undefined || child === null || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.append(child instanceof Node ? child : String(child));
  }
}

export const fmt = {
  num(value, digits = 2) {
    if (value === null || value === undefined || Number.isNaN(value)) return '';
    return Number(value).toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
  },
  /** A price: as many decimals as it needs, up to 4. */
  price(value) {
    if (value === null || value === undefined) return '';
    return Number(value).toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 4 });
  },
  int(value) {
    return value === null || value === undefined ? '' : Number(value).toLocaleString('en-US');
  },
  pct(value, digits = 2) {
    return value === null || value === undefined ? '' : `${fmt.num(value, digits)} %`;
  },
  signed(value, digits = 2) {
    if (value === null || value === undefined) return '';
    return (value > 0 ? '+' : '') + fmt.num(value, digits);
  },
  month(value) {
    return value ? String(value).slice(0, 7) : '';
  },
  time(value) {
    return value ? String(value).replace('T', ' ').slice(0, 19) : '';
  },
};

/**
 * A table. `columns`: [{key, label, format(value, row), num, cell(row) -> Node}]; `onPick(row)`
 * makes rows selectable by click or Enter; `most` rows are drawn (a note says how many more).
 */
export function table({ columns, rows, caption, empty = 'Nothing to show.', onPick, selected, most = 2000, id, short = false }) {
  if (!rows.length) return notice('empty', empty);
  const head = h('tr', {}, columns.map((c) => h('th', { class: c.num ? 'num' : null, scope: 'col' }, c.label)));
  const body = h('tbody');
  for (const row of rows.slice(0, most)) {
    const tr = h('tr', {});
    for (const c of columns) {
      const content = c.cell ? c.cell(row) : (c.format ? c.format(row[c.key], row) : row[c.key]);
      const exact = c.num && typeof row[c.key] === 'number' ? String(row[c.key]) : null; // the full value on hover
      tr.append(h('td', { class: c.num ? 'num' : null, title: exact }, content ?? ''));
    }
    if (onPick) {
      tr.className = 'pick';
      tr.tabIndex = 0;
      if (selected && selected(row)) tr.setAttribute('aria-selected', 'true');
      tr.addEventListener('click', () => onPick(row));
      tr.addEventListener('keydown', (event) => { if (event.key === 'Enter') onPick(row); });
    }
    body.append(tr);
  }
  const more = rows.length > most ? h('div', { class: 'more' }, `${fmt.int(rows.length - most)} more rows not drawn: download them, or narrow the filters.`) : null;
  return h('div', { class: `table-wrap${short ? ' short' : ''}`, id },
    h('table', {}, caption ? h('caption', {}, caption) : null, h('thead', {}, head), body), more);
}

/** A notice: kind 'info' | 'warn' | 'error' | 'empty'; `body` text or nodes. */
export function notice(kind, title, ...body) {
  return h('div', { class: `notice ${kind}`, role: kind === 'error' ? 'alert' : 'status' },
    h('strong', {}, title), body.length ? h('p', {}, ...body) : null);
}

/** What went wrong, and what to do about it. */
export function problem(error, what = 'This view') {
  if (!(error instanceof ApiError)) {
    console.error(error); // eslint-disable-line no-console
    return notice('error', `${what} could not be drawn.`, String(error && error.message || error));
  }
  if (error.status === 401) {
    return notice('warn', 'Sign in to see this.', 'This server needs an API key or a bearer token. ',
      h('a', { href: link('sign-in', { next: location.pathname + location.search }) }, 'Sign in'), '.');
  }
  if (error.status === 403) {
    const said = /[.!?]$/.test(error.message) ? error.message : `${error.message}.`;
    return notice('warn', 'Your credential is not allowed to see this.', said,
      ' Ask an administrator for the role or the vendor entitlement.');
  }
  if (error.status === 0) return notice('error', 'No answer from the server.', error.message);
  return notice('error', `${what} failed (${error.code}).`, error.message);
}

export function loading(text = 'Loading…') {
  return h('p', { class: 'loading', role: 'status' }, text);
}

/** A labelled control. */
export function field(label, control) {
  return h('label', { class: 'field' }, label, control);
}

/** A <select> of `options` ([value, label] or value) with `value` chosen. */
export function select(name, options, value, onchange, attrs = {}) {
  const el = h('select', { name, id: attrs.id || `f-${name}`, onchange: (event) => onchange(event.target.value), ...attrs });
  for (const option of options) {
    const [v, text] = Array.isArray(option) ? option : [option, option];
    el.append(h('option', { value: v, selected: String(v) === String(value ?? '') }, text));
  }
  return el;
}

export function kpi(label, value) {
  return h('div', { class: 'kpi' }, h('div', { class: 'label' }, label), h('div', { class: 'value' }, value));
}

export function badge(text, kind = '') {
  return h('span', { class: `badge ${kind}` }, text);
}

/** Replace `el`'s children. */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}
