// The REST API as the screens use it: one `send` that adds the bearer token (auth.js), turns
// `{"error","message"}` answers into ApiError, and after a 401 renews the token once or tells
// the app the API asks for one.

import { bearer, renew } from './auth.js';

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

// `/v1/...` with its query parameters; parameters that are empty are left out.
export function apiUrl(path, params = {}) {
  const query = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== '') query.set(name, value);
  }
  const q = query.toString();
  return q ? `${path}?${q}` : path;
}

async function send(method, path, params, body, again = false) {
  const headers = { accept: 'application/json' };
  const t = await bearer();
  if (t) headers.authorization = `Bearer ${t}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  let response;
  try {
    response = await fetch(apiUrl(path, params), {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (e) {
    throw new ApiError(0, 'unreachable', `Rampart did not answer (${e.message}). Is it running?`);
  }
  if (response.status === 401) {
    if (!again && (await renew())) return send(method, path, params, body, true);
    window.dispatchEvent(new CustomEvent('rampart-unauthorized'));
  }
  const text = await response.text();
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = null;
  }
  if (!response.ok) {
    const code = json?.error ?? `http_${response.status}`;
    const message = json?.message ?? `${response.status} ${response.statusText}`;
    throw new ApiError(response.status, code, message);
  }
  return json;
}

export const api = {
  get: (path, params) => send('GET', path, params),
  post: (path, body) => send('POST', path, {}, body),
  put: (path, body) => send('PUT', path, {}, body),
  patch: (path, body) => send('PATCH', path, {}, body),
  delete: (path, params) => send('DELETE', path, params),
};

// The path of a domain's resource: the name is one path segment.
export function domainPath(domain, rest = '') {
  return `/v1/domains/${encodeURIComponent(domain)}${rest}`;
}

// Downloads an API resource as a file. A plain link would not carry the bearer token, so
// the bytes are fetched here and handed to the browser as a blob.
export async function download(path, params, filename) {
  const headers = {};
  const t = await bearer();
  if (t) headers.authorization = `Bearer ${t}`;
  const response = await fetch(apiUrl(path, params), { headers });
  if (!response.ok) {
    let body = null;
    try { body = await response.json(); } catch { body = null; }
    throw new ApiError(response.status, body?.error ?? `http_${response.status}`, body?.message ?? response.statusText);
  }
  const url = URL.createObjectURL(await response.blob());
  const a = document.createElement('a');
  a.href = url;
  a.download = filename;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
