// Sign-in. `GET /v1/sign-in` says how this Rampart wants to be called: with nothing (loopback),
// with the API token (asked for once, kept for this tab), or with OpenID Connect: the
// authorization-code flow with PKCE as a public client, no secret. OpenID Connect tokens live
// in this module's memory only, never in storage: a reload signs in again, which the identity
// provider's own session turns into a redirect there and back. Only the PKCE verifier, the
// state, the nonce and the address to come back to wait in sessionStorage during the redirect.

const TOKEN_KEY = 'rampart.token';
const PENDING_KEY = 'rampart.sign-in';
// Where the provider sends the browser back, and where it goes after signing out: both are
// registered at the provider as the client's redirect and post-logout URIs.
export const CALLBACK = '/ui/';
export const SIGNED_OUT = '/ui/signed-out';
// A token this close to its expiry is refreshed before it is sent.
const REFRESH_BEFORE_MS = 30_000;

// What the header and the screens need: how sign-in works, who is signed in, and whether
// they may change things (GET /v1/me).
export const session = { method: 'none', name: null, admin: true, error: null, signedOut: false };

let client = null; // the provider: client_id, scope and endpoints
let tokens = null; // { id, refresh, expires (ms) }
let refreshing = null; // the refresh in flight, shared by concurrent requests

// Reads how to sign in; for OpenID Connect finishes a sign-in coming back from the provider,
// or starts one. Resolves false when the page is leaving for the provider.
export async function start() {
  let config;
  try {
    config = await json(await fetch('/v1/sign-in', { headers: { accept: 'application/json' } }));
  } catch (e) {
    session.error = `Rampart did not say how to sign in (${e.message}).`;
    return true;
  }
  session.method = config.method;
  if (config.method === 'iam') {
    session.error = 'This deployment takes AWS SigV4 signatures only, which a browser cannot make. '
      + 'To use the dashboard, deploy it with CognitoSignIn=true or with JwtIssuer and JwtAudience (docs/sign-in.md).';
    return true;
  }
  if (config.method === 'oidc') {
    try {
      client = await withEndpoints(config.oidc);
    } catch (e) {
      session.error = `The identity provider ${config.oidc.issuer} cannot be reached (${e.message}).`;
      return true;
    }
  }
  if (location.pathname === SIGNED_OUT && config.method !== 'none') {
    session.signedOut = true;
    return true;
  }
  if (config.method !== 'oidc') return true;
  const params = new URLSearchParams(location.search);
  if (location.pathname === CALLBACK && (params.has('code') || params.has('error'))) {
    await finish(params);
    return true;
  }
  await signIn();
  return false;
}

// The bearer token for the API, refreshed first when it is about to expire.
export async function bearer() {
  if (session.method !== 'oidc') return sessionStorage.getItem(TOKEN_KEY);
  if (tokens?.refresh && tokens.expires - Date.now() < REFRESH_BEFORE_MS) await refresh();
  return tokens?.id ?? null;
}

// After a 401: true when a new token was obtained and the request may be sent again. For
// OpenID Connect without a refresh token this signs in again (the page leaves).
export async function renew() {
  if (session.method !== 'oidc') return false;
  if (tokens?.refresh && (await refresh())) return true;
  await signIn();
  return false;
}

// The API token from the prompt.
export function setToken(value) {
  if (value) sessionStorage.setItem(TOKEN_KEY, value);
  else sessionStorage.removeItem(TOKEN_KEY);
}

export async function signIn() {
  const pending = {
    verifier: random(32),
    state: random(16),
    nonce: random(16),
    back: [CALLBACK, SIGNED_OUT].includes(location.pathname) ? '/ui/domains' : location.pathname + location.search,
  };
  sessionStorage.setItem(PENDING_KEY, JSON.stringify(pending));
  const challenge = base64url(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(pending.verifier)));
  const url = new URL(client.authorization_endpoint);
  url.search = new URLSearchParams({
    client_id: client.client_id,
    response_type: 'code',
    scope: client.scope,
    redirect_uri: location.origin + CALLBACK,
    state: pending.state,
    nonce: pending.nonce,
    code_challenge: challenge,
    code_challenge_method: 'S256',
  });
  location.assign(url.href);
}

