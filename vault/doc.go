// Package vault encrypts secrets at rest with AES-256-GCM under a master key
// the operator supplies (HOOKD_MASTER_KEY) or hookd generates once into a key
// file with 0600 permissions. Ciphertexts name the key that sealed them, so
// rotating the master key can re-encrypt everything while both are loaded.
package vault
