package sqlite

import (
	"strings"
	"testing"
)

// The hand-written encodings give exactly marshalText's bytes.
func checkMapJSON(t *testing.T, keys, vals []string) {
	t.Helper()
	m := map[string]string{}
	lm := map[string][]string{}
	for i, k := range keys {
		m[k] = vals[i]
		lm[k] = append(lm[k], vals[i], k)
	}
	lm["nil"] = nil
	for _, c := range []struct {
		got string
		v   any
	}{{stringMapJSON(m), m}, {stringListMapJSON(lm), lm}} {
		want, err := marshalText(c.v)
		if err != nil {
			t.Fatal(err)
		}
		if c.got != want {
			t.Fatalf("encoded %#v as\n%s\nwant\n%s", c.v, c.got, want)
		}
	}
}

var jsonTextCases = []string{
	"", "plain", `quote " and \ backslash`, "<html> & 'amp'", "tab\tline\nreturn\rbell\a\b\f\x00\x1f\x7f",
	"é ü 日本 😀", "\u2028\u2029", "bad \xff\xfe utf8 \xc3", "\xed\xa0\x80", "sha256=abc", "GitHub-Hookshot/abc",
}

func TestStringMapJSON(t *testing.T) {
	if a, b := stringMapJSON(nil), stringListMapJSON(nil); a != "{}" || b != "{}" {
		t.Errorf("nil maps encoded as %s and %s, want {} (as stored before)", a, b)
	}
	checkMapJSON(t, nil, nil)
	checkMapJSON(t, jsonTextCases, append(jsonTextCases[1:], jsonTextCases[0]))
	checkMapJSON(t, []string{"X-GitHub-Event", "Content-Type", "x-lower"}, []string{"push", "application/json", strings.Repeat("a", 300)})
}

func FuzzStringMapJSON(f *testing.F) {
	for i, c := range jsonTextCases {
		f.Add(c, jsonTextCases[(i+1)%len(jsonTextCases)], "k")
	}
	f.Fuzz(func(t *testing.T, k, v, k2 string) {
		checkMapJSON(t, []string{k, k2}, []string{v, k + v})
	})
}
