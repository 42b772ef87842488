// The authorization code flow with openid-client, in two steps because the browser in between is the test:
//   node code_flow.mjs start <issuer> <client_id> <client_secret> <redirect_uri>
//     prints {url, checks}: the authorization URL (PKCE S256, state, nonce) and what the callback must match
//   node code_flow.mjs finish <issuer> <client_id> <client_secret> <redirect_uri>
//     reads {callback, checks} on stdin; validates the callback (state, RFC 9207 iss), redeems the code,
//     validates the ID token (signature against the realm's JWKS, iss, aud, nonce, expiry), reads userinfo,
//     refreshes; prints one JSON object.
// Errors end the process with status 1 and {error, code} on stderr (the library's refusal, verbatim).
import * as client from 'openid-client'

const [step, issuer, clientId, clientSecret, redirectUri] = process.argv.slice(2)
const insecure = { execute: [client.allowInsecureRequests] } // the test server listens on plain http loopback

async function configure () {
  const config = await client.discovery(new URL(issuer), clientId, { redirect_uris: [redirectUri] },
    client.ClientSecretPost(clientSecret), insecure)
  client.enableNonRepudiationChecks(config) // verify ID token signatures with the JWKS (off by default)
  return config
}

async function start () {
  const config = await configure()
  const checks = { pkceCodeVerifier: client.randomPKCECodeVerifier(), expectedNonce: client.randomNonce(),
    expectedState: client.randomState(), idTokenExpected: true }
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: redirectUri,
    scope: 'openid profile email',
    code_challenge: await client.calculatePKCECodeChallenge(checks.pkceCodeVerifier),
    code_challenge_method: 'S256',
    state: checks.expectedState,
    nonce: checks.expectedNonce,
  })
  return { url: url.href, checks }
}

async function readStdin () {
  const chunks = []
  for await (const chunk of process.stdin) chunks.push(chunk)
  return JSON.parse(Buffer.concat(chunks).toString())
}

async function finish () {
  const config = await configure()
  const { callback, checks } = await readStdin()
  const tokens = await client.authorizationCodeGrant(config, new URL(callback), checks)
  const claims = tokens.claims()
  const userinfo = await client.fetchUserInfo(config, tokens.access_token, claims.sub)
  const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token)
  const again = await client.fetchUserInfo(config, refreshed.access_token, claims.sub)
  return {
    claims,
    scope: tokens.scope,
    token_type: tokens.token_type,
    userinfo,
    refreshed: {
      claims: refreshed.claims() ?? null,
      rotated: refreshed.refresh_token !== undefined && refreshed.refresh_token !== tokens.refresh_token,
      new_access_token: refreshed.access_token !== tokens.access_token,
      userinfo_sub: again.sub,
    },
  }
}

try {
  const out = step === 'start' ? await start() : await finish()
  console.log(JSON.stringify(out))
} catch (err) {
  console.error(JSON.stringify({ error: String(err?.message ?? err), code: err?.code ?? null,
    cause: err?.cause === undefined ? null : String(err.cause?.message ?? JSON.stringify(err.cause)) }))
  process.exit(1)
}
