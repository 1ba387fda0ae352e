package sqlite_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookd/hookd"
	"github.com/hookd/hookd/sqlite"
)

// BenchmarkCreateTrigger stores GitHub-sized triggers from 64 concurrent
// callers, the way the receiving endpoint does, to profile the writer
// without HTTP: go test -run XXX -bench CreateTrigger -cpuprofile cpu.out ./sqlite/
func BenchmarkCreateTrigger(b *testing.B) {
	s, err := sqlite.Open(filepath.Join(b.TempDir(), "hookd.db"), sqlite.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	if err := s.CreateTenant(ctx, &hookd.Tenant{ID: "acme"}); err != nil {
		b.Fatal(err)
	}
	src := &hookd.Source{TenantID: "acme", Name: "github/acme", Verifier: hookd.SourceVerifier{Type: "none"}}
	if err := s.CreateSource(ctx, src); err != nil {
		b.Fatal(err)
	}
	raw, err := os.ReadFile("../inbound/testdata/git/github/push.json")
	if err != nil {
		b.Fatal(err)
	}
	body := json.RawMessage(string(raw) + strings.Repeat(" ", max(0, 6050-len(raw))))
	headers := map[string]string{"Content-Type": "application/json", "User-Agent": "GitHub-Hookshot/abc", "X-GitHub-Event": "push",
		"X-GitHub-Hook-ID": "1", "X-Hub-Signature-256": "sha256=" + strings.Repeat("a", 64)}
	var n atomic.Int64
	b.SetBytes(int64(len(body)))
	b.SetParallelism(32)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			t := &hookd.Trigger{TenantID: "acme", SourceID: src.ID, Source: src.Name, Method: "POST", Headers: headers,
				ContentType: "application/json", Body: body, BodySHA256: strings.Repeat("b", 64),
				DeliveryID: fmt.Sprintf("d-%d", i), Git: &hookd.Git{Provider: "github", Event: "push", Repo: "acme/api", Branch: "main", SHA: strings.Repeat("c", 40)}}
			if err := s.CreateTrigger(ctx, t, 24*time.Hour); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
