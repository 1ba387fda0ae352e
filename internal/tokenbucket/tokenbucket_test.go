package tokenbucket

import (
	"testing"
	"time"
)

func TestBucket(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	var b Bucket
	if !b.Full(t0, 2, 3) {
		t.Fatal("a new bucket is full")
	}
	for i := range 3 {
		if ok, _ := b.Take(t0, 2, 3); !ok {
			t.Fatalf("take %d of the burst refused", i)
		}
	}
	ok, wait := b.Take(t0, 2, 3)
	if ok || wait != 500*time.Millisecond {
		t.Fatalf("empty bucket: ok=%v wait=%s, want a refusal and 500ms", ok, wait)
	}
	if ok, _ := b.Take(t0.Add(250*time.Millisecond), 2, 3); ok {
		t.Fatal("half a token was spent")
	}
	if ok, _ := b.Take(t0.Add(500*time.Millisecond), 2, 3); !ok {
		t.Fatal("the refilled token was refused")
	}
	if b.Full(t0.Add(time.Second), 2, 3) {
		t.Fatal("full too early")
	}
	if !b.Full(t0.Add(2*time.Second), 2, 3) {
		t.Fatal("not full after refilling")
	}
	// Refill never exceeds the burst, and a clock going back refills nothing.
	b.Take(t0.Add(time.Hour), 2, 3)
	if ok, _ := b.Take(t0, 2, 3); !ok {
		t.Fatal("second of the burst refused")
	}
	b.Take(t0, 2, 3)
	if ok, _ := b.Take(t0, 2, 3); ok {
		t.Fatal("the burst was exceeded")
	}
}
