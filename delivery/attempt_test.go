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

// decide: the schedule position is the attempts made minus the forgiven
// throttling answers (the first maxForgivenThrottles), and fire_and_forget
// endpoints get one attempt.
func TestDecide(t *testing.T) {
	t.Parallel()
	sched := []hookd.Duration{0, hookd.Duration(time.Minute), hookd.Duration(time.Hour)}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	const pause = 2 * time.Second
	tests := []struct {
		name      string
		mode      hookd.DeliveryMode
		number    int // this attempt's number
		throttled int // throttling answers before it
		status    int
		err       string
		state     hookd.DeliveryState
		disable   bool
		throttle  bool          // res.Throttled
		counts    bool          // counted against the schedule
		next      time.Duration // for failed: the delay (schedule entries get up to +20 %)
	}{
		{"2xx succeeds", "", 1, 0, 204, "", hookd.DeliverySucceeded, false, false, true, 0},
		{"500 retries on schedule", "", 1, 0, 500, "HTTP 500", hookd.DeliveryFailed, false, false, true, time.Minute},
		{"timeout retries", "", 2, 0, 0, "timeout", hookd.DeliveryFailed, false, false, true, time.Hour},
		{"redirect retries", "", 1, 0, 302, "HTTP 302", hookd.DeliveryFailed, false, false, true, time.Minute},
		{"last attempt dies", "", 3, 0, 500, "HTTP 500", hookd.DeliveryDead, false, false, true, 0},
		{"410 kills and disables", "", 1, 0, 410, "HTTP 410", hookd.DeliveryDead, true, false, true, 0},
		{"429 is forgiven", "", 1, 0, 429, "HTTP 429", hookd.DeliveryFailed, false, true, false, pause},
		{"503 after throttles is forgiven", "", 7, 6, 503, "HTTP 503", hookd.DeliveryFailed, false, true, false, pause},
		{"502 forgiven past the schedule's length", "", 60, 59, 502, "HTTP 502", hookd.DeliveryFailed, false, true, false, pause},
		{"500 after 3 throttles is the first counted", "", 4, 3, 500, "HTTP 500", hookd.DeliveryFailed, false, false, true, time.Minute},
		{"500 after 6 throttles and 1 failure is the second", "", 8, 6, 500, "HTTP 500", hookd.DeliveryFailed, false, false, true, time.Hour},
		{"500 after 6 throttles and 2 failures dies", "", 9, 6, 500, "HTTP 500", hookd.DeliveryDead, false, false, true, 0},
		{"the 100th throttle is forgiven", "", 100, 99, 429, "HTTP 429", hookd.DeliveryFailed, false, true, false, pause},
		{"the 101st throttle counts", "", 101, 100, 429, "HTTP 429", hookd.DeliveryFailed, false, true, true, time.Minute},
		{"throttles past the bound use up the schedule", "", 103, 102, 504, "HTTP 504", hookd.DeliveryDead, false, true, true, 0},
		{"fire_and_forget: 500 dies", hookd.ModeFireAndForget, 1, 0, 500, "HTTP 500", hookd.DeliveryDead, false, false, true, 0},
		{"fire_and_forget: 429 dies", hookd.ModeFireAndForget, 1, 0, 429, "HTTP 429", hookd.DeliveryDead, false, true, true, 0},
		{"fire_and_forget: timeout dies", hookd.ModeFireAndForget, 1, 0, 0, "timeout", hookd.DeliveryDead, false, false, true, 0},
		{"fire_and_forget: 410 disables", hookd.ModeFireAndForget, 1, 0, 410, "HTTP 410", hookd.DeliveryDead, true, false, true, 0},
		{"fire_and_forget: 2xx succeeds", hookd.ModeFireAndForget, 1, 0, 200, "", hookd.DeliverySucceeded, false, false, true, 0},
	}
	for _, tt := range tests {
		ep := &hookd.Endpoint{RetrySchedule: sched, Mode: tt.mode}
		res := &hookd.DeliveryResult{Attempt: hookd.Attempt{Number: tt.number, StatusCode: tt.status, Error: tt.err}}
		counts := decide(res, ep, tt.throttled, pause, now)
		if res.State != tt.state || (res.DisableReason != "") != tt.disable || res.Throttled != tt.throttle || counts != tt.counts {
			t.Errorf("%s: state %s, disable %q, throttled %v, counts %v", tt.name, res.State, res.DisableReason, res.Throttled, counts)
		}
		if tt.state != hookd.DeliveryFailed {
			continue
		}
		delay := res.NextAt.Sub(now)
		if tt.throttle && !tt.counts {
			if delay != tt.next {
				t.Errorf("%s: next attempt in %v, want the pause %v", tt.name, delay, tt.next)
			}
		} else if delay < tt.next || delay > tt.next+tt.next/5 {
			t.Errorf("%s: next attempt in %v, want about %v", tt.name, delay, tt.next)
		}
	}
}
