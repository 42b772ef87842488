#!/usr/bin/env bash
# The DCR onboarding walkthrough (docs/walkthroughs.md, part 1) end to end with curl:
# discovery → register → client credentials token → introspect → tokeninfo → read and delete the
# registration (RFC 7592). Checks every answer and exits non-zero on the first mismatch.
#
#   bash scripts/walkthrough.sh [realm URL]     # default http://127.0.0.1:8080/am/oauth2/realms/root/realms/alpha
#
# Needs bash, curl and python3 (for JSON parsing). The realm must allow open registration and have
# data-read and data-write in its registration scope allowlist (the demo realms alpha and bravo do).
set -euo pipefail
REALM=${1:-${CREDO_REALM_URL:-http://127.0.0.1:8080/am/oauth2/realms/root/realms/alpha}}
REALM=${REALM%/}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }

# call NAME EXPECTED_STATUS curl-args...: runs curl, keeps the body in $WORK/NAME, checks the status.
call() {
  local name=$1 want=$2; shift 2
  local got
  got=$(curl -s -o "$WORK/$name" -w '%{http_code}' "$@") || fail "$name: curl could not reach $REALM"
  [ "$got" = "$want" ] || fail "$name: HTTP $got, expected $want: $(cat "$WORK/$name")"
}

# expect NAME PYTHON_EXPRESSION: the expression, over the JSON body `d`, must be true.
expect() {
  python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); sys.exit(0 if eval(sys.argv[2]) else 1)' \
    "$WORK/$1" "$2" || fail "$1: expected $2, got: $(cat "$WORK/$1")"
}

# field NAME KEY: prints one member of a JSON body.
field() { python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$WORK/$1" "$2"; }

echo "1. discovery"
call discovery 200 "$REALM/.well-known/openid-configuration"
expect discovery "d['issuer'] == '$REALM' and d['registration_endpoint'] == '$REALM/register'"
expect discovery "{'data-read', 'data-write'} <= set(d['scopes_supported'])"

echo "2. register a dynamic client"
call register 201 --request POST "$REALM/register" --header 'Content-Type: application/json' --data '{
    "grant_types": ["client_credentials"],
    "response_types": ["token"],
    "redirect_uris": ["https://example.com/callback"],
    "scopes": ["data-read", "data-write"],
    "client_name": "Retail Chatbot",
    "token_endpoint_auth_method": "client_secret_post"
}'
expect register "d['client_id'] and d['client_secret'] and d['registration_access_token']"
expect register "d['grant_types'] == ['client_credentials'] and d['response_types'] == ['token']"
expect register "d['redirect_uris'] == ['https://example.com/callback'] and d['scopes'] == ['data-read', 'data-write']"
expect register "d['client_name'] == 'Retail Chatbot' and d['token_endpoint_auth_method'] == 'client_secret_post'"
CLIENT_ID=$(field register client_id)
CLIENT_SECRET=$(field register client_secret)
RAT=$(field register registration_access_token)
expect register "d['registration_client_uri'] == '$REALM/register/$CLIENT_ID'"

echo "3. client credentials token"
call token 200 --request POST "$REALM/access_token" \
  --header 'Content-Type: application/x-www-form-urlencoded' \
  --data-urlencode 'grant_type=client_credentials' \
  --data-urlencode "client_id=$CLIENT_ID" \
  --data-urlencode "client_secret=$CLIENT_SECRET" \
  --data-urlencode 'scope=data-read'
expect token "d['scope'] == 'data-read' and d['token_type'] == 'Bearer' and 0 < d['expires_in'] <= 3600"
ACCESS_TOKEN=$(field token access_token)

echo "4. introspect"
call introspect 200 --request POST "$REALM/introspect" \
  --header 'Content-Type: application/x-www-form-urlencoded' \
  --data-urlencode "token=$ACCESS_TOKEN" \
  --data-urlencode "client_id=$CLIENT_ID" \
  --data-urlencode "client_secret=$CLIENT_SECRET"
expect introspect "d['active'] is True and d['scope'] == 'data-read' and d['token_type'] == 'Bearer'"
expect introspect "d['client_id'] == d['sub'] == d['user_id'] == d['username'] == d['subname'] == '$CLIENT_ID'"
expect introspect "d['iss'] == '$REALM' and d['realm'].startswith('/') and d['exp'] > 0 and d['expires_in'] > 0"

echo "5. tokeninfo"
call tokeninfo 200 -G --request GET "$REALM/tokeninfo" --data-urlencode "access_token=$ACCESS_TOKEN"
expect tokeninfo "d['sub'] == d['aud'] == d['client_id'] == '$CLIENT_ID' and d['scope'] == ['data-read']"
expect tokeninfo "d['grant_type'] == 'client_credentials' and d['tokenName'] == 'access_token'"

echo "6. read the registration (rotates the registration access token)"
call read 200 "$REALM/register/$CLIENT_ID" --header "Authorization: Bearer $RAT"
expect read "d['client_id'] == '$CLIENT_ID' and 'client_secret' not in d and d['registration_access_token'] != '$RAT'"
NEW_RAT=$(field read registration_access_token)
call stale 401 "$REALM/register/$CLIENT_ID" --header "Authorization: Bearer $RAT"
expect stale "d['error'] == 'invalid_token'"

echo "7. delete the registration"
call delete 204 --request DELETE "$REALM/register/$CLIENT_ID" --header "Authorization: Bearer $NEW_RAT"
call gone 401 -G "$REALM/tokeninfo" --data-urlencode "access_token=$ACCESS_TOKEN"
expect gone "d['error'] == 'invalid_token'"
call token_after 401 --request POST "$REALM/access_token" --data-urlencode 'grant_type=client_credentials' \
  --data-urlencode "client_id=$CLIENT_ID" --data-urlencode "client_secret=$CLIENT_SECRET"
expect token_after "d['error'] == 'invalid_client'"

echo "OK: the DCR onboarding walkthrough passed against $REALM"
