package hookd

import (
	"encoding/json"
	"testing"
	"time"
)

func TestDurationJSON(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{`"15s"`, 15 * time.Second, true},
		{`"1h30m"`, 90 * time.Minute, true},
		{`2.5`, 2500 * time.Millisecond, true},
		{`null`, 0, true},
		{`"soon"`, 0, false},
		{`true`, 0, false},
	}
	for _, tt := range tests {
		var d Duration
		err := json.Unmarshal([]byte(tt.in), &d)
		if (err == nil) != tt.ok || (tt.ok && time.Duration(d) != tt.want) {
			t.Errorf("%s: %v, %v", tt.in, time.Duration(d), err)
		}
	}
	b, _ := json.Marshal(Duration(15 * time.Second))
	if string(b) != `"15s"` {
		t.Fatalf("marshal = %s", b)
	}
}

func TestPatternsAndURLs(t *testing.T) {
	t.Parallel()
	for p, ok := range map[string]bool{"*": true, "invoice.*": true, "invoice.paid": true, "a.b.*": true,
		"": false, "a.*.b": false, "a b": false, ".a": false, "a.": false, "**": false} {
		if (ValidateEventPattern(p) == nil) != ok {
			t.Errorf("ValidateEventPattern(%q) ok=%v", p, !ok)
		}
	}
	match := []struct {
		p, typ string
		want   bool
	}{{"*", "x", true}, {"invoice.*", "invoice.paid", true}, {"invoice.*", "invoice.a.b", true},
		{"invoice.*", "invoiced", false}, {"invoice.*", "invoice", false}, {"a.b", "a.b", true}, {"a.b", "a.bc", false}}
	for _, m := range match {
		if MatchEventPattern(m.p, m.typ) != m.want {
			t.Errorf("MatchEventPattern(%q, %q) != %v", m.p, m.typ, m.want)
		}
	}
	for u, ok := range map[string]bool{"https://example.com/h": true, "http://example.com": false, "ftp://x": false,
		"https://": false, "https://u:p@x.com": false, "/relative": false} {
		if (ValidateEndpointURL(u, false) == nil) != ok {
			t.Errorf("ValidateEndpointURL(%q) ok=%v", u, !ok)
		}
	}
	if ValidateEndpointURL("http://127.0.0.1:9000/h", true) != nil {
		t.Error("--dev must allow http")
	}
}
