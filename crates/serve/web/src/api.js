// The same-origin REST API of docs/serve.md. Every failure becomes an ApiError with the
// server's own message, so a view can show it instead of breaking.

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
  }
}

export const enc = encodeURIComponent;

export async function api(path, { signal } = {}) {
  let res;
  try {
    res = await fetch(path, { signal, headers: { Accept: 'application/json' } });
  } catch (e) {
    if (e && e.name === 'AbortError') throw e;
    throw new ApiError(0, 'network', `The server could not be reached (${e && e.message ? e.message : e}).`);
  }
  let text = '';
  try {
    text = await res.text();
  } catch (e) {
    if (e && e.name === 'AbortError') throw e;
    throw new ApiError(res.status, 'network', `The answer was cut off (${e && e.message ? e.message : e}).`);
  }
  let body = null;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    body = null;
  }
  if (!res.ok) {
    const err = body && typeof body === 'object' ? body.error : null;
    const message = err && typeof err.message === 'string' ? err.message : `HTTP ${res.status} ${res.statusText}`.trim();
    throw new ApiError(res.status, (err && err.code) || 'http', message);
  }
  if (body === null) throw new ApiError(res.status, 'bad_response', `${path} did not answer with JSON.`);
  return body;
}

export function isAbort(e) {
  return e && e.name === 'AbortError';
}

export const paths = {
  incidents: () => '/api/v1/incidents',
  incident: (n) => `/api/v1/incidents/${enc(n)}`,
  graph: (n, p, limit) => `/api/v1/incidents/${enc(n)}/graph?policy=${enc(p)}&limit=${limit}`,
  holders: (n, p, limit, offset) => `/api/v1/incidents/${enc(n)}/holders?policy=${enc(p)}&limit=${limit}&offset=${offset}`,
  exits: (n, p) => `/api/v1/incidents/${enc(n)}/exits?policy=${enc(p)}`,
  timeline: (n, p, buckets) => `/api/v1/incidents/${enc(n)}/timeline?policy=${enc(p)}&buckets=${buckets}`,
  report: (n, p) => `/api/v1/incidents/${enc(n)}/report.html?policy=${enc(p)}`,
  exitReport: (n, a, p) => `/api/v1/incidents/${enc(n)}/exits/${enc(a)}/report.html?policy=${enc(p)}`,
  export: (n, ext, p) => `/api/v1/incidents/${enc(n)}/export.${ext}?policy=${enc(p)}`,
  screen: (c, a) => `/api/v1/screen/${enc(c)}/${enc(a)}`,
  alerts: () => '/api/v1/alerts',
};
