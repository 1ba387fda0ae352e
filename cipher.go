package hookd

// Cipher encrypts secrets at rest. Stores seal endpoint and source secrets
// with it before writing and open them after reading; the vault package
// implements it with AES-256-GCM.
type Cipher interface {
	Seal(plaintext []byte) (string, error)
	Open(sealed string) ([]byte, error)
}
