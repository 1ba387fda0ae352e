package signature

import (
	"time"

	"github.com/hookd/hookd"
)

// SourceConfig is the VerifierConfig of a source's verifier.
func SourceConfig(v hookd.SourceVerifier) VerifierConfig {
	return VerifierConfig{
		Type: v.Type, Secrets: v.Secrets, Header: v.Header, Algorithm: v.Algorithm, Encoding: v.Encoding,
		Prefix: v.Prefix, TimestampHeader: v.TimestampHeader, Tolerance: time.Duration(v.Tolerance), Username: v.Username,
	}
}

// ValidateSourceVerifier checks a source's verifier before it is stored:
// NewVerifier accepts its settings and secrets. Every error is EINVALID;
// one NewVerifier does not explain says only that the settings are
// invalid.
func ValidateSourceVerifier(v hookd.SourceVerifier) error {
	if _, err := NewVerifier(SourceConfig(v)); err != nil {
		if hookd.ErrorCode(err) == hookd.EINVALID {
			return err
		}
		return hookd.Errorf(hookd.EINVALID, "The verifier settings are invalid.")
	}
	return nil
}
