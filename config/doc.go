// Package config is hookd's configuration as code: a YAML file that
// declares tenants and their event types, endpoints, sources, rules and
// API keys (docs/CONFIG.md).
//
// Load and Parse read a file: ${VAR} and ${VAR:-default} references expand
// from the environment, decoding is strict, and every resource is checked
// as the API checks it; mistakes are reported with the file and line.
// Plan compares a file with a store and lists what to create, change and
// delete; Apply makes those changes and records which resources the file
// owns (hookd.ManagedStore), so that a later plan deletes only those and
// the API can refuse to edit them. Export writes a tenant's current state
// as a file.
package config
