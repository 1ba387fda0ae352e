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
	release := holdWriter(s) // the writer is busy with a group
	var wg sync.WaitGroup
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
	release()
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
	release := holdWriter(s)
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
	release()
	for range 3 {
		if err := <-errs; err != nil {
			t.Errorf("queued background write: %v", err)
		}
	}
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	again, err := Open(s.path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	for _, id := range []string{"a", "b", "c"} {
		if _, err := again.FindTenant(ctx, id); err != nil {
			t.Errorf("tenant %s written before Close: %v", id, err)
		}
	}
}

// holdWriter keeps the writer busy in a group until the returned func is
// called, so that requests queue up behind it.
func holdWriter(s *Store) (release func()) {
	hold, started := make(chan struct{}), make(chan struct{})
	go s.exec(context.Background(), func(*writer) error { close(started); <-hold; return nil })
	<-started
	return func() { close(hold) }
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

// An overdue background request gets into the next group even when more
// callers' requests are queued than a group takes.
func TestOverdueBackgroundWriteKeepsRoom(t *testing.T) {
	s := openStore(t)
	ctx := context.Background()
	release := holdWriter(s)
	var mu sync.Mutex
	ran := 0      // callers' requests run so far
	bgAfter := -1 // how many had run when the background request ran
	n := s.maxGroup + 44
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			s.exec(ctx, func(*writer) error { mu.Lock(); ran++; mu.Unlock(); return nil })
		})
	}
	waitQueued(t, s.reqs, n)
	bg := &writeReq{done: make(chan error, 1), queued: time.Now().Add(-2 * backgroundWait), fn: func(*writer) error {
		mu.Lock()
		bgAfter = ran
		mu.Unlock()
		return nil
	}}
	s.bg <- bg
	release()
	if err := <-bg.done; err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if bgAfter < 0 || bgAfter >= s.maxGroup {
		t.Fatalf("the overdue background request ran after %d callers' requests, want it in the first group (under %d)", bgAfter, s.maxGroup)
	}
}

// A request run alone (execAlone) queued among others commits on its own:
// its failure rolls back only what it wrote, the others' writes stay.
func TestAloneRequestAmongOthers(t *testing.T) {
	s := openStore(t)
	ctx := context.Background()
	release := holdWriter(s)
	insert := func(id string) func(*writer) error {
		return func(w *writer) error {
			_, err := w.Exec(`INSERT INTO tenants (id, name, created_at, updated_at) VALUES (?, 't', 0, 0)`, id)
			return err
		}
	}
	errs := make(chan error, 3)
	go func() { errs <- s.exec(ctx, insert("before")) }()
	waitQueued(t, s.reqs, 1)
	go func() {
		errs <- s.execAlone(ctx, func(w *writer) error {
			if err := insert("alone")(w); err != nil {
				return err
			}
			return hookd.Errorf(hookd.ECONFLICT, "changed my mind")
		})
	}()
	waitQueued(t, s.reqs, 2)
	go func() { errs <- s.exec(ctx, insert("after")) }()
	waitQueued(t, s.reqs, 3)
	release()
	failed := 0
	for range 3 {
		if err := <-errs; hookd.ErrorCode(err) == hookd.ECONFLICT {
			failed++
		} else if err != nil {
			t.Fatal(err)
		}
	}
	if failed != 1 {
		t.Fatalf("%d requests failed, want the one run alone", failed)
	}
	for id, want := range map[string]bool{"before": true, "alone": false, "after": true} {
		_, err := s.FindTenant(ctx, id)
		if got := err == nil; got != want {
			t.Errorf("tenant %s stored = %v, want %v (%v)", id, got, want, err)
		}
	}
}
