package hookd

import "context"

// Notifier publishes operational events (types under "hookd.") into a
// tenant, like any other event: endpoints subscribed to them get
// deliveries. Notify is called after the change it reports has committed;
// it does not fail the caller: errors are logged by the implementation.
type Notifier interface {
	Notify(ctx context.Context, tenantID string, events ...*Event)
}
