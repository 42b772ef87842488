// openid-client with its defaults against a realm: discovery, dynamic registration of its own client,
// client credentials, token exchange (an agent exchanging its token for an application), introspection
// and revocation. No client authentication method is named anywhere: with a secret, openid-client sends
// it in the body (client_secret_post) whatever the client registered.
//   node client_library.mjs <issuer>
//   reads {agent: {client_id, secret}, app: {client_id, secret}, audience, exchange_scope} on stdin
// Prints one JSON object: one member per step, each {ok: true, ...what the library returned} or
// {ok: false, error, code, cause} (the library's refusal, verbatim); a failed step does not stop the others.
import * as client from 'openid-client'

const issuer = new URL(process.argv[2])
const insecure = { execute: [client.allowInsecureRequests] } // the test server listens on plain http loopback
const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange'
const ACCESS_TOKEN = 'urn:ietf:params:oauth:token-type:access_token'

async function readStdin () {
  const chunks = []
  for await (const chunk of process.stdin) chunks.push(chunk)
  return JSON.parse(Buffer.concat(chunks).toString())
}

function refusal (err) {
  return { ok: false, error: String(err?.message ?? err), code: err?.code ?? null,
    cause: err?.cause === undefined ? null : String(err.cause?.message ?? JSON.stringify(err.cause)) }
}

async function step (out, name, run) {
  try {
    out[name] = { ok: true, ...(await run()) }
  } catch (err) {
    out[name] = refusal(err)
  }
  return out[name]
}

// A configuration for a client the administrator made: the secret alone, no method named.
const configure = (party) => client.discovery(issuer, party.client_id, party.secret, undefined, insecure)

async function main () {
  const input = await readStdin()
  const out = {}
  let registered, agent, app, agentToken, ownToken, exchanged

  await step(out, 'discovery', async () => {
    app = await configure(input.app)
    agent = await configure(input.agent)
    const meta = app.serverMetadata()
    return { issuer: meta.issuer, token_endpoint: meta.token_endpoint, registration_endpoint: meta.registration_endpoint,
      introspection_endpoint: meta.introspection_endpoint, revocation_endpoint: meta.revocation_endpoint }
  })
  await step(out, 'registration', async () => {
    registered = await client.dynamicClientRegistration(issuer, {
      client_name: 'openid-client agent', grant_types: ['client_credentials'], scope: 'data-read',
    }, undefined, insecure)
    const meta = registered.clientMetadata()
    return { client_id: meta.client_id, token_endpoint_auth_method: meta.token_endpoint_auth_method, scope: meta.scope,
      has_secret: typeof meta.client_secret === 'string' }
  })
  await step(out, 'client_credentials', async () => {
    const own = await client.clientCredentialsGrant(registered, { scope: 'data-read' })
    ownToken = own.access_token
    const tokens = await client.clientCredentialsGrant(agent, { scope: input.agent_scope })
    agentToken = tokens.access_token
    return { registered_scope: own.scope, scope: tokens.scope, token_type: tokens.token_type }
  })
  await step(out, 'introspection', async () => {
    const own = await client.tokenIntrospection(registered, ownToken)
    return { active: own.active, client_id: own.client_id, scope: own.scope }
  })
  await step(out, 'revocation', async () => {
    await client.tokenRevocation(registered, ownToken)
    return { active_after: (await client.tokenIntrospection(registered, ownToken)).active }
  })
  await step(out, 'token_exchange', async () => {
    const tokens = await client.genericGrantRequest(agent, TOKEN_EXCHANGE, {
      subject_token: agentToken, subject_token_type: ACCESS_TOKEN, audience: input.audience, scope: input.exchange_scope,
    })
    exchanged = tokens.access_token
    return { issued_token_type: tokens.issued_token_type, scope: tokens.scope, token_type: tokens.token_type,
      has_refresh_token: 'refresh_token' in tokens }
  })
  await step(out, 'exchanged_introspection_and_revocation', async () => {
    const info = await client.tokenIntrospection(app, exchanged)
    await client.tokenRevocation(agent, exchanged)
    const after = await client.tokenIntrospection(app, exchanged)
    return { active: info.active, act: info.act, aud: info.aud, scope: info.scope, active_after: after.active }
  })
  return out
}

console.log(JSON.stringify(await main()))