export function signOut() {
  if (session.method !== 'oidc') {
    setToken(null);
    location.assign(SIGNED_OUT);
    return;
  }
  const hint = tokens?.id;
  tokens = null;
  if (!client.end_session_endpoint) {
    location.assign(SIGNED_OUT);
    return;
  }
  const url = new URL(client.end_session_endpoint);
  const back = location.origin + SIGNED_OUT;
  const params = { client_id: client.client_id, post_logout_redirect_uri: back };
  if (hint) params.id_token_hint = hint;
  // Cognito's /logout takes the address as logout_uri.
  if (url.pathname.endsWith('/logout')) params.logout_uri = back;
  url.search = new URLSearchParams(params);
  location.assign(url.href);
}

// The endpoints the server named, or the issuer's discovery document's.
async function withEndpoints(oidc) {
  if (oidc.authorization_endpoint && oidc.token_endpoint) return oidc;
  const found = await json(await fetch(`${oidc.issuer.replace(/\/$/, '')}/.well-known/openid-configuration`));
  return {
    ...oidc,
    authorization_endpoint: oidc.authorization_endpoint ?? found.authorization_endpoint,
    token_endpoint: oidc.token_endpoint ?? found.token_endpoint,
    end_session_endpoint: oidc.end_session_endpoint ?? found.end_session_endpoint ?? null,
  };
}

// Back from the provider: the code for tokens, then the address the sign-in started from.
async function finish(params) {
  const pending = JSON.parse(sessionStorage.getItem(PENDING_KEY) ?? 'null');
  sessionStorage.removeItem(PENDING_KEY);
  if (params.has('error')) {
    session.error = `The identity provider refused the sign-in: ${params.get('error')}${params.get('error_description') ? ` (${params.get('error_description')})` : ''}.`;
    history.replaceState(null, '', CALLBACK);
    return;
  }
  if (!pending || pending.state !== params.get('state')) {
    session.error = 'This sign-in was not started here, or was answered twice; sign in again.';
    history.replaceState(null, '', CALLBACK);
    return;
  }
  try {
    const answer = await tokenRequest({
      grant_type: 'authorization_code',
      code: params.get('code'),
      redirect_uri: location.origin + CALLBACK,
      code_verifier: pending.verifier,
    });
    if (claims(answer.id_token).nonce !== pending.nonce) throw new Error('the ID token is not for this sign-in (nonce)');
    keep(answer);
    history.replaceState(null, '', pending.back);
  } catch (e) {
    session.error = `Signing in failed: ${e.message}.`;
    history.replaceState(null, '', CALLBACK);
  }
}

function refresh() {
  refreshing ??= tokenRequest({ grant_type: 'refresh_token', refresh_token: tokens.refresh })
    .then((answer) => { keep(answer); return true; })
    .catch(() => { tokens = null; return false; })
    .finally(() => { refreshing = null; });
  return refreshing;
}

function keep(answer) {
  if (!answer.id_token) throw new Error('the provider sent no ID token');
  tokens = {
    id: answer.id_token,
    refresh: answer.refresh_token ?? tokens?.refresh ?? null,
    expires: claims(answer.id_token).exp * 1000,
  };
}

async function tokenRequest(fields) {
  const response = await fetch(client.token_endpoint, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
    body: new URLSearchParams({ client_id: client.client_id, ...fields }),
  });
  const answer = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(answer.error_description ?? answer.error ?? `the token endpoint answered ${response.status}`);
  return answer;
}

async function json(response) {
  if (!response.ok) throw new Error(`${response.status} ${response.statusText}`);
  return response.json();
}

// The payload of a JWT, read (not verified: the API verifies) for its exp and nonce.
function claims(jwt) {
  const part = jwt.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
  return JSON.parse(new TextDecoder().decode(Uint8Array.from(atob(part), (c) => c.charCodeAt(0))));
}

function random(bytes) {
  return base64url(crypto.getRandomValues(new Uint8Array(bytes)));
}

function base64url(buffer) {
  return btoa(String.fromCharCode(...new Uint8Array(buffer))).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}
