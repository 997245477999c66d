// A real OpenID Connect provider on 127.0.0.1 for the sign-in tests: the npm package
// oidc-provider, with its own login page (any user name signs in; a name starting with
// "admin" is in the rampart-admin group, any other in rampart-readers) and one public client,
// the dashboard, which must use PKCE.
//
//   node tests/ui/identity-provider.mjs PORT DASHBOARD_ORIGIN   (to try it by hand)

import Provider from 'oidc-provider';

export const CLIENT_ID = 'rampart-dashboard';
export const SCOPE = 'openid email groups';

export async function startProvider(port, dashboardOrigin, { idTokenSeconds = 3600 } = {}) {
  const issuer = `http://127.0.0.1:${port}`;
  const provider = new Provider(issuer, {
    clients: [{
      client_id: CLIENT_ID,
      token_endpoint_auth_method: 'none',
      redirect_uris: [`${dashboardOrigin}/ui/`],
      post_logout_redirect_uris: [`${dashboardOrigin}/ui/signed-out`],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
    }],
    scopes: ['openid', 'email', 'groups'],
    claims: { openid: ['sub'], email: ['email'], groups: ['groups'] },
    // The scopes' claims go in the ID token, which the dashboard sends to the API.
    conformIdTokenClaims: false,
    async findAccount(ctx, id) {
      return {
        accountId: id,
        claims: () => ({ sub: id, email: id, groups: [id.startsWith('admin') ? 'rampart-admin' : 'rampart-readers'] }),
      };
    },
    // The test user consents by signing in; no consent page.
    async loadExistingGrant(ctx) {
      const id = ctx.oidc.result?.consent?.grantId ?? ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
      if (id) return ctx.oidc.provider.Grant.find(id);
      const grant = new ctx.oidc.provider.Grant({ clientId: ctx.oidc.client.clientId, accountId: ctx.oidc.session.accountId });
      grant.addOIDCScope(SCOPE);
      await grant.save();
      return grant;
    },
    issueRefreshToken: async (ctx, client) => client.grantTypeAllowed('refresh_token'),
    ttl: {
      IdToken: idTokenSeconds, AccessToken: idTokenSeconds, RefreshToken: 3600,
      Interaction: 600, Grant: 3600, Session: 3600,
    },
    // The dashboard calls the token endpoint from its own origin, the redirect URI's.
    clientBasedCORS: (ctx, origin, client) => client.redirectUris.some((uri) => new URL(uri).origin === origin),
    cookies: { keys: ['rampart-test-only'] },
    features: { devInteractions: { enabled: true }, rpInitiatedLogout: { enabled: true } },
  });
  // Requests for the dashboard's token endpoint come from the dashboard's origin.
  provider.proxy = false;
  const server = await new Promise((resolve) => {
    const s = provider.listen(port, '127.0.0.1', () => resolve(s));
  });
  const refreshes = { count: 0 };
  provider.on('grant.success', (ctx) => {
    if (ctx.oidc.params?.grant_type === 'refresh_token') refreshes.count += 1;
  });
  return { issuer, refreshes, stop: () => new Promise((r) => server.close(r)) };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [port, origin] = process.argv.slice(2);
  const { issuer } = await startProvider(Number(port), origin);
  console.log(`OpenID provider: ${issuer}/.well-known/openid-configuration`);
}
