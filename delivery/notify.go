package delivery

import (
	"context"
	"encoding/json"
	"github.com/hookd/hookd/notify"
	"log/slog"
	"strconv"
	"time"

	"github.com/hookd/hookd"
)

// failingAt is the counted attempt whose failure is reported as
// hookd.delivery.failing (when it leaves a retry scheduled).
const failingAt = 4

// deliveryNotice is the payload of the hookd.delivery.* events.
type deliveryNotice struct {
	DeliveryID    string     `json:"delivery_id"`
	EventID       string     `json:"event_id"`
	EventType     string     `json:"event_type"`
	EndpointID    string     `json:"endpoint_id"`
	EndpointURL   string     `json:"endpoint_url"`
	Attempts      int        `json:"attempts"`
	StatusCode    int        `json:"status_code"`
	Error         string     `json:"error"`
	ErrorClass    string     `json:"error_class"`
	NextAttemptAt *time.Time `json:"next_attempt_at"`
}

// notices returns the operational events a result gives once it is
// stored. ep is the endpoint as the attempt saw it; counts is decide's
// answer. With c = the attempts of the delivery that counted against its
// retry schedule before this one (see countedBefore):
//
//   - hookd.delivery.failing: the attempt counted, failed, and is the
//     failingAt-th counted one (c+1 == failingAt), and a retry is
//     scheduled. Sent at most once per delivery: counted attempts only grow.
//   - hookd.delivery.exhausted: the delivery is dead, not after a 410 (that
//     gives hookd.endpoint.disabled) and not on a fire_and_forget endpoint.
//   - hookd.delivery.recovered: the delivery succeeded after c >= failingAt
//     counted attempts on an at_least_once endpoint whose schedule has more
//     than failingAt entries, so a failing notice was due.
//   - hookd.endpoint.disabled: the result disables the endpoint (410).
//
// Deliveries of operational events give no delivery notices, so a failing
// receiver of hookd.* events cannot feed itself more of them.
func notices(res *hookd.DeliveryResult, cd *hookd.ClaimedDelivery, ep *hookd.Endpoint, counts bool) []*hookd.Event {
	var out []*hookd.Event
	if res.DisableReason != "" {
		off := *ep
		off.State, off.StateReason = hookd.EndpointDisabled, res.DisableReason
		// Keyed by the endpoint's version: 410s of attempts sent to one
		// version disable it once; disabled again after a change, it is
		// a new notice.
		key := hookd.TypeEndpointDisabled + ":" + ep.ID + ":" + strconv.FormatInt(ep.UpdatedAt.UnixNano(), 10)
		ev := notify.EndpointEvent(hookd.TypeEndpointDisabled, &off, key)
		ev.TenantID = res.TenantID
		out = append(out, ev)
	}
	if hookd.IsOperational(cd.EventType) {
		return out
	}
	c := countedBefore(cd.Attempts, cd.Throttled)
	atLeastOnce := ep.Mode != hookd.ModeFireAndForget
	var typ string
	switch res.State {
	case hookd.DeliveryFailed:
		if counts && c+1 == failingAt {
			typ = hookd.TypeDeliveryFailing
		}
	case hookd.DeliveryDead:
		if res.DisableReason == "" && atLeastOnce {
			typ = hookd.TypeDeliveryExhausted
		}
	case hookd.DeliverySucceeded:
		if c >= failingAt && atLeastOnce && len(ep.RetrySchedule) > failingAt {
			typ = hookd.TypeDeliveryRecovered
		}
	}
	if typ == "" {
		return out
	}
	a := &res.Attempt
	n := deliveryNotice{
		DeliveryID: res.DeliveryID, EventID: cd.EventID, EventType: cd.EventType,
		EndpointID: res.EndpointID, EndpointURL: a.URL, Attempts: a.Number,
		StatusCode: a.StatusCode, Error: a.Error, ErrorClass: a.ErrorClass,
	}
	if res.State == hookd.DeliveryFailed {
		next := res.NextAt.UTC()
		n.NextAttemptAt = &next
	}
	return append(out, operational(res.TenantID, typ, typ+":"+res.DeliveryID, n))
}

// operational returns an operational event of the tenant.
func operational(tenantID, typ, key string, payload any) *hookd.Event {
	b, err := json.Marshal(payload)
	if err != nil {
		panic("delivery: notice payload: " + err.Error()) // plain structs: cannot happen
	}
	return &hookd.Event{TenantID: tenantID, Type: typ, Payload: b, IdempotencyKey: key, Origin: hookd.OriginHookd}
}

// notify publishes the notices of the stored results in batch: one Notify
// call per tenant, in the order of the batch, each idempotency key once.
func (d *Dispatcher) notify(batch []*outcome) {
	if d.cfg.Notifier == nil {
		return
	}
	var tenants []string
	per := map[string][]*hookd.Event{}
	seen := map[string]bool{}
	for _, o := range batch {
		if o.res.Stale {
			continue
		}
		for _, ev := range o.notices {
			if seen[ev.IdempotencyKey] {
				continue
			}
			seen[ev.IdempotencyKey] = true
			if per[ev.TenantID] == nil {
				tenants = append(tenants, ev.TenantID)
			}
			per[ev.TenantID] = append(per[ev.TenantID], ev)
		}
	}
	for _, t := range tenants {
		d.log.Debug("notify", slog.String("tenant", t), slog.Int("events", len(per[t])))
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		d.cfg.Notifier.Notify(ctx, t, per[t]...)
		cancel()
	}
}
