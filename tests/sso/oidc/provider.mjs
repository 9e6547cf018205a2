// A real OpenID Connect provider (the certified `oidc-provider` package) for the SSO tests.
//
// Listens on 127.0.0.1 on an OS-chosen port and prints {"port": N, "issuer": URL} as one
// JSON line. Sign-in pages complete by themselves as the account set through
// POST /test/account, so a headless test drives the browser step with plain HTTP requests.
// Test controls: POST /test/account (who signs in next), POST /test/rotate (new signing
// key first, old one still published), GET /test/stats (how often the JWKS was fetched).
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import http from 'node:http';

import Provider from 'oidc-provider';

const HUB_SECRET = process.env.OIDC_HUB_CLIENT_SECRET;
if (!HUB_SECRET) {
  throw new Error('OIDC_HUB_CLIENT_SECRET is required');
}

let account = {
  sub: 'alice-1', email: 'alice@example.com', email_verified: true, name: 'Alice', groups: [],
};
const stats = { jwks: 0, token: 0 };
const cookieKeys = [randomBytes(32).toString('hex')];
let keys = [newKey()];
let provider;
let handler;

function newKey() {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { ...privateKey.export({ format: 'jwk' }), kid: randomBytes(8).toString('hex'), use: 'sig', alg: 'RS256' };
}

const LOOPBACK_REDIRECTS = ['http://127.0.0.1/callback', 'http://[::1]/callback', 'http://localhost/callback'];

function build(issuer) {
  const p = new Provider(issuer, {
    clients: [
      {
        client_id: 'modelfleet-hub',
        client_secret: HUB_SECRET,
        application_type: 'native',
        redirect_uris: LOOPBACK_REDIRECTS,
        grant_types: ['authorization_code', 'urn:ietf:params:oauth:grant-type:device_code'],
        response_types: ['code'],
        token_endpoint_auth_method: 'client_secret_basic',
      },
      {
        // Another application at the same provider: its tokens must not open the hub.
        client_id: 'other-app',
        application_type: 'native',
        redirect_uris: LOOPBACK_REDIRECTS,
        grant_types: ['authorization_code'],
        response_types: ['code'],
        token_endpoint_auth_method: 'none',
      },
    ],
    jwks: { keys },
    cookies: { keys: cookieKeys },
    pkce: { required: () => true },
    conformIdTokenClaims: false,
    scopes: ['openid', 'email', 'profile', 'groups', 'offline_access'],
    claims: {
      amr: null,
      openid: ['sub', 'amr'],
      email: ['email', 'email_verified'],
      profile: ['name', 'preferred_username'],
      groups: ['groups'],
    },
    features: {
      devInteractions: { enabled: false },
      deviceFlow: { enabled: true },
    },
    interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
    findAccount: async (ctx, id) => ({
      accountId: id,
      claims: async () => (id === account.sub ? { ...account } : { sub: id }),
    }),
  });
  p.on('server_error', (ctx, err) => console.error('server_error', err));
  return p;
}

async function interaction(req, res) {
  const details = await provider.interactionDetails(req, res);
  if (details.prompt.name === 'login') {
    const login = { accountId: account.sub, remember: false };
    if (account.amr) login.amr = account.amr;
    await provider.interactionFinished(req, res, { login }, { mergeWithLastSubmission: false });
    return;
  }
  const grant = details.grantId
    ? await provider.Grant.find(details.grantId)
    : new provider.Grant({ accountId: details.session.accountId, clientId: details.params.client_id });
  const missing = details.prompt.details;
  if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
  if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
  if (missing.missingResourceScopes) {
    for (const [indicator, scope] of Object.entries(missing.missingResourceScopes)) {
      grant.addResourceScope(indicator, scope.join(' '));
    }
  }
  const grantId = await grant.save();
  await provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
}

function readJson(req) {
  return new Promise((resolve, reject) => {
    let body = '';
    req.on('data', (chunk) => { body += chunk; });
    req.on('end', () => { try { resolve(body ? JSON.parse(body) : {}); } catch (e) { reject(e); } });
  });
}

function reply(res, status, doc) {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(doc));
}

const server = http.createServer(async (req, res) => {
  try {
    const path = req.url.split('?')[0];
    if (path === '/test/account' && req.method === 'POST') {
      account = await readJson(req);
      return reply(res, 200, { ok: true });
    }
    if (path === '/test/rotate' && req.method === 'POST') {
      keys = [newKey(), ...keys];
      provider = build(provider.issuer);
      handler = provider.callback();
      return reply(res, 200, { kid: keys[0].kid });
    }
    if (path === '/test/stats') return reply(res, 200, stats);
    if (path.startsWith('/interaction/')) return await interaction(req, res);
    if (path === '/jwks') stats.jwks += 1;
    if (path === '/token') stats.token += 1;
    return handler(req, res);
  } catch (err) {
    console.error(err);
    if (!res.headersSent) reply(res, 500, { error: 'server_error', error_description: String(err) });
  }
});

server.listen(0, '127.0.0.1', () => {
  const { port } = server.address();
  const issuer = `http://127.0.0.1:${port}`;
  provider = build(issuer);
  handler = provider.callback();
  process.stdout.write(`${JSON.stringify({ port, issuer })}\n`);
});

process.on('SIGTERM', () => server.close(() => process.exit(0)));
