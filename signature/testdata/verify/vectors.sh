#!/bin/sh
# Regenerates vectors.json: inbound verifier test vectors computed with
# openssl, independently of hookd's code. Three of them reproduce the examples
# the providers publish (GitHub's "Validating webhook deliveries", Slack's
# "Verifying requests from Slack", the Standard Webhooks libraries' signing
# test), which shows the method matches the providers.
#
#   sh vectors.sh > vectors.json
set -eu

hexmac() { # alg key message
	printf '%s' "$3" | openssl dgst "-$1" -hmac "$2" | awk '{print $NF}'
}
b64mac() { # alg key message
	printf '%s' "$3" | openssl dgst "-$1" -hmac "$2" -binary | openssl base64 -A
}
b64hexkeymac() { # hexkey message
	printf '%s' "$2" | openssl dgst -sha256 -mac HMAC -macopt "hexkey:$1" -binary | openssl base64 -A
}
j() { # JSON string
	printf '"%s"' "$(printf '%s' "$1" | sed 's/\\/\\\\/g; s/"/\\"/g')"
}

sep=' '
vector() { # name how config(JSON) now headers(JSON) body
	printf '%s{"name": %s,\n   "how": %s,\n   "config": %s,\n   "now": %s,\n   "headers": %s,\n   "body": %s}\n' \
		"$sep" "$(j "$1")" "$(j "$2")" "$3" "$4" "$5" "$(j "$6")"
	sep=','
}

echo '{"cases": ['

body='Hello, World!'
sig=$(hexmac sha256 "It's a Secret to Everybody" "$body")
vector "github docs example" "docs.github.com example; openssl dgst -sha256 -hmac KEY of the body" \
	'{"type": "github", "secrets": ["It'"'"'s a Secret to Everybody"]}' 1763805600 \
	"{\"X-Hub-Signature-256\": \"sha256=$sig\"}" "$body"

body='{"ref":"refs/heads/main","after":"9f1c0e7"}'
sig=$(hexmac sha256 gh-secret-1 "$body")
vector "github" "openssl dgst -sha256 -hmac KEY of the body" \
	'{"type": "github", "secrets": ["gh-secret-1"]}' 1763805600 \
	"{\"X-Hub-Signature-256\": \"sha256=$sig\", \"X-GitHub-Event\": \"push\"}" "$body"

sig=$(hexmac sha256 bb-secret "$body")
vector "bitbucket" "openssl dgst -sha256 -hmac KEY of the body" \
	'{"type": "bitbucket", "secrets": ["bb-secret"]}' 1763805600 \
	"{\"X-Hub-Signature\": \"sha256=$sig\", \"X-Event-Key\": \"repo:push\"}" "$body"

body='{"id":820982911946154508,"email":"jon@example.com"}'
sig=$(b64mac sha256 shpss_test_secret "$body")
vector "shopify" "openssl dgst -sha256 -hmac KEY -binary of the body | openssl base64" \
	'{"type": "shopify", "secrets": ["shpss_test_secret"]}' 1763805600 \
	"{\"X-Shopify-Hmac-Sha256\": \"$sig\"}" "$body"

body='{"id":"evt_1","object":"event","type":"invoice.paid"}'
v1=$(hexmac sha256 whsec_test_stripe_secret "1763805600.$body")
other=$(hexmac sha256 whsec_other_stripe_secret "1763805600.$body")
v0=$(hexmac sha256 legacy "1763805600.$body")
vector "stripe" "openssl dgst -sha256 -hmac KEY of t.body; a v0 and a v1 under another secret around it" \
	'{"type": "stripe", "secrets": ["whsec_test_stripe_secret"]}' 1763805630 \
	"{\"Stripe-Signature\": \"t=1763805600,v1=$other,v1=$v1,v0=$v0\"}" "$body"

body='token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c'
sig=$(hexmac sha256 8f742231b10e8888abcd99yyyzzz85a5 "v0:1531420618:$body")
vector "slack docs example" "api.slack.com example; openssl dgst -sha256 -hmac KEY of v0:ts:body" \
	'{"type": "slack", "secrets": ["8f742231b10e8888abcd99yyyzzz85a5"]}' 1531420660 \
	"{\"X-Slack-Signature\": \"v0=$sig\", \"X-Slack-Request-Timestamp\": \"1531420618\"}" "$body"

