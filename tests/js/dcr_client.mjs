// Registers a client with oauth4webapi, gets a client-credentials token with it, then reads and
// deletes the registration (RFC 7592) with the registration access token as a bearer token.
// Usage: node dcr_client.mjs <issuer>; prints one JSON object.
import * as oauth from 'oauth4webapi'

const issuer = new URL(process.argv[2])
const insecure = { [oauth.allowInsecureRequests]: true } // the test server listens on plain http loopback

const as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, { ...insecure, algorithm: 'oidc' }))
const registered = await oauth.processDynamicClientRegistrationResponse(
  await oauth.dynamicClientRegistrationRequest(as, {
    client_name: 'oauth4webapi agent',
    grant_types: ['client_credentials'],
    token_endpoint_auth_method: 'client_secret_post',
    redirect_uris: ['https://agent.example/cb'],
    scope: 'data-read',
  }, insecure))

const client = { client_id: registered.client_id }
const tokens = await oauth.processClientCredentialsResponse(as, client,
  await oauth.clientCredentialsGrantRequest(as, client, oauth.ClientSecretPost(registered.client_secret),
    new URLSearchParams({ scope: 'data-read' }), insecure))

const uri = new URL(registered.registration_client_uri)
const read = await oauth.protectedResourceRequest(registered.registration_access_token, 'GET', uri, undefined, undefined, insecure)
const readBody = await read.json()
// The first token stopped working when the read rotated it: the library surfaces the 401 challenge.
let stale
try {
  stale = await oauth.protectedResourceRequest(registered.registration_access_token, 'GET', uri, undefined, undefined, insecure)
} catch (err) {
  if (!(err instanceof oauth.WWWAuthenticateChallengeError)) throw err
  stale = { status: err.response.status, error: err.cause[0].parameters.error }
}
const del = await oauth.protectedResourceRequest(readBody.registration_access_token, 'DELETE', uri, undefined, undefined, insecure)

console.log(JSON.stringify({
  client_id: registered.client_id,
  scope: registered.scope,
  token_scope: tokens.scope,
  token_type: tokens.token_type,
  access_token: tokens.access_token,
  read_status: read.status,
  read_has_secret: 'client_secret' in readBody,
  stale_status: stale.status,
  stale_error: stale.error,
  delete_status: del.status,
}))
