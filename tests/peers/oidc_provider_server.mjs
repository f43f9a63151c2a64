// An upstream OpenID provider for the SSO tests: node-oidc-provider (OpenID-certified) on loopback.
//
//   node oidc_provider_server.mjs <port>
//
// Issuer http://127.0.0.1:<port>. Clients register themselves (RFC 7591 at /reg), so each test tenant
// gets its own client with its own redirect and back-channel logout URIs. Besides the provider's own
// endpoints, a few /_test/ routes let the suite set up what a real IdP administrator would:
//   POST /_test/accounts  {"id": "...", "claims": {...}}   add or replace a user (e-mail, groups, ...)
//   POST /_test/fault     {"mode": "..." | null}           misbehave on the next token responses
// Faults re-sign or alter the ID token the provider just issued, to prove the relying party refuses it:
//   bad_signature, wrong_audience, expired, alg_none, hs256, replay_id_token.
// The sign-in page (/interaction/<uid>) asks only for the account id: there are no passwords here.
import http from 'node:http';

import * as jose from 'jose';
import Provider from 'oidc-provider';

const port = Number(process.argv[2] || process.env.PORT);
if (!port) {
  console.error('usage: oidc_provider_server.mjs <port>');
  process.exit(2);
}
const issuer = `http://127.0.0.1:${port}`;

const { privateKey } = await jose.generateKeyPair('RS256', { extractable: true });
const signingJwk = { ...(await jose.exportJWK(privateKey)), kid: 'idp-key-1', alg: 'RS256', use: 'sig' };
const { privateKey: strangerKey } = await jose.generateKeyPair('RS256', { extractable: true });

const accounts = new Map();
let fault = null;
let lastIdToken = null;

const escape = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

const provider = new Provider(issuer, {
  jwks: { keys: [signingJwk] },
  cookies: { keys: ['test-cookie-key-not-secret'] },
  scopes: ['openid', 'email', 'profile', 'groups', 'offline_access'],
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name'],
    groups: ['groups'],
  },
  // Scope-requested claims go into the ID token too (many enterprise IdPs do this).
  conformIdTokenClaims: false,
  features: {
    devInteractions: { enabled: false },
    registration: { enabled: true },
    backchannelLogout: { enabled: true },
    rpInitiatedLogout: { enabled: true },
  },
  async findAccount(ctx, id) {
    const account = accounts.get(id);
    if (!account) return undefined;
    return { accountId: id, async claims() { return { sub: id, ...account }; } };
  },
  // First-party clients: no consent screen, every requested scope granted.
  async loadExistingGrant(ctx) {
    const grantId = ctx.oidc.result?.consent?.grantId || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
    if (grantId) return ctx.oidc.provider.Grant.find(grantId);
    const grant = new ctx.oidc.provider.Grant({
      clientId: ctx.oidc.client.clientId, accountId: ctx.oidc.session.accountId,
    });
    grant.addOIDCScope('openid email profile groups');
    await grant.save();
    return grant;
  },
  // The platform under test is on loopback, which the provider's SSRF guard refuses by default: its
  // JWKS (private_key_jwt) and back-channel logout URIs are there.
  fetch: (url, options) => globalThis.fetch(url, { ...options, dispatcher: undefined }),
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  ttl: { Session: 3600, Interaction: 600, Grant: 3600, AccessToken: 600, AuthorizationCode: 60, IdToken: 600 },
});

async function tamper(idToken) {
  const payload = jose.decodeJwt(idToken);
  const sign = (claims, key = privateKey, alg = 'RS256') => new jose.SignJWT(claims)
    .setProtectedHeader({ alg, kid: signingJwk.kid, typ: 'JWT' }).sign(key);
  const now = Math.floor(Date.now() / 1000);
  switch (fault) {
    case 'bad_signature':
      return sign(payload, strangerKey);
    case 'wrong_audience':
      return sign({ ...payload, aud: 'someone-else', azp: 'someone-else' });
    case 'expired':
      return sign({ ...payload, iat: now - 7200, exp: now - 3600 });
    case 'alg_none': {
      const enc = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
      return `${enc({ alg: 'none', typ: 'JWT' })}.${enc(payload)}.`;
    }
    case 'hs256':
      // The classic key-confusion attack: HMAC keyed with something the attacker knows.
      return sign(payload, new TextEncoder().encode('a-secret-the-attacker-knows-32bytes!'), 'HS256');
    case 'replay_id_token':
      return lastIdToken || idToken;
    default:
      return idToken;
  }
}

// Why the provider refused something, in the log the test fixture keeps.
for (const event of ['grant.error', 'server_error', 'backchannel.error', 'authorization.error']) {
  provider.on(event, (ctx, err) => console.error(event, err?.error || '', err?.error_description || err?.message || err, err?.error_detail || '', err?.cause || ''));
}

provider.use(async (ctx, next) => {
  await next();
  if (ctx.path === '/token' && ctx.status === 200 && ctx.body?.id_token) {
    const issued = ctx.body.id_token;
    ctx.body = { ...ctx.body, id_token: await tamper(issued) };
    if (fault !== 'replay_id_token' || !lastIdToken) lastIdToken = issued;
  }
});

function readBody(req) {
  return new Promise((resolve, reject) => {
    let data = '';
    req.on('data', (chunk) => { data += chunk; if (data.length > 65536) req.destroy(); });
    req.on('end', () => resolve(data));
    req.on('error', reject);
  });
}

function send(res, status, body, type = 'application/json') {
  res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
  res.end(type === 'application/json' ? JSON.stringify(body) : body);
}

function loginPage(uid, error = '') {
  return `<!doctype html><html><head><title>Test IdP sign-in</title></head><body>
<h1>Test identity provider</h1>${error ? `<p class="error">${escape(error)}</p>` : ''}
<form method="post" action="/interaction/${escape(uid)}/login">
<label for="login">Account</label><input id="login" name="login" autofocus>
<button type="submit">Sign in at the IdP</button></form></body></html>`;
}

async function interaction(req, res, uid, action) {
  const details = await provider.interactionDetails(req, res);
  if (details.uid !== uid) return send(res, 400, { error: 'interaction mismatch' });
  if (req.method === 'GET' && !action) return send(res, 200, loginPage(uid), 'text/html');
  if (req.method === 'POST' && action === 'login') {
    const login = new URLSearchParams(await readBody(req)).get('login') || '';
    if (!accounts.has(login)) return send(res, 200, loginPage(uid, `no account '${login}'`), 'text/html');
    return provider.interactionFinished(req, res, { login: { accountId: login } }, { mergeWithLastSubmission: false });
  }
  return send(res, 405, { error: 'method not allowed' });
}

const callback = provider.callback();

const server = http.createServer(async (req, res) => {
  try {
    const url = new URL(req.url, issuer);
    const match = url.pathname.match(/^\/interaction\/([^/]+)(?:\/(login))?$/);
    if (match) return await interaction(req, res, match[1], match[2]);
    if (url.pathname === '/_test/accounts' && req.method === 'POST') {
      const { id, claims } = JSON.parse(await readBody(req));
      accounts.set(String(id), claims || {});
      return send(res, 200, { id });
    }
    if (url.pathname === '/_test/fault' && req.method === 'POST') {
      ({ mode: fault } = JSON.parse(await readBody(req)));
      return send(res, 200, { mode: fault });
    }
    return callback(req, res);
  } catch (err) {
    console.error(err);
    if (!res.headersSent) send(res, 500, { error: String(err) });
  }
});

server.listen(port, '127.0.0.1', () => console.log(`oidc-provider listening on ${issuer}`));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