body='{"type":"event_callback","event_id":"Ev1"}'
sig=$(hexmac sha256 slack-signing-secret "v0:1763805600:$body")
vector "slack" "openssl dgst -sha256 -hmac KEY of v0:ts:body" \
	'{"type": "slack", "secrets": ["slack-signing-secret"]}' 1763805500 \
	"{\"X-Slack-Signature\": \"v0=$sig\", \"X-Slack-Request-Timestamp\": \"1763805600\"}" "$body"

key=$(printf '%s' MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw | openssl base64 -d -A | od -An -tx1 | tr -d ' \n')
body='{"test": 2432232314}'
sig=$(b64hexkeymac "$key" "msg_p5jXN8AQM9LWM0D4loKWxJek.1614265330.$body")
vector "standard spec example" "Standard Webhooks library test; key = base64 -d of the secret after whsec_, openssl dgst -sha256 -mac HMAC -macopt hexkey:KEY -binary of id.ts.body | openssl base64" \
	'{"type": "standard", "secrets": ["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"]}' 1614265330 \
	"{\"webhook-id\": \"msg_p5jXN8AQM9LWM0D4loKWxJek\", \"webhook-timestamp\": \"1614265330\", \"webhook-signature\": \"v1,$sig\"}" "$body"

body='{"type":"invoice.paid","data":{"amount":4200}}'
sig=$(b64hexkeymac "$key" "msg_2KxqLm7.1763805600.$body")
vector "standard svix headers" "as above, svix-* header names, a v2 entry and a foreign v1 first" \
	'{"type": "standard", "secrets": ["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"], "tolerance": "10m"}' 1763806140 \
	"{\"svix-id\": \"msg_2KxqLm7\", \"svix-timestamp\": \"1763805600\", \"svix-signature\": \"v2,AAAA v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE= v1,$sig\"}" "$body"

body='{"action":"deploy","env":"prod"}'
sig=$(hexmac sha1 generic-secret "$body")
vector "hmac sha1 hex prefix" "openssl dgst -sha1 -hmac KEY of the body" \
	'{"type": "hmac", "secrets": ["generic-secret"], "header": "X-Signature", "algorithm": "sha1", "prefix": "sha1="}' 1763805600 \
	"{\"X-Signature\": \"sha1=$sig\"}" "$body"

sig=$(b64mac sha512 generic-secret "$body")
vector "hmac sha512 base64" "openssl dgst -sha512 -hmac KEY -binary of the body | openssl base64" \
	'{"type": "hmac", "secrets": ["generic-secret"], "header": "X-Payload-Signature", "algorithm": "sha512", "encoding": "base64"}' 1763805600 \
	"{\"X-Payload-Signature\": \"$sig\"}" "$body"

sig=$(hexmac sha256 generic-secret "1763805600.$body")
vector "hmac sha256 timestamp" "openssl dgst -sha256 -hmac KEY of ts.body" \
	'{"type": "hmac", "secrets": ["generic-secret"], "header": "X-Signature", "timestamp_header": "X-Timestamp", "tolerance": "1m"}' 1763805659 \
	"{\"X-Signature\": \"$sig\", \"X-Timestamp\": \"1763805600\"}" "$body"

vector "gitlab" "the token itself" \
	'{"type": "gitlab", "secrets": ["gitlab-hook-token"]}' 1763805600 \
	'{"X-Gitlab-Token": "gitlab-hook-token", "X-Gitlab-Event": "Push Hook"}' '{"object_kind":"push"}'

vector "token" "the token itself" \
	'{"type": "token", "secrets": ["tok-123"], "header": "X-Webhook-Token"}' 1763805600 \
	'{"X-Webhook-Token": "tok-123"}' '{}'

cred=$(printf '%s' 'hookd:s3cret pass' | openssl base64 -A)
vector "basic" "printf username:password | openssl base64" \
	'{"type": "basic", "secrets": ["s3cret pass"], "username": "hookd"}' 1763805600 \
	"{\"Authorization\": \"Basic $cred\"}" '{}'

echo ']}'
