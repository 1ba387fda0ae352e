// Package signature signs outbound webhooks and verifies signed requests.
//
// Three schemes, each keyed the way its own ecosystem's verifiers expect:
//
//   - standard (Standard Webhooks): headers webhook-id, webhook-timestamp
//     (Unix seconds) and webhook-signature. The signed content is
//     id + "." + timestamp + "." + body; the signature is the standard base64
//     of HMAC-SHA256 under the key that is the base64-decoded part of the
//     secret after "whsec_". The header carries "v1,<sig>" once per valid
//     secret, separated by spaces. Verification also accepts the svix-* names.
//   - timestamped (Stripe style): one header (default Hookd-Signature) with
//     "t=<unix>,v1=<hex>", where hex is HMAC-SHA256 over t + "." + body keyed
//     with the secret string's bytes as given (prefix included). Several valid
//     secrets add several v1= entries to the same header.
//   - hmac (GitHub style): one header (default X-Hookd-Signature-256) with
//     "sha256=<hex>" of HMAC-SHA256 over the body, keyed with the secret
//     string's bytes. Several valid secrets give a comma-separated list;
//     GitHub-style verifiers that compare the whole header verify against
//     the current secret when it is the only one.
//
// Verification compares in constant time, accepts a timestamp within a
// tolerance in both directions (default five minutes), and never reports the
// expected value in an error.
package signature
