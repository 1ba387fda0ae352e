package config

// The checks the API makes before it stores a resource are shared with
// it: hookd.ValidateEndpointSecret, filter.Validate,
// signature.ValidateSourceVerifier, action.ValidateRule,
// schema.CheckEventType and hookd.ValidateOperationalPattern. What is
// left here adapts them to a file.

import (
	"encoding/base64"
	"strings"

	"github.com/hookd/hookd"
)

// placeholderSecret stands in for secrets a file keeps, to check the
// settings of a verifier: it has the form every type accepts.
var placeholderSecret = hookd.SecretPrefix + base64.StdEncoding.EncodeToString(make([]byte, 32))

// validateSecret is hookd.ValidateEndpointSecret in the words of a file's
// other problems: "secret: " and the message, starting in lower case and
// without its final period.
func validateSecret(secret string) error {
	err := hookd.ValidateEndpointSecret(secret)
	if err == nil {
		return nil
	}
	msg := strings.TrimSuffix(hookd.ErrorMessage(err), ".")
	return hookd.Errorf(hookd.EINVALID, "secret: %s", strings.ToLower(msg[:1])+msg[1:])
}
