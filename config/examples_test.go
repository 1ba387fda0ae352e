package config_test

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hookd/hookd"
	"github.com/hookd/hookd/config"
)

// exampleEnv gives every variable an example value of the right form:
// API keys and secrets differ per variable, as they must.
func exampleEnv(name string) string {
	sum := sha256.Sum256([]byte(name))
	switch {
	case strings.HasSuffix(name, "_ADMIN_KEY") || strings.HasSuffix(name, "_AUTOMATION_KEY"):
		return hookd.KeyPrefix + hex.EncodeToString(sum[:])[:43]
	case strings.Contains(name, "SECRET"):
		return hookd.SecretPrefix + base64.StdEncoding.EncodeToString(sum[:])
	}
	return "example-" + strings.ToLower(name)
}

// Every example in docs/examples loads and plans against an empty store,
// applies, and plans empty afterwards; none can rot.
func TestExamples(t *testing.T) {
	t.Parallel()
	paths, err := filepath.Glob("../docs/examples/*.yaml")
	if err != nil || len(paths) < 4 {
		t.Fatalf("examples: %v, %v", paths, err)
	}
	for _, path := range paths {
		t.Run(filepath.Base(path), func(t *testing.T) {
			t.Parallel()
			f, err := config.LoadWith(path, exampleEnv, config.Options{AllowCommands: true})
			if err != nil {
				t.Fatal(err)
			}
			st := newStore(t)
			p := apply(t, st, f, path)
			if p.Empty() || len(p.Warnings) > 0 {
				t.Fatalf("plan:\n%s", p)
			}
			for _, c := range p.Changes {
				if c.Op != config.OpCreate {
					t.Fatalf("plan against an empty store:\n%s", p)
				}
			}
			wantEmpty(t, plan(t, st, f, path))
		})
	}
}
