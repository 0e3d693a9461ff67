// A real OAuth 2.0 / OpenID Connect authorization server for Plugboard's
// tests: `oidc-provider` with PKCE S256 required, refresh-token rotation,
// revocation and client credentials. Started by plugboard-test-support's
// `OidcProvider::start()`, never by hand in tests.
//
// Environment (set by the launcher):
//   PORT           loopback port to listen on (issuer is http://127.0.0.1:PORT)
//   REDIRECT_URIS  comma-separated redirect URIs the clients may use
//
// Clients (secrets are test-only constants):
//   plugboard-basic / basic-secret  client_secret_basic
//   plugboard-post  / post-secret   client_secret_post
//   both: authorization_code (+ PKCE S256 required), refresh_token, client_credentials
//
// Account: login `alice`, password `alice-password` (any other password is refused).
//
// Interactions are plain HTML forms a test drives over HTTP:
//   GET  /interaction/:uid          -> login or consent page (form action in it)
//   POST /interaction/:uid/login    login=alice&password=alice-password
//   POST /interaction/:uid/confirm  grants what the client asked for
//   POST /interaction/:uid/abort    the user refuses -> access_denied
import http from 'node:http';
import Provider from 'oidc-provider';

const port = Number(process.env.PORT);
if (!port) {
  console.error('PORT is required');
  process.exit(2);
}
const issuer = `http://127.0.0.1:${port}`;
const redirectUris = (process.env.REDIRECT_URIS || 'http://127.0.0.1/provisioning_/callback')
  .split(',')
  .filter(Boolean);

const ACCOUNTS = {
  alice: { password: 'alice-password', email: 'alice@example.com', name: 'Alice Example' },
};

const commonClient = {
  redirect_uris: redirectUris,
  grant_types: ['authorization_code', 'refresh_token', 'client_credentials'],
  response_types: ['code'],
  scope: 'openid offline_access profile email',
};

const configuration = {
  clients: [
    { ...commonClient, client_id: 'plugboard-basic', client_secret: 'basic-secret', token_endpoint_auth_method: 'client_secret_basic' },
    { ...commonClient, client_id: 'plugboard-post', client_secret: 'post-secret', token_endpoint_auth_method: 'client_secret_post' },
  ],
  pkce: { required: () => true },
  rotateRefreshToken: true,
  // Refresh tokens whenever the client may use them (no offline_access dance).
  issueRefreshToken: async (ctx, client) => client.grantTypeAllowed('refresh_token'),
  scopes: ['openid', 'offline_access', 'profile', 'email'],
  claims: { openid: ['sub'], email: ['email'], profile: ['name'] },
  features: {
    devInteractions: { enabled: false },
    revocation: { enabled: true },
    introspection: { enabled: true },
    clientCredentials: { enabled: true },
  },
  ttl: {
    AccessToken: 3600,
    AuthorizationCode: 60,
    ClientCredentials: 3600,
    Grant: 14 * 24 * 3600,
    IdToken: 3600,
    Interaction: 600,
    RefreshToken: 14 * 24 * 3600,
    Session: 14 * 24 * 3600,
  },
  cookies: { keys: ['plugboard-test-cookie-key'] },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  async findAccount(ctx, id) {
    const account = ACCOUNTS[id];
    if (!account) return undefined;
    return {
      accountId: id,
      async claims() {
        return { sub: id, email: account.email, name: account.name };
      },
    };
  },
};

const provider = new Provider(issuer, configuration);
const providerCallback = provider.callback();

function readForm(req) {
  return new Promise((resolve, reject) => {
    let body = '';
    req.on('data', (chunk) => { body += chunk; });
    req.on('end', () => resolve(new URLSearchParams(body)));
    req.on('error', reject);
  });
}

function page(res, status, html) {
  res.statusCode = status;
  res.setHeader('content-type', 'text/html; charset=utf-8');
  res.end(`<!doctype html><html><body>${html}</body></html>`);
}

async function interaction(req, res, uid, action) {
  const details = await provider.interactionDetails(req, res);
  const { prompt, params, session } = details;
  if (req.method === 'GET' && !action) {
    if (prompt.name === 'login') {
      return page(res, 200, `<h1>Sign in</h1><form method="post" action="/interaction/${uid}/login">
<input name="login"><input name="password" type="password"><button>Sign in</button></form>
<form method="post" action="/interaction/${uid}/abort"><button>Cancel</button></form>`);
    }
    return page(res, 200, `<h1>Authorize ${params.client_id}</h1><p>scopes: ${params.scope}</p>
<form method="post" action="/interaction/${uid}/confirm"><button>Allow</button></form>
<form method="post" action="/interaction/${uid}/abort"><button>Deny</button></form>`);
  }
  if (req.method !== 'POST') return page(res, 405, 'method not allowed');
  if (action === 'login') {
    const form = await readForm(req);
    const account = ACCOUNTS[form.get('login')];
    if (!account || account.password !== form.get('password')) {
      return page(res, 401, 'invalid login or password');
    }
    return provider.interactionFinished(req, res, { login: { accountId: form.get('login') } }, { mergeWithLastSubmission: false });
  }
  if (action === 'confirm') {
    const { details: missing } = prompt;
    let grant;
    if (details.grantId) {
      grant = await provider.Grant.find(details.grantId);
    } else {
      grant = new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
    }
    if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
    if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
    if (missing.missingResourceScopes) {
      for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes)) {
        grant.addResourceScope(indicator, scopes.join(' '));
      }
    }
    const grantId = await grant.save();
    return provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
  }
  if (action === 'abort') {
    return provider.interactionFinished(req, res, {
      error: 'access_denied',
      error_description: 'End-User aborted interaction',
    }, { mergeWithLastSubmission: false });
  }
  return page(res, 404, 'unknown interaction action');
}

const server = http.createServer((req, res) => {
  const url = new URL(req.url, issuer);
  const m = url.pathname.match(/^\/interaction\/([^/]+)(?:\/(login|confirm|abort))?$/);
  if (m) {
    interaction(req, res, m[1], m[2]).catch((err) => {
      console.error('interaction error', err);
      if (!res.headersSent) page(res, 400, `interaction failed: ${err.message}`);
    });
    return;
  }
  providerCallback(req, res);
});

server.listen(port, '127.0.0.1', () => {
  console.log(`oidc-provider listening on ${issuer}`);
});
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => process.exit(0));
