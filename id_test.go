package hookd

import (
	"sort"
	"testing"
)

func TestNewIDSortsInCreationOrder(t *testing.T) {
	t.Parallel()
	ids := make([]string, 2000)
	for i := range ids {
		ids[i] = NewID("x")
	}
	if !sort.StringsAreSorted(ids) {
		t.Fatal("IDs made in sequence do not sort in sequence")
	}
	seen := map[string]bool{}
	for _, id := range ids {
		if seen[id] || len(id) != 28 {
			t.Fatalf("duplicate or malformed id %q", id)
		}
		seen[id] = true
	}
}

func TestSeqIDRoundTrip(t *testing.T) {
	t.Parallel()
	for _, seq := range []int64{1, 2, 31, 32, 1 << 40, 1<<63 - 1} {
		id := NewSeqID("msg", seq)
		got, ok := SeqOfID("msg", id)
		if !ok || got != seq {
			t.Fatalf("SeqOfID(%q) = %d, %v; want %d", id, got, ok, seq)
		}
	}
	for _, bad := range []string{"", "msg_", "evt_01m81n0a9bxxc5z10xhsybp4rp", "msg_01m81n0a9bxxc5z10xhsybp4r!", "msg_short"} {
		if _, ok := SeqOfID("msg", bad); ok && bad != "" {
			t.Errorf("SeqOfID(%q) accepted", bad)
		}
	}
}
