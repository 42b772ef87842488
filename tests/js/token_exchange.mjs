// Token exchange (RFC 8693) with openid-client, its defaults unchanged (client_secret_post as the agent
// registered it, discovery from the issuer):
//   node token_exchange.mjs <issuer> <client_id> <client_secret> <subject_token> <audience> <scope>
// prints one JSON object with what the library returned; a refusal ends the process with status 1 and
// {error, code, cause} on stderr (the library's words, verbatim).
import * as client from 'openid-client'

const [issuer, clientId, clientSecret, subjectToken, audience, scope] = process.argv.slice(2)
const insecure = { execute: [client.allowInsecureRequests] } // the test server listens on plain http loopback

try {
  const config = await client.discovery(new URL(issuer), clientId, undefined,
    client.ClientSecretPost(clientSecret), insecure)
  const tokens = await client.genericGrantRequest(config, 'urn:ietf:params:oauth:grant-type:token-exchange', {
    subject_token: subjectToken,
    subject_token_type: 'urn:ietf:params:oauth:token-type:access_token',
    audience,
    scope,
  })
  console.log(JSON.stringify({
    access_token: tokens.access_token,
    issued_token_type: tokens.issued_token_type,
    token_type: tokens.token_type,
    scope: tokens.scope,
    has_refresh_token: 'refresh_token' in tokens,
  }))
} catch (err) {
  console.error(JSON.stringify({ error: String(err?.message ?? err), code: err?.code ?? null,
    cause: err?.cause === undefined ? null : String(err.cause?.message ?? JSON.stringify(err.cause)) }))
  process.exit(1)
}
