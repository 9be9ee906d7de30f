// Test OpenID Provider for the django_bff test suite. NOT for production use.
//
// Built on oidc-provider (https://github.com/panva/node-oidc-provider).
//
//   IDP_PORT=0 node server.mjs      # 0 = pick a free port
//
// Prints exactly one line "READY <port>" on stdout once it accepts
// connections; the issuer is http://127.0.0.1:<port>.
//
// Environment:
//   IDP_PORT                    port to listen on (default 0 = any free port)
//   IDP_ACCESS_TOKEN_TTL        access token lifetime in seconds (default 60)
//   IDP_REFRESH_TOKEN_TTL       refresh token lifetime in seconds (default 86400)
//   IDP_BACKCHANNEL_LOGOUT_URI  optional backchannel_logout_uri for both clients
//
// DPoP (RFC 9449): the clients bff-dpop and bff-dpop-nonce (client_secret_basic)
// are registered with dpop_bound_access_tokens: every token request of theirs
// must carry a proof, and their access tokens carry cnf.jkt. The provider
// demands a DPoP nonce (use_dpop_nonce) from bff-dpop-nonce only.
//
// Besides the OIDC endpoints it serves a small JSON test-control API under
// /__test__/ (stats, reset, failure injection on the token endpoint); see
// testControl() below.

import * as crypto from 'node:crypto';
import * as http from 'node:http';
import { Readable } from 'node:stream';

import Provider, { errors, interactionPolicy } from 'oidc-provider';
// oidc-provider's own DPoP proof check, for the token-exchange grant below (its built-in grants use it).
import validateDpop, { checkDpopReplay } from 'oidc-provider/lib/helpers/validate_dpop.js';

const HOST = '127.0.0.1';

function intFromEnv(name, fallback) {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number.parseInt(raw, 10);
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new Error(`${name} must be a non-negative integer, got ${JSON.stringify(raw)}`);
  }
  return value;
}

const PORT = intFromEnv('IDP_PORT', 0);
const ACCESS_TOKEN_TTL = intFromEnv('IDP_ACCESS_TOKEN_TTL', 60);
const REFRESH_TOKEN_TTL = intFromEnv('IDP_REFRESH_TOKEN_TTL', 86400);
const BACKCHANNEL_LOGOUT_URI = process.env.IDP_BACKCHANNEL_LOGOUT_URI || undefined;

// The single resource server (API) the access tokens are issued for.
const API_RESOURCE = 'http://127.0.0.1/api';
const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token';
const API_SCOPE = 'api';

// Sessions and grants must outlive the refresh tokens: refresh tokens issued
// without offline_access are bound to the login session (expiresWithSession),
// and a refresh fails once the grant is gone.
const SESSION_TTL = Math.max(REFRESH_TOKEN_TTL, 14 * 24 * 60 * 60);

// ---------------------------------------------------------------------------
// In-memory adapter.
//
// The adapter bundled with oidc-provider is an LRU capped at 1000 entries, so
// in a long test run live refresh tokens/grants/sessions get evicted. This one
// keeps one plain Map per model and drops entries only when they expire.
// ---------------------------------------------------------------------------

const stores = new Map(); // model name -> Map(id -> { payload, expiresAt })
const sessionUidIndex = new Map(); // Session uid -> Session id
const userCodeIndex = new Map(); // user code -> "<model>:<id>"
const grantIndex = new Map(); // grantId -> Set("<model>:<id>")

function storeFor(model) {
  let store = stores.get(model);
  if (!store) {
    store = new Map();
    stores.set(model, store);
  }
  return store;
}

function isExpired(entry) {
  return entry.expiresAt <= Date.now();
}

class MemoryAdapter {
  constructor(model) {
    this.model = model;
    this.store = storeFor(model);
  }

