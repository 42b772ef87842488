// A DPoP client with oauth4webapi (RFC 9449): registers a client that requires DPoP, gets a
// client-credentials token bound to its own key (retrying once with the server's nonce when the realm
// requires one), and presents the token to tokeninfo with a proof; then presents it without the key.
// Usage: node dpop_client.mjs <issuer>; prints one JSON object.
import * as oauth from 'oauth4webapi'

const issuer = new URL(process.argv[2])
const insecure = { [oauth.allowInsecureRequests]: true } // the test server listens on plain http loopback

const as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, { ...insecure, algorithm: 'oidc' }))
const registered = await oauth.processDynamicClientRegistrationResponse(
  await oauth.dynamicClientRegistrationRequest(as, {
    client_name: 'oauth4webapi DPoP agent',
    grant_types: ['client_credentials'],
    token_endpoint_auth_method: 'client_secret_post',
    scope: 'data-read',
    dpop_bound_access_tokens: true,
  }, insecure))
const client = { client_id: registered.client_id }
const auth = oauth.ClientSecretPost(registered.client_secret)
const keyPair = await oauth.generateKeyPair('ES256')
const DPoP = oauth.DPoP(client, keyPair)

let nonceRetries = 0
async function token () {
  const request = () => oauth.clientCredentialsGrantRequest(as, client, auth, new URLSearchParams({ scope: 'data-read' }),
    { ...insecure, DPoP })
  try {
    return await oauth.processClientCredentialsResponse(as, client, await request())
  } catch (err) {
    if (!oauth.isDPoPNonceError(err)) throw err
    nonceRetries += 1 // the handle kept the DPoP-Nonce of the refusal: the next proof carries it
    return await oauth.processClientCredentialsResponse(as, client, await request())
  }
}

// Without a proof: the registration asked for DPoP-bound tokens only.
let withoutProof
try {
  await oauth.processClientCredentialsResponse(as, client, await oauth.clientCredentialsGrantRequest(
    as, client, auth, new URLSearchParams({ scope: 'data-read' }), insecure))
} catch (err) {
  withoutProof = err.error
}

const tokens = await token()
const tokeninfo = new URL(as.tokeninfo_endpoint)
let used = await oauth.protectedResourceRequest(tokens.access_token, 'GET', tokeninfo, undefined, undefined, { ...insecure, DPoP })
if (used.status === 401) { // a nonce is required at the resource too: the handle kept it, try once more
  used = await oauth.protectedResourceRequest(tokens.access_token, 'GET', tokeninfo, undefined, undefined, { ...insecure, DPoP })
}
const info = await used.json()
let stolen
try {
  stolen = await oauth.protectedResourceRequest(tokens.access_token, 'GET', tokeninfo, undefined, undefined, insecure)
} catch (err) {
  if (!(err instanceof oauth.WWWAuthenticateChallengeError)) throw err
  stolen = { status: err.response.status, error: err.cause[0].parameters.error, scheme: err.cause[0].scheme }
}

console.log(JSON.stringify({
  registered_dpop: registered.dpop_bound_access_tokens,
  without_proof: withoutProof,
  token_type: tokens.token_type,
  nonce_retries: nonceRetries,
  used_status: used.status,
  info_token_type: info.token_type,
  info_jkt: info.cnf && info.cnf.jkt,
  stolen_status: stolen.status,
  stolen_error: stolen.error,
  stolen_scheme: stolen.scheme,
}))
