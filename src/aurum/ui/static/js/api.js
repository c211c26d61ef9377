// The one way the pages talk to Aurum: the public /v1 API on this origin, with the credential
// the user pasted at sign-in (an API key or an OIDC bearer token) on every call.

const KEY = 'aurum.credential';

/** The credential in use: this tab's, else the one remembered on this device ('' if none). */
export function credential() {
  return sessionStorage.getItem(KEY) || localStorage.getItem(KEY) || '';
}

/** Keep `token` for this tab (and on this device when `remember`). */
export function setCredential(token, remember = false) {
  signOut();
  sessionStorage.setItem(KEY, token);
  if (remember) localStorage.setItem(KEY, token);
  whoami.cached = null;
}

export function signOut() {
  memo.clear();
  sessionStorage.removeItem(KEY);
  localStorage.removeItem(KEY);
  whoami.cached = null;
}

/** A failed call: the API's problem document (code, detail) with its HTTP status. */
export class ApiError extends Error {
  constructor(status, problem) {
    super(problem.detail || problem.title || `HTTP ${status}`);
    this.status = status;
    this.code = problem.code || (status ? `http_${status}` : 'network');
    this.problem = problem;
  }
}

/** `path` with the non-empty values of `params` (arrays repeat the parameter). */
export function url(path, params = {}) {
  const query = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    if (value === undefined || value === null || value === '') continue;
    for (const one of Array.isArray(value) ? value : [value]) query.append(name, String(one));
  }
  const text = query.toString();
  return text ? `${path}?${text}` : path;
}

export async function request(path, { params = {}, method = 'GET', body, accept = 'application/json', signal } = {}) {
  const headers = { Accept: accept };
  const token = credential();
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let response;
  try {
    response = await fetch(url(path, params), {
      method, headers, signal, body: body === undefined ? undefined : JSON.stringify(body),
      credentials: 'omit',
    });
  } catch (error) {
    if (error.name === 'AbortError') throw error;
    throw new ApiError(0, {
      code: 'network',
      detail: 'The Aurum server did not answer. Is `aurum serve` still running?',
    });
  }
  if (!response.ok) {
    let problem;
    try { problem = await response.json(); } catch { problem = { detail: response.statusText }; }
    throw new ApiError(response.status, problem);
  }
  return response;
}

/** The JSON answer of GET `path`. */
export async function get(path, params = {}, options = {}) {
  return (await request(path, { ...options, params })).json();
}

const memo = new Map();
const MEMO_MS = 60000;
const MEMO_MOST = 300;

/**
 * `get`, remembered for a minute (per credential): for reads a page repeats when only part of its
 * state changed (another overlay, another strip source). Identical calls in flight share one
 * request. Not for anything polled (a run's progress): use `get`.
 */
export function cachedGet(path, params = {}) {
  const key = `${credential()}|${url(path, params)}`;
  const hit = memo.get(key);
  if (hit && performance.now() - hit.at < MEMO_MS) return hit.value;
  const value = get(path, params);
  memo.set(key, { at: performance.now(), value });
  value.catch(() => memo.delete(key));
  if (memo.size > MEMO_MOST) memo.delete(memo.keys().next().value);
  return value;
}

/**
 * Every row of a paged read (following `next_cursor`), at most `most`; `meta` of the first page.
 * `cached`: through `cachedGet`.
 */
export async function all(path, params = {}, most = 20000, { cached = false } = {}) {
  const read = cached ? cachedGet : get;
  let page = await read(path, { ...params, limit: params.limit || 5000 });
  const rows = [...page.data];
  const meta = page.meta;
  while (page.meta.next_cursor && rows.length < most) {
    page = await read(path, { ...params, limit: params.limit || 5000, cursor: page.meta.next_cursor });
    rows.push(...page.data);
  }
  return { meta, data: rows.slice(0, most), truncated: Boolean(page.meta.next_cursor) || rows.length > most };
}

export async function post(path, body, params = {}) {
  return (await request(path, { method: 'POST', body, params })).json();
}

const MEDIA = {
  csv: 'text/csv',
  xlsx: 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet',
};

/**
 * Fetch `path` as a file (with the credential, so it works with authentication on) and save it.
 * `format` is sent as `format=` (reads take it); null for a route that is a file already.
 */
export async function download(path, params, filename, format = 'csv') {
  const query = format ? { ...params, format } : params;
  const response = await request(path, { params: query, accept: MEDIA[format] || '*/*' });
  const blob = await response.blob();
  const link = document.createElement('a');
  link.href = URL.createObjectURL(blob);
  link.download = filename;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 10000);
  return blob.size;
}

/** The caller (GET /v1/me): subject, tenant, roles, entitled vendors (null: all); cached. */
export async function whoami() {
  if (!whoami.cached) whoami.cached = get('/v1/me').catch((error) => { whoami.cached = null; throw error; });
  return whoami.cached;
}
whoami.cached = null;
