// Package hookd holds hookd's domain: the types every part of the gateway
// shares (tenants, keys, event types, endpoints, events, deliveries and
// attempts), the Store interface that the sqlite and postgres packages
// implement, validation of user input, and the Error type. It imports only
// the standard library; cmd/hookd wires the adapters together.
package hookd
