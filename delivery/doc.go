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
// Throttling: an answer of 429, 502, 503 or 504 does not use up the
// delivery's retry schedule (up to 100 such answers per delivery); the
// delivery waits for the answer's Retry-After or the endpoint's backoff, and
// on this node the endpoint is held for that long and its in-flight limit
// halved, growing back by one per success. fire_and_forget endpoints get
// one attempt per delivery.
//
// Dispatcher.Test sends a test event at once, outside the queue, signed and
// guarded like a delivery. With Config.Notifier set, stored results that
// need attention are published as operational events (hookd.delivery.*,
// hookd.endpoint.disabled). docs/DELIVERY.md has the exact rules.
//
// Durability: the store is the only truth. A delivery is leased while this
// node holds it; the lease is renewed while work is in flight and released
// on shutdown. If the node dies, the lease expires and any node claims the
// delivery again (at-least-once; the receiver de-duplicates on webhook-id).
package delivery
