// A real OpenID Connect provider (the `oidc-provider` npm package) on loopback, for the
// sign-in tests: one confidential client, authorization code flow with PKCE (S256),
// its built-in login and consent pages (any login name). A login "name#group1#group2" is
// the account "name" in those groups: email <name>@example.fr, claim `groups` (scope `groups`).
// Usage: node oidc_provider.mjs <port> <redirect_uri>
import Provider from "oidc-provider";

const [port, redirectUri] = process.argv.slice(2);
const issuer = `http://127.0.0.1:${port}`;
const provider = new Provider(issuer, {
  clients: [{
    client_id: "sobria",
    client_secret: "sobria-test-secret",
    redirect_uris: [redirectUri],
    grant_types: ["authorization_code"],
    response_types: ["code"],
    token_endpoint_auth_method: "client_secret_basic",
  }],
  pkce: { required: () => true },
  conformIdTokenClaims: true,
  claims: { openid: ["sub"], email: ["email", "email_verified"], groups: ["groups"] },
  cookies: { keys: ["sobria-oidc-test-cookie-key"] },
  async findAccount(ctx, id) {
    return {
      accountId: id,
      async claims() {
        const [name, ...groups] = id.split("#");
        return { sub: id, email: `${name}@example.fr`, email_verified: true, groups };
      },
    };
  },
});
provider.proxy = false;
provider.listen(Number(port), "127.0.0.1", () => {
  console.log(`oidc-provider listening on ${issuer}`);
});
