package hookd

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestEventTypeValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		t    EventType
		ok   bool
	}{
		{"plain", EventType{Name: "invoice.paid"}, true},
		{"schema and example", EventType{Name: "a", Schema: json.RawMessage(`{"type":"object"}`), Example: json.RawMessage(`{}`)}, true},
		{"bad name", EventType{Name: "a..b"}, false},
		{"reserved", EventType{Name: "hookd.mine"}, false},
		{"reserved built-in name", EventType{Name: TypeTest}, false},
		{"built-in", EventType{Name: TypeTest, Builtin: true}, true},
		{"hookd without dot", EventType{Name: "hookd"}, true},
		{"hookdx", EventType{Name: "hookdx.a"}, true},
		{"schema not JSON", EventType{Name: "a", Schema: json.RawMessage(`{`)}, false},
		{"example not JSON", EventType{Name: "a", Example: json.RawMessage(`x`)}, false},
		{"long description", EventType{Name: "a", Description: strings.Repeat("x", 2001)}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.t.Validate()
			if tt.ok && err != nil {
				t.Fatalf("Validate = %v, want nil", err)
			}
			if !tt.ok && ErrorCode(err) != EINVALID {
				t.Fatalf("Validate = %v, want EINVALID", err)
			}
		})
	}
}

func TestOperationalEventTypes(t *testing.T) {
	t.Parallel()
	want := []string{TypeEndpointCreated, TypeEndpointUpdated, TypeEndpointDeleted, TypeEndpointDisabled,
		TypeDeliveryFailing, TypeDeliveryExhausted, TypeDeliveryRecovered,
		TypeAlertErrorSpike, TypeAlertHealthLow, TypeAlertResourceHigh, TypeAlertHeartbeatLost, TypeTest}
	got := OperationalEventTypes()
	if len(got) != len(want) {
		t.Fatalf("%d operational types, want %d", len(got), len(want))
	}
	for i, et := range got {
		if et.Name != want[i] {
			t.Errorf("type %d = %q, want %q", i, et.Name, want[i])
		}
		if !IsOperational(et.Name) || !et.Builtin || et.Deprecated || et.Archived || et.TenantID != "" || len(et.Schema) != 0 {
			t.Errorf("%s = %+v", et.Name, et)
		}
		if err := et.Validate(); err != nil {
			t.Errorf("%s: %v", et.Name, err)
		}
		if len(et.Description) < 10 || !strings.HasSuffix(et.Description, ".") {
			t.Errorf("%s: description %q", et.Name, et.Description)
		}
		var example map[string]any
		if err := json.Unmarshal(et.Example, &example); err != nil || len(example) == 0 {
			t.Errorf("%s: example %s is not a JSON object (%v)", et.Name, et.Example, err)
		}
		// Endpoint events carry the endpoint, delivery events the delivery,
		// alerts the alert.
		switch {
		case strings.HasPrefix(et.Name, "hookd.endpoint."):
			ep, _ := example["endpoint"].(map[string]any)
			for _, k := range []string{"id", "name", "url", "state", "consecutive_failures"} {
				if _, ok := ep[k]; !ok {
					t.Errorf("%s: example endpoint has no %q", et.Name, k)
				}
			}
		case strings.HasPrefix(et.Name, "hookd.delivery."):
			for _, k := range []string{"delivery_id", "event_id", "event_type", "endpoint_id", "attempts", "status_code", "error"} {
				if _, ok := example[k]; !ok {
					t.Errorf("%s: example has no %q", et.Name, k)
				}
			}
		case strings.HasPrefix(et.Name, "hookd.alert."):
			if example["alert"] != strings.TrimPrefix(et.Name, "hookd.alert.") || example["opened_at"] == nil {
				t.Errorf("%s: example %s", et.Name, et.Example)
			}
		}
		// The JSON form marks it built in and shows no zero times.
		raw, err := json.Marshal(et)
		if err != nil {
			t.Fatal(err)
		}
		if s := string(raw); !strings.Contains(s, `"builtin":true`) || strings.Contains(s, "created_at") || strings.Contains(s, "updated_at") {
			t.Errorf("%s as JSON = %s", et.Name, s)
		}
	}
	// Every call returns new values.
	got[0].Description = "changed"
	if OperationalEventTypes()[0].Description == "changed" {
		t.Fatal("OperationalEventTypes shares its values between calls")
	}
}

func TestIsOperational(t *testing.T) {
	t.Parallel()
	for typ, want := range map[string]bool{
		"hookd.test": true, "hookd.anything.else": true, "hookd.": true,
		"hookd": false, "hookdx.a": false, "invoice.hookd.x": false, "": false, "Hookd.test": false,
	} {
		if got := IsOperational(typ); got != want {
			t.Errorf("IsOperational(%q) = %v, want %v", typ, got, want)
		}
	}
}

// A stored type's JSON is unchanged: times are shown, builtin is not.
func TestEventTypeJSON(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	raw, err := json.Marshal(&EventType{Name: "a", CreatedAt: at, UpdatedAt: at})
	if err != nil {
		t.Fatal(err)
	}
	if s := string(raw); strings.Contains(s, "builtin") || !strings.Contains(s, `"created_at":"2026-03-02T09:00:00Z"`) {
		t.Fatalf("stored type as JSON = %s", s)
	}
}
