package delivery

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/hookd/hookd"
)

func TestEnvelopeKeepsPayloadBytes(t *testing.T) {
	t.Parallel()
	payload := []byte(`{"b": 1,  "a":[1.50, "\u00e9"]}`) // odd spacing and escapes must survive
	created := time.Date(2026, 11, 22, 10, 0, 0, 123000000, time.UTC)
	got := Envelope("evt_1", "invoice.paid", created, payload)
	want := `{"id":"evt_1","type":"invoice.paid","timestamp":"2026-11-22T10:00:00.123Z","data":{"b": 1,  "a":[1.50, "\u00e9"]}}`
	if string(got) != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
	var env struct {
		ID   string          `json:"id"`
		Data json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(got, &env); err != nil || env.ID != "evt_1" || string(env.Data) != string(payload) {
		t.Fatalf("envelope does not parse back: %v %+v", err, env)
	}
}

func TestRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		status int
		value  string
		want   time.Duration
		ok     bool
	}{
		{429, "30", 30 * time.Second, true},
		{503, "0", minRetryAfter, true},         // clamped up
		{503, "999999999", maxRetryAfter, true}, // clamped down
		{502, now.Add(2 * time.Minute).Format(http.TimeFormat), 2 * time.Minute, true},
		{504, "soon", 0, false},
		{429, "", 0, false},
		{500, "30", 0, false}, // only throttling statuses
		{429, "-5", 0, false},
	}
	for _, tt := range tests {
		h := http.Header{}
		if tt.value != "" {
			h.Set("Retry-After", tt.value)
		}
		got, ok := retryAfter(h, tt.status, now)
		if got != tt.want || ok != tt.ok {
			t.Errorf("retryAfter(%d, %q) = %v, %v; want %v, %v", tt.status, tt.value, got, ok, tt.want, tt.ok)
		}
	}
}

func TestNextDelay(t *testing.T) {
	t.Parallel()
	sched := hookd.DefaultRetrySchedule
	for attempts := 1; attempts < len(sched); attempts++ {
		base := time.Duration(sched[attempts])
		for range 50 {
			d, ok := nextDelay(sched, attempts)
			if !ok || d < base || d > base+base/5 {
				t.Fatalf("nextDelay(after %d) = %v, %v; want in [%v, %v]", attempts, d, ok, base, base+base/5)
			}
		}
	}
	if _, ok := nextDelay(sched, len(sched)); ok {
		t.Fatal("a delivery with every scheduled attempt made must be dead")
	}
}

func TestDecide(t *testing.T) {
	t.Parallel()
	d := New(Config{})
	ep := &hookd.Endpoint{RetrySchedule: []hookd.Duration{0, hookd.Duration(time.Minute), hookd.Duration(time.Hour)}}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name    string
		number  int
		status  int
		err     string
		header  http.Header
		state   hookd.DeliveryState
		disable bool
		minNext time.Duration
	}{
		{"2xx succeeds", 1, 204, "", nil, hookd.DeliverySucceeded, false, 0},
		{"500 retries on schedule", 1, 500, "HTTP 500", nil, hookd.DeliveryFailed, false, time.Minute},
		{"timeout retries", 2, 0, "timeout", nil, hookd.DeliveryFailed, false, time.Hour},
		{"last attempt dies", 3, 500, "HTTP 500", nil, hookd.DeliveryDead, false, 0},
		{"410 kills and disables", 1, 410, "HTTP 410", nil, hookd.DeliveryDead, true, 0},
		{"429 honours Retry-After", 1, 429, "HTTP 429", http.Header{"Retry-After": {"120"}}, hookd.DeliveryFailed, false, 2 * time.Minute},
	}
	for _, tt := range tests {
		res := &hookd.DeliveryResult{Attempt: hookd.Attempt{Number: tt.number, StatusCode: tt.status, Error: tt.err}}
		d.decide(res, ep, tt.header, now)
		if res.State != tt.state || (res.DisableReason != "") != tt.disable {
			t.Errorf("%s: state %s disable %q", tt.name, res.State, res.DisableReason)
		}
		if tt.state == hookd.DeliveryFailed {
			if delay := res.NextAt.Sub(now); delay < tt.minNext || delay > tt.minNext+tt.minNext/5 {
				t.Errorf("%s: next attempt in %v, want about %v", tt.name, delay, tt.minNext)
			}
		}
	}
}