  #key(id) {
    return `${this.model}:${id}`;
  }

  #get(id) {
    const entry = this.store.get(id);
    if (!entry) return undefined;
    if (isExpired(entry)) {
      this.#remove(id, entry);
      return undefined;
    }
    return entry;
  }

  #remove(id, entry) {
    this.store.delete(id);
    const { payload } = entry;
    if (payload.uid && sessionUidIndex.get(payload.uid) === id) sessionUidIndex.delete(payload.uid);
    if (payload.userCode && userCodeIndex.get(payload.userCode) === this.#key(id)) {
      userCodeIndex.delete(payload.userCode);
    }
    if (payload.grantId) {
      const members = grantIndex.get(payload.grantId);
      members?.delete(this.#key(id));
      if (members?.size === 0) grantIndex.delete(payload.grantId);
    }
  }

  async upsert(id, payload, expiresIn) {
    const previous = this.store.get(id);
    if (previous) this.#remove(id, previous);

    const expiresAt = typeof expiresIn === 'number' ? Date.now() + expiresIn * 1000 : Infinity;
    // Store a copy so that callers mutating their object do not alter storage.
    this.store.set(id, { payload: structuredClone(payload), expiresAt });

    if (this.model === 'Session' && payload.uid) sessionUidIndex.set(payload.uid, id);
    if (payload.userCode) userCodeIndex.set(payload.userCode, this.#key(id));
    if (payload.grantId) {
      let members = grantIndex.get(payload.grantId);
      if (!members) {
        members = new Set();
        grantIndex.set(payload.grantId, members);
      }
      members.add(this.#key(id));
    }
  }

  async find(id) {
    const entry = this.#get(id);
    return entry ? structuredClone(entry.payload) : undefined;
  }

  async findByUid(uid) {
    const id = sessionUidIndex.get(uid);
    return id === undefined ? undefined : this.find(id);
  }

  async findByUserCode(userCode) {
    const key = userCodeIndex.get(userCode);
    if (!key?.startsWith(`${this.model}:`)) return undefined;
    return this.find(key.slice(this.model.length + 1));
  }

  async consume(id) {
    const entry = this.#get(id);
    if (entry) entry.payload.consumed = Math.floor(Date.now() / 1000);
  }

  async destroy(id) {
    const entry = this.store.get(id);
    if (entry) this.#remove(id, entry);
  }

  async revokeByGrantId(grantId) {
    const members = grantIndex.get(grantId);
    if (!members) return;
    const prefix = `${this.model}:`;
    for (const key of [...members]) {
      if (key.startsWith(prefix)) {
        const id = key.slice(prefix.length);
        const entry = this.store.get(id);
        if (entry) this.#remove(id, entry);
        else members.delete(key);
      }
    }
    if (members.size === 0) grantIndex.delete(grantId);
  }
}

// Periodically drop expired entries so memory stays bounded in long runs.
setInterval(() => {
  for (const [model, store] of stores) {
    const adapter = new MemoryAdapter(model);
    for (const id of [...store.keys()]) adapter.find(id);
  }
}, 30_000).unref();

// ---------------------------------------------------------------------------
// Signing key: a fresh RSA key per process (a restart rotates the JWKS).
// ---------------------------------------------------------------------------

const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingJwk = {
  ...privateKey.export({ format: 'jwk' }),
  kid: `test-rsa-${crypto.randomBytes(6).toString('hex')}`,
  alg: 'RS256',
  use: 'sig',
};

// ---------------------------------------------------------------------------
// Clients.
// ---------------------------------------------------------------------------

const commonClient = {
  // "native" makes oidc-provider ignore the port of loopback redirect URIs
  // (RFC 8252 section 7.3), so the Django live server may run on any port.
  application_type: 'native',
  redirect_uris: ['http://127.0.0.1/oidc/callback/', 'http://localhost/oidc/callback/'],
  post_logout_redirect_uris: ['http://127.0.0.1/', 'http://localhost/'],
  grant_types: ['authorization_code', 'refresh_token', 'client_credentials', TOKEN_EXCHANGE],
  response_types: ['code'],
  ...(BACKCHANNEL_LOGOUT_URI
    ? { backchannel_logout_uri: BACKCHANNEL_LOGOUT_URI, backchannel_logout_session_required: true }
    : undefined),
};

// The public keys of the private_key_jwt client, given by the Python fixture.
const CLIENT_JWKS = process.env.IDP_CLIENT_JWKS ? JSON.parse(process.env.IDP_CLIENT_JWKS) : undefined;

const clients = [
  {
    ...commonClient,
    client_id: 'bff',
    client_secret: 'bff-secret',
    token_endpoint_auth_method: 'client_secret_basic',
  },
  {
    ...commonClient,
    client_id: 'bff-post',
    client_secret: 'bff-post-secret',
    token_endpoint_auth_method: 'client_secret_post',
  },
  {
    ...commonClient,
    client_id: 'bff-dpop',
    client_secret: 'bff-dpop-secret',
    token_endpoint_auth_method: 'client_secret_basic',
    dpop_bound_access_tokens: true,
  },
  {
    ...commonClient,
    client_id: 'bff-dpop-nonce',
    client_secret: 'bff-dpop-nonce-secret',
    token_endpoint_auth_method: 'client_secret_basic',
    dpop_bound_access_tokens: true,
  },
  ...(CLIENT_JWKS
    ? [{
      ...commonClient,
      client_id: 'bff-jwt',
      token_endpoint_auth_method: 'private_key_jwt',
      jwks: CLIENT_JWKS,
    }]
    : []),
];

// ---------------------------------------------------------------------------
// Interaction policy: login only.
//
// The consent prompt has a "native_client_prompt" check that always asks
// native clients for consent. Drop it; loadExistingGrant() below auto-grants
// everything requested, so the remaining consent checks never fire and the
// dev login form is the only page a user (or complete_login()) sees.
// ---------------------------------------------------------------------------

const policy = interactionPolicy.base();
policy.get('consent').checks.remove('native_client_prompt');

async function loadExistingGrant(ctx) {
  const { oidc } = ctx;
  const { Grant } = oidc.provider;
  const accountId = oidc.session.accountId;
  const clientId = oidc.client.clientId;

  const grantId = oidc.result?.consent?.grantId || oidc.session.grantIdFor(clientId);
  let grant = grantId ? await Grant.find(grantId) : undefined;
  if (!grant || grant.accountId !== accountId) {
    grant = new Grant({ accountId, clientId });
  }

  // Grant whatever the request asks for: OIDC scopes, claims, and for each
  // requested (or defaulted) resource server the scopes it knows.
  const oidcScopes = [...oidc.requestParamOIDCScopes];
  if (oidcScopes.length) grant.addOIDCScope(oidcScopes.join(' '));
  const claims = [...oidc.requestParamClaims];
  if (claims.length) grant.addOIDCClaims(claims);
  for (const [indicator, resourceServer] of Object.entries(oidc.resourceServers)) {
    const scopes = [...oidc.requestParamScopes].filter((s) => resourceServer.scopes.has(s));
    if (scopes.length) grant.addResourceScope(indicator, scopes.join(' '));
  }

  await grant.save();
  return grant;
}

// ---------------------------------------------------------------------------
// Test-control state: token endpoint stats and failure injection.
// ---------------------------------------------------------------------------

function emptyStats() {
  return {
    token: { authorization_code: 0, refresh_token: 0, client_credentials: 0 },
    token_errors: {},
    revocations: 0,
    revoked_tokens: [],
  };
}

let stats = emptyStats();
let failure = { mode: null, count: 0, delay: 0 };
const FAIL_MODES = new Set(['500', 'html', 'slow', 'invalid_grant', 'trickle', 'huge']);

function countGrantType(grantType) {
  const key = grantType || 'unknown';
  stats.token[key] = (stats.token[key] ?? 0) + 1;
}

function countTokenError(error) {
  stats.token_errors[error] = (stats.token_errors[error] ?? 0) + 1;
}

async function readBody(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return Buffer.concat(chunks);
}

// Reads an endpoint's urlencoded body before oidc-provider does and hands the
// raw bytes on as req.body, which oidc-provider accepts in place of the stream
// (it logs a one-time "already parsed request body detected" warning).
async function readForm(ctx) {
  const raw = await readBody(ctx.req);
  ctx.req.body = raw;
  return ctx.is('application/x-www-form-urlencoded')
    ? new URLSearchParams(raw.toString('utf8'))
    : new URLSearchParams();
}

// oidc-provider treats client_secret_basic and client_secret_post as
// interchangeable. Be strict instead, so tests notice a client sending its
// credentials the wrong way: returns an error message or null.
function clientAuthMethodMismatch(ctx, form) {
  let clientId;
  let method;
  const authorization = ctx.get('authorization');
  if (/^basic /i.test(authorization)) {
    const decoded = Buffer.from(authorization.slice(6).trim(), 'base64').toString('utf8');
    const user = decoded.includes(':') ? decoded.slice(0, decoded.indexOf(':')) : decoded;
    try {
      clientId = decodeURIComponent(user.replace(/\+/g, ' '));
    } catch {
      return null; // malformed; oidc-provider will reject it
    }
    method = 'client_secret_basic';
  } else if (form.has('client_secret')) {
    clientId = form.get('client_id');
    method = 'client_secret_post';
  } else {
    return null;
  }
  const client = clients.find((c) => c.client_id === clientId);
  if (client && client.token_endpoint_auth_method !== method) {
    return `client ${clientId} must authenticate with ${client.token_endpoint_auth_method}, not ${method}`;
  }
  return null;
}

function rejectClientAuth(ctx, detail) {
  // Same status and body oidc-provider uses for failed client authentication.
  console.error(`test IdP: rejecting client authentication: ${detail}`);
  sendJson(ctx, 401, { error: 'invalid_client', error_description: 'client authentication failed' });
}

const sleep = (ms) => new Promise((resolve) => { setTimeout(resolve, ms); });

// The answer one byte every `delay` seconds: a provider (or a proxy in front of it)
// that stalls after it has done the work.
async function* trickle(buffer, delay) {
  for (let i = 0; i < buffer.length; i += 1) {
    await sleep(delay * 1000);
    yield buffer.subarray(i, i + 1);
  }
}

// 300 MiB that start like a token response and never become valid JSON.
function* hugeBody() {
  yield Buffer.from('{"access_token": "');
  const block = Buffer.alloc(1024 * 1024, 'x');
  for (let i = 0; i < 300; i += 1) yield block;
  yield Buffer.from('"}');
}

function sendJson(ctx, status, body) {
  ctx.status = status;
  ctx.type = 'application/json';
  ctx.set('Cache-Control', 'no-store');
  ctx.body = JSON.stringify(body);
}

// Handles /__test__/* (never reaches oidc-provider).
async function testControl(ctx) {
  const route = `${ctx.method} ${ctx.path}`;
  switch (route) {
    case 'GET /__test__/stats':
      return sendJson(ctx, 200, stats);
    case 'POST /__test__/reset':
      stats = emptyStats();
      failure = { mode: null, count: 0, delay: 0 };
      return sendJson(ctx, 200, { ok: true });
    case 'POST /__test__/fail': {
      let body;
      try {
        body = JSON.parse((await readBody(ctx.req)).toString('utf8') || '{}');
      } catch {
        return sendJson(ctx, 400, { error: 'invalid JSON body' });
      }
      const mode = String(body.mode);
      const count = body.count === undefined ? 1 : Number(body.count);
      const delay = body.delay === undefined ? 0 : Number(body.delay);
      if (!FAIL_MODES.has(mode) || !Number.isInteger(count) || count < 0 || !(delay >= 0)) {
        return sendJson(ctx, 400, { error: `expected {"mode": one of ${[...FAIL_MODES].join('|')}, "count": int >= 0, "delay": seconds >= 0}` });
      }
      failure = { mode, count, delay };
      return sendJson(ctx, 200, { ok: true, ...failure });
    }
    default:
      return sendJson(ctx, 404, { error: 'not_found' });
  }
}

function tokenErrorFrom(ctx) {
  if (ctx.status < 400) return null;
  let { body } = ctx;
  if (typeof body === 'string') {
    try { body = JSON.parse(body); } catch { body = undefined; }
  }
  return body?.error || `http_${ctx.status}`;
}

// Wraps the token endpoint: counts every request by grant_type (success or
// failure, injected or not) and applies injected failures.
async function tokenEndpoint(ctx, next) {
  const form = await readForm(ctx);
  countGrantType(form.get('grant_type'));

  let injected = null;
  if (failure.count > 0) {
    injected = { ...failure };
    failure.count -= 1;
  }

  switch (injected?.mode) {
    case '500':
      countTokenError('server_error');
      return sendJson(ctx, 500, { error: 'server_error' });
    case 'invalid_grant':
      countTokenError('invalid_grant');
      return sendJson(ctx, 400, { error: 'invalid_grant' });
    case 'html':
      ctx.status = 200;
      ctx.type = 'text/html; charset=utf-8';
      ctx.body = '<!DOCTYPE html><html><head><title>Maintenance</title></head>'
        + '<body><h1>Down for maintenance</h1></body></html>';
      return undefined;
    case 'slow':
      await sleep(injected.delay * 1000);
      break;
    case 'huge':
      ctx.status = 200;
      ctx.type = 'application/json';
      ctx.body = Readable.from(hugeBody());
      return undefined;
    default:
      break;
  }

  const mismatch = clientAuthMethodMismatch(ctx, form);
  if (mismatch) {
    countTokenError('invalid_client');
    return rejectClientAuth(ctx, mismatch);
  }

  await next();
  const error = tokenErrorFrom(ctx);
  if (error) countTokenError(error);
  if (injected?.mode === 'trickle') {
    // The work is done (a refresh token rotated); only the answer is slow.
    const body = typeof ctx.body === 'string' || Buffer.isBuffer(ctx.body) ? ctx.body : JSON.stringify(ctx.body);
    ctx.body = Readable.from(trickle(Buffer.from(body), injected.delay));
  }
  return undefined;
}

// Revocation and introspection: strict client authentication method check;
// revocation calls are counted.
async function otherClientAuthEndpoint(ctx, next, { count }) {
  if (count) stats.revocations += 1;
  const mismatch = clientAuthMethodMismatch(ctx, await readForm(ctx));
  if (mismatch) return rejectClientAuth(ctx, mismatch);
  return next();
}

// ---------------------------------------------------------------------------
// Provider.
// ---------------------------------------------------------------------------

const server = http.createServer();
await new Promise((resolve, reject) => {
  server.once('error', reject);
  server.listen(PORT, HOST, resolve);
});
const { port } = server.address();
const issuer = `http://${HOST}:${port}`;

const configuration = {
  adapter: MemoryAdapter,
  clients,
  jwks: { keys: [signingJwk] },
  // POST at the end-session endpoint (RP-Initiated Logout 1.0; BFF["LOGOUT_METHOD"] "post"), which
  // oidc-provider allows only when its session cookie is SameSite=None (sent with a cross-site POST).
  enableHttpPostMethods: true,
  cookies: { keys: [crypto.randomBytes(32).toString('base64url')], long: { sameSite: 'none' } },

  findAccount(_ctx, sub) {
    return {
      accountId: sub,
      async claims() {
        return { sub, email: `${sub}@example.test` };
      },
    };
  },
  claims: {
    openid: ['sub'],
    email: ['email'],
  },
  scopes: ['openid', 'offline_access', 'email'],

  interactions: { policy },
  loadExistingGrant,

  // v9's default only requires PKCE for public clients (and FAPI 2.0); these
  // are confidential clients, so require it explicitly. v9 supports S256 only.
  pkce: { required: () => true },

  // Issue a refresh token whenever the client may use the refresh_token
  // grant (the default also requires the offline_access scope).
  issueRefreshToken(_ctx, client) {
    return client.grantTypeAllowed('refresh_token');
  },
  // Rotate on every use. Reusing a rotated (consumed) refresh token fails
  // with invalid_grant and revokes the whole grant (built-in behaviour).
  rotateRefreshToken: () => true,

  ttl: {
    AccessToken: ACCESS_TOKEN_TTL,
    ClientCredentials: ACCESS_TOKEN_TTL,
    RefreshToken: REFRESH_TOKEN_TTL,
    AuthorizationCode: 60,
    IdToken: 3600,
    Interaction: 3600,
    Session: SESSION_TTL,
    Grant: SESSION_TTL,
  },

  // Every algorithm django_bff can make a DPoP key for (oidc-provider's default: ES256 and EdDSA).
  enabledJWA: { dPoPSigningAlgValues: ['ES256', 'EdDSA', 'PS256', 'RS256'] },

  features: {
    dPoP: {
      enabled: true,
      // Nonces on: every answer to a proof carries the current DPoP-Nonce, and a proof with a stale
      // one is refused with use_dpop_nonce. Only bff-dpop-nonce must send one (RFC 9449 section 8).
      nonceSecret: crypto.randomBytes(32),
      requireNonce: (ctx) => ctx.oidc?.client?.clientId === 'bff-dpop-nonce',
    },
    devInteractions: { enabled: true }, // built-in login form, any login works
    revocation: {
      enabled: true,
      // Same rule as the default policy (a client may revoke only its own
      // tokens), plus recording the revoked token's id for /__test__/stats.
      // The revocation action destroys the token right after this returns
      // true. For opaque tokens the id (jti) is the token value itself.
      // Note: JWT access tokens are rejected by oidc-provider before this
      // (400 unsupported_token_type); revoking a refresh token revokes its
      // whole grant, i.e. every token issued from the same login.
      allowedPolicy(_ctx, client, token) {
        if (token.clientId !== client.clientId) {
          throw new errors.InvalidRequest('client is not authorized to revoke the presented token');
        }
        stats.revoked_tokens.push(token.jti);
        return true;
      },
    },
    introspection: { enabled: true },
    clientCredentials: { enabled: true },
    rpInitiatedLogout: { enabled: true },
    backchannelLogout: { enabled: true },
    resourceIndicators: {
      enabled: true,
      // Used when the request carries no `resource` parameter: at the
      // authorization endpoint (the code then remembers the resource) and
      // for client_credentials.
      defaultResource(_ctx, _client, oneOf) {
        if (oneOf) return oneOf.includes(API_RESOURCE) ? API_RESOURCE : oneOf[0];
        return API_RESOURCE;
      },
      // Without this, a code/refresh token exchange that includes the openid
      // scope and no explicit `resource` yields an opaque access token for the
      // userinfo endpoint instead of the granted resource.
      useGrantedResource: () => true,
      getResourceServerInfo(_ctx, resourceIndicator) {
        if (resourceIndicator !== API_RESOURCE) throw new errors.InvalidTarget();
        return {
          scope: API_SCOPE,
          audience: API_RESOURCE,
          accessTokenFormat: 'jwt',
          accessTokenTTL: ACCESS_TOKEN_TTL,
          jwt: { sign: { alg: 'RS256' } },
        };
      },
    },
  },

  // oidc-provider hands outgoing requests (e.g. back-channel logout) a
  // dispatcher that refuses special-use addresses, loopback included. Test
  // back-channel logout URIs are on 127.0.0.1, so drop that dispatcher.
  fetch(url, options) {
    delete options.dispatcher;
    return globalThis.fetch(url, options);
  },
};

const provider = new Provider(issuer, configuration);

// ---------------------------------------------------------------------------
// Token exchange (RFC 8693), a real grant: the subject token must be a JWT
// access token this provider signed and that has not expired; the answer is a
// new JWT for the requested audience, with the calling client as the actor.
// ---------------------------------------------------------------------------

const b64url = (data) => Buffer.from(data).toString('base64url');
const publicKey = crypto.createPublicKey(privateKey);

function signJwt(claims) {
  const header = b64url(JSON.stringify({ alg: 'RS256', typ: 'at+jwt', kid: signingJwk.kid }));
  const body = b64url(JSON.stringify(claims));
  const signature = crypto.sign('sha256', Buffer.from(`${header}.${body}`), privateKey);
  return `${header}.${body}.${b64url(signature)}`;
}

function verifiedClaims(token) {
  const parts = String(token || '').split('.');
  if (parts.length !== 3) return null;
  const ok = crypto.verify('sha256', Buffer.from(`${parts[0]}.${parts[1]}`), publicKey, Buffer.from(parts[2], 'base64url'));
  if (!ok) return null;
  const claims = JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8'));
  if (claims.iss !== issuer || !(claims.exp > Date.now() / 1000)) return null;
  return claims;
}

provider.registerGrantType(TOKEN_EXCHANGE, async (ctx) => {
  const { params, client } = ctx.oidc;
  if (params.subject_token_type !== ACCESS_TOKEN_TYPE) {
    throw new errors.InvalidRequest('subject_token_type must be an access token');
  }
  const subject = verifiedClaims(params.subject_token);
  if (!subject) throw new errors.InvalidGrant('subject_token is invalid or expired');
  // DPoP, as the built-in grants do it: a proof binds the new token to its key (cnf.jkt).
  const dPoP = await validateDpop(provider, ctx);
  if (dPoP) await checkDpopReplay(provider, ctx, dPoP, client.clientId);
  if (client.dpopBoundAccessTokens && !dPoP) throw new errors.InvalidGrant('DPoP proof JWT not provided');
  const now = Math.floor(Date.now() / 1000);
  const claims = {
    iss: issuer,
    sub: subject.sub,
    aud: params.audience || params.resource || API_RESOURCE,
    iat: now,
    exp: now + ACCESS_TOKEN_TTL,
    jti: crypto.randomBytes(12).toString('hex'),
    client_id: client.clientId,
    scope: params.scope || subject.scope,
    act: { sub: client.clientId },
    ...(dPoP ? { cnf: { jkt: dPoP.thumbprint } } : undefined),
  };
  ctx.body = {
    access_token: signJwt(claims),
    issued_token_type: ACCESS_TOKEN_TYPE,
    token_type: dPoP ? 'DPoP' : 'Bearer',
    expires_in: ACCESS_TOKEN_TTL,
  };
}, ['subject_token', 'subject_token_type', 'audience', 'resource', 'scope', 'requested_token_type']);

provider.on('server_error', (_ctx, err) => {
  console.error('oidc-provider server_error:', err);
});

// Middleware added with provider.use() runs before oidc-provider's routing.
const tokenPath = new URL(provider.urlFor('token')).pathname;
const revocationPath = new URL(provider.urlFor('revocation')).pathname;
const introspectionPath = new URL(provider.urlFor('introspection')).pathname;
provider.use(async (ctx, next) => {
  if (ctx.path.startsWith('/__test__/')) return testControl(ctx);
  if (ctx.method === 'POST') {
    switch (ctx.path) {
      case tokenPath:
        return tokenEndpoint(ctx, next);
      case revocationPath:
        return otherClientAuthEndpoint(ctx, next, { count: true });
      case introspectionPath:
        return otherClientAuthEndpoint(ctx, next, { count: false });
      default:
        break;
    }
  }
  return next();
});

server.on('request', provider.callback());

process.stdout.write(`READY ${port}\n`);

function shutdown() {
  server.close(() => process.exit(0));
  server.closeAllConnections?.();
  setTimeout(() => process.exit(0), 2000).unref();
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
