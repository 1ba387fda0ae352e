// Package delivery is hookd's outbound engine. A Dispatcher claims due
// deliveries from the store in batches under a lease, sends each as a signed
// HTTP POST, and records every attempt in batches, scheduling retries with
// jitter or declaring the delivery dead when the endpoint's schedule is
// exhausted.
//
// Isolation: each endpoint has its own in-flight limit and a bounded local
// queue. When an endpoint's queue is full its deliveries are excluded from
// further claims, so a slow or failing endpoint occupies at most its own
// slots and never the claims or workers other endpoints need.
//
// Durability: the store is the only truth. A delivery is leased while this
// node holds it; the lease is renewed while work is in flight and released
// on shutdown. If the node dies, the lease expires and any node claims the
// delivery again (at-least-once; the receiver de-duplicates on webhook-id).
package delivery
