package hookd

// Cipher encrypts secrets at rest. Stores seal endpoint and source secrets
// with it before writing and open them after reading; the vault package
// implements it with AES-256-GCM.
type Cipher interface {
	Seal(plaintext []byte) (string, error)
	Open(sealed string) ([]byte, error)
}

// Reseal returns value, a stored secret, sealed with to: a plain-text
// value (plain is true) is sealed; a value that to opens already is
// returned unchanged (changed false), so an interrupted rotation can be run
// again; any other value is opened with old and sealed with to. EINVALID
// if it opens with neither.
func Reseal(value string, plain bool, old, to Cipher) (out string, changed bool, err error) {
	if to == nil {
		return "", false, Errorf(EINVALID, "A new master key is required.")
	}
	var b []byte
	switch {
	case plain:
		b = []byte(value)
	default:
		if _, err := to.Open(value); err == nil {
			return value, false, nil
		}
		if old == nil {
			return "", false, Errorf(EINVALID, "A secret is sealed, but no old master key was given.")
		}
		if b, err = old.Open(value); err != nil {
			return "", false, Errorf(EINVALID, "A secret opens with neither the old nor the new master key.")
		}
	}
	out, err = to.Seal(b)
	clear(b)
	if err != nil {
		return "", false, err
	}
	return out, true, nil
}
