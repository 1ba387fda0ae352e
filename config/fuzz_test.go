package config_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/hookd/hookd/config"
)

// fuzzEnv sets every variable but UNSET.
func fuzzEnv(name string) string {
	if name == "UNSET" {
		return ""
	}
	return exampleEnv(name)
}

// Parse never panics on any input, and a file it accepts writes out
// (Marshal) as text that parses to the same file.
func FuzzParse(f *testing.F) {
	for _, s := range []string{base, rich, "tenants: []\n", "tenants:\n  - id: a\n    name: ${X:-y}\n", "", "{", "- a", "tenants: [{id: a, endpoints: [{name: b, url: 'https://e', events: ['*'], secret: '${S:-}'}]}]"} {
		f.Add([]byte(s))
	}
	paths, _ := filepath.Glob("../docs/examples/*.yaml")
	for _, p := range paths {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	opts := config.Options{AllowInsecure: true, AllowCommands: true}
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := config.ParseWith("fuzz.yaml", data, fuzzEnv, opts)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("an error without text")
			}
			return
		}
		out, err := file.Marshal()
		if err != nil {
			t.Fatalf("Marshal: %v", err)
		}
		again, err := config.ParseWith("fuzz.yaml", out, fuzzEnv, opts)
		if err != nil {
			t.Fatalf("Parse(Marshal(f)): %v\n%s", err, out)
		}
		out2, err := again.Marshal()
		if err != nil || !bytes.Equal(out, out2) {
			t.Fatalf("Marshal is not stable (%v):\n%s\n---\n%s", err, out, out2)
		}
	})
}
