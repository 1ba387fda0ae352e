package filter_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/hookd/hookd"
	"github.com/hookd/hookd/filter"
)

func TestMatcher(t *testing.T) {
	t.Parallel()
	big := &hookd.Endpoint{ID: "ep_1", Events: []string{"invoice.*"}, Filter: json.RawMessage(`{"data.amount": {"type": "gt", "pattern": 100}}`)}
	all := &hookd.Endpoint{ID: "ep_2", Events: []string{"*"}}
	typed := &hookd.Endpoint{ID: "ep_3", Events: []string{"*"}, Filter: json.RawMessage(`{"type": {"type": "startswith", "pattern": "order."}}`)}
	broken := &hookd.Endpoint{ID: "ep_4", Events: []string{"*"}, Filter: json.RawMessage(`{"data": {"type": "nope"}}`)}
	c := filter.NewCache(func() time.Time { return time.Unix(0, 0) })
	m := c.Matcher()
	cases := []struct {
		ep   *hookd.Endpoint
		typ  string
		data string
		want bool
	}{
		{big, "invoice.paid", `{"amount": 150}`, true},
		{big, "invoice.paid", `{"amount": 50}`, false},
		{big, "invoice.paid", `{}`, false},
		{big, "order.paid", `{"amount": 150}`, false}, // not subscribed
		{all, "anything", `[1, 2]`, true},
		{typed, "order.created", `{}`, true},
		{typed, "invoice.paid", `{}`, false},
		{broken, "x", `{}`, false}, // a stored filter that no longer compiles matches nothing
	}
	for _, tc := range cases {
		ev := &hookd.Event{ID: "evt_1", Type: tc.typ, Payload: json.RawMessage(tc.data)}
		if got := m(tc.ep, ev); got != tc.want {
			t.Errorf("%s %s %s = %v, want %v", tc.ep.ID, tc.typ, tc.data, got, tc.want)
		}
	}
	// A changed filter is recompiled.
	big.Filter = json.RawMessage(`{"data.amount": {"type": "lt", "pattern": 100}}`)
	if !c.Matcher()(big, &hookd.Event{Type: "invoice.paid", Payload: json.RawMessage(`{"amount": 50}`)}) {
		t.Fatal("the changed filter was not used")
	}
	if _, err := filter.Compile(json.RawMessage(`{"x": {"type": "regex", "pattern": "("}}`)); hookd.ErrorCode(err) != hookd.EINVALID {
		t.Fatalf("bad filter: %v", err)
	}
}
