package hookd

import (
	"sort"
	"time"
)

// EndpointOutcome sums up what a batch of delivery results means for one
// endpoint; both stores apply it in the transaction that records the
// results.
type EndpointOutcome struct {
	Last  *DeliveryResult // the last result in batch order
	Reset bool            // a success in the batch: Failures counts the failures after it
	// Failures is the number of failed attempts (after the last success).
	Failures int
	// FirstFailure is the start of the first of those failures; nil if none.
	FirstFailure *time.Time
	Disable      string // a DisableReason from the batch
}

// StatsKey is one endpoint's StatsBucket slot.
type StatsKey struct {
	EndpointID string
	Bucket     time.Time // the slot's start
}

// StatsCount is the attempts of one slot.
type StatsCount struct {
	TenantID  string
	Succeeded int
	Failed    int
}

// Outcomes sums up the recorded results (keep reports which ones were
// recorded) per endpoint, with the endpoint ids sorted (the order in which
// to lock their rows), and per stats slot.
func Outcomes(results []*DeliveryResult, keep func(i int) bool) (map[string]*EndpointOutcome, []string, map[StatsKey]*StatsCount) {
	per := map[string]*EndpointOutcome{}
	slots := map[StatsKey]*StatsCount{}
	var ids []string
	for i, r := range results {
		if !keep(i) {
			continue
		}
		o := per[r.EndpointID]
		if o == nil {
			o = &EndpointOutcome{}
			per[r.EndpointID] = o
			ids = append(ids, r.EndpointID)
		}
		o.Last = r
		k := StatsKey{EndpointID: r.EndpointID, Bucket: r.Attempt.StartedAt.UTC().Truncate(StatsBucket)}
		c := slots[k]
		if c == nil {
			c = &StatsCount{TenantID: r.TenantID}
			slots[k] = c
		}
		if r.State == DeliverySucceeded {
			o.Reset, o.Failures, o.FirstFailure = true, 0, nil
			c.Succeeded++
		} else {
			o.Failures++
			if o.FirstFailure == nil {
				at := r.Attempt.StartedAt
				o.FirstFailure = &at
			}
			c.Failed++
		}
		if r.DisableReason != "" {
			o.Disable = r.DisableReason
		}
	}
	sort.Strings(ids)
	return per, ids, slots
}
