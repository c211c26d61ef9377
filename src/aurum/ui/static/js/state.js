// A page's state lives in its URL (/ui/<page>?<state>), so any view can be shared by its link.

export const NAVIGATE = 'aurum:navigate';

/** The page the URL names ('curves' for /ui/). */
export function page() {
  return location.pathname.replace(/^\/ui\/?/, '').split('/')[0] || 'curves';
}

/** The URL's query as a plain object (the last value of a repeated name). */
export function state() {
  return Object.fromEntries(new URLSearchParams(location.search));
}

/** The link to `name` with `params` (empty values dropped). */
export function link(name, params = {}) {
  const query = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== '') query.set(key, String(value));
  }
  const text = query.toString();
  return `/ui/${name}${text ? `?${text}` : ''}`;
}

/** Go to page `name` with `params`; `replace` keeps the browser's history as it is. */
export function go(name, params = {}, { replace = false } = {}) {
  const target = link(name, params);
  if (target === location.pathname + location.search) return;
  history[replace ? 'replaceState' : 'pushState'](null, '', target);
  window.dispatchEvent(new Event(NAVIGATE));
}

/** This page with its state changed by `patch` (a null or '' value removes a key). */
export function update(patch, options = {}) {
  go(page(), { ...state(), ...patch }, options);
}
