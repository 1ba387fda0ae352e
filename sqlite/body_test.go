package sqlite

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/hookd/hookd"
)

func bodyCases(t testing.TB) map[string][]byte {
	push, err := os.ReadFile("../inbound/testdata/git/github/push.json")
	if err != nil {
		t.Fatal(err)
	}
	noise := make([]byte, 4096)
	rand.Read(noise)
	return map[string][]byte{
		"empty":          {},
		"small":          []byte(`{"a":1}`),
		"push":           push,
		"noise":          noise,
		"hex noise":      []byte(`"` + hex.EncodeToString(noise) + `"`),
		"mark, small":    []byte(bodyMark + "x"),
		"mark, large":    append([]byte(bodyMark), push...),
		"mark, only":     []byte(bodyMark),
		"almost a mark":  append([]byte("\x00s"), push...),
		"repeated bytes": bytes.Repeat([]byte("a"), 10000),
	}
}

// Every body reads back byte for byte; compressible ones are stored
// compressed, the rest (small, incompressible) as they are, and a body
// that looks compressed is always stored marked.
func TestBodyEncoding(t *testing.T) {
	for name, body := range bodyCases(t) {
		stored := encodeBody(body)
		got, err := decodeBody(stored)
		if err != nil || !bytes.Equal(got, body) {
			t.Errorf("%s: read back %q, %v", name, got, err)
		}
		marked := bytes.HasPrefix(stored, []byte(bodyMark))
		switch name {
		case "push", "repeated bytes", "mark, large", "almost a mark":
			if !marked || len(stored) > len(body)*3/4 {
				t.Errorf("%s: stored %d bytes of %d, marked %t; want it compressed", name, len(stored), len(body), marked)
			}
		case "mark, small", "mark, only":
			if !marked {
				t.Errorf("%s: stored unmarked, so it would read back as compressed", name)
			}
		default:
			if marked || !bytes.Equal(stored, body) {
				t.Errorf("%s: stored %d bytes, marked %t; want it as it is", name, len(stored), marked)
			}
		}
	}
	if _, err := decodeBody([]byte(bodyMark + "\xff\xff\xff\xff\xff")); err == nil {
		t.Error("a damaged compressed body read without an error")
	}
}

func FuzzBodyEncoding(f *testing.F) {
	for _, body := range bodyCases(f) {
		f.Add(body)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		got, err := decodeBody(encodeBody(body))
		if err != nil || !bytes.Equal(got, body) {
			t.Fatalf("%q read back as %q, %v", body, got, err)
		}
		decodeBody(append([]byte(bodyMark), body...)) // must not panic
	})
}

// Through the store: a large body is stored compressed and read back
// exactly, and a body stored before compression (as it is) still reads.
func TestStoredBodies(t *testing.T) {
	s := openStore(t)
	ctx := context.Background()
	if err := s.CreateTenant(ctx, &hookd.Tenant{ID: "acme"}); err != nil {
		t.Fatal(err)
	}
	body := bodyCases(t)["push"]
	tr := &hookd.Trigger{TenantID: "acme", Name: "deploy", Method: "POST", Body: body}
	if err := s.CreateTrigger(ctx, tr, time.Hour); err != nil {
		t.Fatal(err)
	}
	var stored []byte
	if err := s.read.QueryRow(`SELECT body FROM trigger_bodies WHERE trigger_id = ?`, tr.ID).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(stored, []byte(bodyMark)) || len(stored) >= len(body) {
		t.Errorf("stored %d bytes of a %d-byte body, want it compressed", len(stored), len(body))
	}
	if got, err := s.FindTriggerByID(ctx, "acme", tr.ID); err != nil || !bytes.Equal(got.Body, body) {
		t.Fatalf("compressed body read back as %.40q, %v", got.Body, err)
	}
	old := strings.Repeat(`{"old":true}`, 100)
	if err := s.exec(ctx, func(w *writer) error {
		_, err := w.Exec(`UPDATE trigger_bodies SET body = ? WHERE trigger_id = ?`, []byte(old), tr.ID)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	got, err := s.FindTriggerByID(ctx, "acme", tr.ID)
	if err != nil || string(got.Body) != old {
		t.Fatalf("body stored as it is read back as %.40q, %v", got.Body, err)
	}
}
