package sqlite

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/hookd/hookd"
)

func openStore(t *testing.T) *Store {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "hookd.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// A background write queued before a caller's write runs after it while
// it is younger than backgroundWait, and on its own when nothing else
// waits.
func TestWriterLetsWaitingCallersGoFirst(t *testing.T) {
	s := openStore(t)
	ctx := context.Background()
	var mu sync.Mutex
	var order []string
	record := func(name string) func(*writer) error {
		return func(*writer) error {
			mu.Lock()
			order = append(order, name)
			mu.Unlock()
			return nil
		}
	}
	release := make(chan struct{})
	started := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		s.exec(ctx, func(w *writer) error { close(started); <-release; return nil })
	})
	<-started // the writer is busy with a group
	wg.Go(func() {
		if err := s.exec(hookd.Background(ctx), record("background")); err != nil {
			t.Error(err)
		}
	})
	waitQueued(t, s.bg, 1)
	wg.Go(func() {
		if err := s.exec(ctx, record("caller")); err != nil {
			t.Error(err)
		}
	})
	waitQueued(t, s.reqs, 1)
	close(release)
	wg.Wait()
	if len(order) != 2 || order[0] != "caller" || order[1] != "background" {
		t.Fatalf("order %v, want the caller's write first", order)
	}
}

// Under a steady stream of callers' writes a background write still runs
// within about backgroundWait.
func TestWriterBoundsBackgroundWait(t *testing.T) {
	s := openStore(t)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for ctx.Err() == nil {
				s.exec(context.Background(), func(*writer) error { time.Sleep(time.Millisecond); return nil })
			}
		})
	}
	defer func() { cancel(); wg.Wait() }()
	time.Sleep(20 * time.Millisecond)
	for range 5 {
		began := time.Now()
		if err := s.exec(hookd.Background(context.Background()), func(*writer) error { return nil }); err != nil {
			t.Fatal(err)
		}
		// backgroundWait plus a few groups of 8 ms; generous for -race.
		if took := time.Since(began); took > 2*time.Second {
			t.Fatalf("background write took %s under load, want about %s", took, backgroundWait)
		}
	}
}

// Close commits background writes queued before it.
func TestCloseCommitsQueuedBackgroundWrites(t *testing.T) {
	s := openStore(t)
	ctx := context.Background()
	release := make(chan struct{})
	started := make(chan struct{})
	go s.exec(ctx, func(w *writer) error { close(started); <-release; return nil })
	<-started
	errs := make(chan error, 3)
	for i := range 3 {
		go func() {
			errs <- s.exec(hookd.Background(ctx), func(w *writer) error {
				_, err := w.Exec(`INSERT INTO tenants (id, name, created_at, updated_at) VALUES (?, ?, 0, 0)`, string(rune('a'+i)), "t")
				return err
			})
		}()
	}
	waitQueued(t, s.bg, 3)
	closed := make(chan error, 1)
	go func() { closed <- s.Close() }()
	time.Sleep(10 * time.Millisecond)
	close(release)
	for range 3 {
		if err := <-errs; err != nil {
			t.Errorf("queued background write: %v", err)
		}
	}
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
}

// waitQueued waits until q holds n requests.
func waitQueued(t *testing.T, q chan *writeReq, n int) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); len(q) < n; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d requests queued, want %d", len(q), n)
		}
	}
}

// Concurrent requests repeating one delivery id store one trigger: the
// others, in the same group or a later one, answer with its id.
func TestConcurrentRepeatsStoreOneTrigger(t *testing.T) {
	s := openStore(t)
	ctx := context.Background()
	if err := s.CreateTenant(ctx, &hookd.Tenant{ID: "acme"}); err != nil {
		t.Fatal(err)
	}
	src := &hookd.Source{TenantID: "acme", Name: "gh", Verifier: hookd.SourceVerifier{Type: "none"}}
	if err := s.CreateSource(ctx, src); err != nil {
		t.Fatal(err)
	}
	for round := range 3 {
		const n = 24
		got := make([]*hookd.Trigger, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				tr := &hookd.Trigger{TenantID: "acme", SourceID: src.ID, Source: src.Name, Method: "POST",
					Body: []byte(`{}`), DeliveryID: fmt.Sprintf("d-%d", round)}
				if err := s.CreateTrigger(ctx, tr, time.Hour); err != nil {
					t.Error(err)
				}
				got[i] = tr
			})
		}
		wg.Wait()
		stored := 0
		for _, tr := range got {
			if !tr.Duplicate {
				stored++
			}
			if tr.ID != got[0].ID {
				t.Fatalf("round %d: answers name triggers %s and %s", round, got[0].ID, tr.ID)
			}
		}
		if stored != 1 {
			t.Fatalf("round %d: %d triggers stored, want 1", round, stored)
		}
	}
}
