package hookd

import (
	"context"
	"time"
)

// DefaultPurgeLimit is the number of events a Purge examines when the
// request leaves Limit unset: small enough that one batch is a short
// transaction (SQLite has a single writer shared with delivery).
const DefaultPurgeLimit = 500

// Purger deletes old delivery history. It is an optional interface: both
// stores implement it, and maintenance runs it when the store does.
//
// Purge walks the events created before req.Before, oldest first, in
// passes. One call examines at most req.Limit events in one short
// transaction and deletes those whose deliveries are all finished
// (succeeded, dead or cancelled), together with those deliveries and their
// attempts. An event with a delivery still pending, failed (retry
// scheduled) or delivering is kept whole, payload included, so retries and
// replays keep working; a later pass deletes it once it is finished. Events
// without deliveries are deleted when old. Purge is global: it ignores
// tenants.
//
// A pass starts with an empty req.Cursor; each result's Cursor continues
// it, and is "" once the pass has reached events not older than Before.
// Passing a cursor only saves re-examining the events an earlier call
// kept; every deletion re-checks its conditions, so any cursor is safe.
// EINVALID for a cursor the store did not make.
type Purger interface {
	Purge(ctx context.Context, req PurgeRequest) (PurgeResult, error)
}

// PurgeRequest is one Purge batch.
type PurgeRequest struct {
	Before time.Time // events created before this are old
	Limit  int       // most events examined; DefaultPurgeLimit if <= 0
	Cursor string    // where the pass stands; "" starts a new pass
}

// PurgeResult tells what one Purge batch did.
type PurgeResult struct {
	Events     int // events deleted
	Deliveries int // their deliveries, deleted with them
	Attempts   int // those deliveries' attempts
	Kept       int // old events examined and kept: a delivery is unfinished
	// Cursor continues the pass; "" when the pass is complete.
	Cursor string
}

// Add adds the counts of o to r (the cursor is left alone).
func (r *PurgeResult) Add(o PurgeResult) {
	r.Events += o.Events
	r.Deliveries += o.Deliveries
	r.Attempts += o.Attempts
	r.Kept += o.Kept
}
