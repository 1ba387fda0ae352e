package storetest

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookd/hookd"
)

var managedTests = []struct {
	name string
	fn   func(t *testing.T, s hookd.Store)
}{
	{"ManagedSet", testManagedSet},
	{"ManagedConflict", testManagedConflict},
	{"ManagedInvalid", testManagedInvalid},
	{"ManagedGoneWithResource", testManagedGone},
	{"ManagedDeleteTenant", testManagedDeleteTenant},
	{"ManagedConcurrent", testManagedConcurrent},
}

// wantManaged fails unless owner ("" for all) owns exactly want, in the
// store's order: by owner, kind, tenant and key.
func wantManaged(t *testing.T, s hookd.Store, owner string, want ...hookd.ManagedResource) {
	t.Helper()
	got, err := s.FindManaged(ctx, owner)
	must(t, err)
	if !slices.Equal(got, want) {
		t.Fatalf("FindManaged(%q) =\n%+v\nwant\n%+v", owner, got, want)
	}
}

// wantOwner fails unless the resource's owner is owner ("" for none).
func wantOwner(t *testing.T, s hookd.Store, kind, tenantID, key, owner string) {
	t.Helper()
	got, err := s.ManagedBy(ctx, kind, tenantID, key)
	must(t, err)
	if got != owner {
		t.Fatalf("ManagedBy(%s, %q, %q) = %q, want %q", kind, tenantID, key, got, owner)
	}
}

// owned returns list with Owner set to owner.
func owned(owner string, list ...hookd.ManagedResource) []hookd.ManagedResource {
	out := slices.Clone(list)
	for i := range out {
		out[i].Owner = owner
	}
	return out
}

func testManagedSet(t *testing.T, s hookd.Store) {
	const a, b = "/etc/hookd/a.yaml", "/etc/hookd/b.yaml"
	wantManaged(t, s, "")
	wantOwner(t, s, hookd.KindTenant, "", "acme", "")

	// Of every kind; the resources need not exist (the store keeps the
	// record, the reconcile the resources).
	all := []hookd.ManagedResource{
		{Kind: hookd.KindEndpoint, TenantID: "acme", Key: "ep_1", Name: "billing"},
		{Kind: hookd.KindEventType, TenantID: "acme", Key: "invoice.paid"},
		{Kind: hookd.KindKey, Key: "key_root", Name: "root"},
		{Kind: hookd.KindKey, TenantID: "acme", Key: "key_ci", Name: "ci"},
		{Kind: hookd.KindRule, TenantID: "acme", Key: "deploy"},
		{Kind: hookd.KindSource, TenantID: "acme", Key: "github"},
		{Kind: hookd.KindTenant, Key: "acme"},
	}
	reversed := slices.Clone(all)
	slices.Reverse(reversed)
	must(t, s.SetManaged(ctx, a, reversed))
	wantManaged(t, s, a, owned(a, all...)...)
	for _, r := range all {
		wantOwner(t, s, r.Kind, r.TenantID, r.Key, a)
	}
	wantOwner(t, s, hookd.KindKey, "", "key_ci", "")        // keys are told apart by tenant
	wantOwner(t, s, hookd.KindSource, "acme", "deploy", "") // and by kind
	wantOwner(t, s, hookd.KindRule, "beta", "deploy", "")
	wantManaged(t, s, b)

	// Another owner's set is apart; "" lists both, by owner.
	other := hookd.ManagedResource{Kind: hookd.KindTenant, Key: "beta"}
	must(t, s.SetManaged(ctx, b, []hookd.ManagedResource{other}))
	wantManaged(t, s, "", append(owned(a, all...), owned(b, other)...)...)

	// Setting again replaces: dropped ones are no longer managed, a new
	// name is kept, an added one appears. The list's Owner is not read.
	renamed := hookd.ManagedResource{Kind: hookd.KindEndpoint, TenantID: "acme", Key: "ep_1", Name: "invoices", Owner: "ignored"}
	added := hookd.ManagedResource{Kind: hookd.KindEndpoint, TenantID: "acme", Key: "ep_2", Name: "audit"}
	must(t, s.SetManaged(ctx, a, []hookd.ManagedResource{renamed, added, all[6]}))
	wantManaged(t, s, a, owned(a, renamed, added, all[6])...)
	wantOwner(t, s, hookd.KindSource, "acme", "github", "")
	wantOwner(t, s, hookd.KindKey, "", "key_root", "")

	// The same set again changes nothing.
	must(t, s.SetManaged(ctx, a, []hookd.ManagedResource{renamed, added, all[6]}))
	wantManaged(t, s, a, owned(a, renamed, added, all[6])...)

	// An empty set releases everything the owner had, and only that.
	must(t, s.SetManaged(ctx, a, nil))
	wantManaged(t, s, a)
	wantOwner(t, s, hookd.KindTenant, "", "acme", "")
	wantManaged(t, s, "", owned(b, other)...)
}

func testManagedConflict(t *testing.T, s hookd.Store) {
	const a, b = "/etc/hookd/a.yaml", "/etc/hookd/b.yaml"
	ep := hookd.ManagedResource{Kind: hookd.KindEndpoint, TenantID: "acme", Key: "ep_1", Name: "billing"}
	tn := hookd.ManagedResource{Kind: hookd.KindTenant, Key: "acme"}
	src := hookd.ManagedResource{Kind: hookd.KindSource, TenantID: "acme", Key: "github"}
	must(t, s.SetManaged(ctx, a, []hookd.ManagedResource{ep, tn}))
	must(t, s.SetManaged(ctx, b, []hookd.ManagedResource{src}))

	// b may not take what a owns; the error names a, and b keeps its set.
	for _, r := range []hookd.ManagedResource{ep, tn} {
		err := s.SetManaged(ctx, b, []hookd.ManagedResource{src, {Kind: hookd.KindRule, TenantID: "acme", Key: "deploy"}, r})
		wantCode(t, err, hookd.ECONFLICT)
		if msg := hookd.ErrorMessage(err); !strings.Contains(msg, a) || !strings.Contains(msg, r.Key) {
			t.Fatalf("conflict message %q does not name the owner %s and %s", msg, a, r.Key)
		}
		wantManaged(t, s, b, owned(b, src)...)
		wantManaged(t, s, a, owned(a, ep, tn)...)
	}
	// Emptying b's set fails the same way when the list is wrong, and
	// nothing of b's goes.
	wantCode(t, s.SetManaged(ctx, b, []hookd.ManagedResource{ep}), hookd.ECONFLICT)
	wantManaged(t, s, b, owned(b, src)...)

	// Once a lets go, b may take it.
	must(t, s.SetManaged(ctx, a, []hookd.ManagedResource{tn}))
	must(t, s.SetManaged(ctx, b, []hookd.ManagedResource{src, ep}))
	wantOwner(t, s, ep.Kind, ep.TenantID, ep.Key, b)
}

func testManagedInvalid(t *testing.T, s hookd.Store) {
	const a = "/etc/hookd/a.yaml"
	ok := hookd.ManagedResource{Kind: hookd.KindTenant, Key: "acme"}
	must(t, s.SetManaged(ctx, a, []hookd.ManagedResource{ok}))
	cases := []struct {
		name  string
		owner string
		list  []hookd.ManagedResource
	}{
		{"no owner", "", []hookd.ManagedResource{ok}},
		{"unknown kind", a, []hookd.ManagedResource{{Kind: "widget", TenantID: "acme", Key: "w"}}},
		{"no key", a, []hookd.ManagedResource{{Kind: hookd.KindEndpoint, TenantID: "acme"}}},
		{"tenant in a tenant", a, []hookd.ManagedResource{{Kind: hookd.KindTenant, TenantID: "acme", Key: "beta"}}},
		{"endpoint without tenant", a, []hookd.ManagedResource{{Kind: hookd.KindEndpoint, Key: "ep_1"}}},
		{"listed twice", a, []hookd.ManagedResource{ok, {Kind: hookd.KindTenant, Key: "acme", Name: "again"}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			wantCode(t, s.SetManaged(ctx, c.owner, c.list), hookd.EINVALID)
			wantManaged(t, s, "", owned(a, ok)...)
		})
	}
}

// testManagedGone: a resource deleted through the store (as a reconcile
// or the API would) stops being managed, so one made later under the same
// key is not; changing a resource keeps it managed.
func testManagedGone(t *testing.T, s hookd.Store) {
	const a = "/etc/hookd/a.yaml"
	is := inboundOf(t, s)
	tenant(t, s, "acme")
	et := &hookd.EventType{TenantID: "acme", Name: "invoice.paid"}
	must(t, s.CreateEventType(ctx, et))
	ep := endpoint(t, s, "acme", "*")
	key := &hookd.APIKey{TenantID: "acme", Role: hookd.RoleAdmin, Name: "ci", Hash: hookd.HashAPIKey("managed-ci")}
	must(t, s.CreateAPIKey(ctx, key))
	root := &hookd.APIKey{Role: hookd.RoleSuperadmin, Name: "root", Hash: hookd.HashAPIKey("managed-root")}
	must(t, s.CreateAPIKey(ctx, root))
	src := newSource(t, is, "acme", "github")
	rl := newRule(t, is, "acme", "deploy", true)
	list := []hookd.ManagedResource{ // in the order FindManaged answers
		{Kind: hookd.KindEndpoint, TenantID: "acme", Key: ep.ID},
		{Kind: hookd.KindEventType, TenantID: "acme", Key: et.Name},
		{Kind: hookd.KindKey, Key: root.ID},
		{Kind: hookd.KindKey, TenantID: "acme", Key: key.ID},
		{Kind: hookd.KindRule, TenantID: "acme", Key: rl.Name},
		{Kind: hookd.KindSource, TenantID: "acme", Key: src.Name},
		{Kind: hookd.KindTenant, Key: "acme"},
	}
	must(t, s.SetManaged(ctx, a, list))

	// Changes and use keep them managed.
	desc := "changed"
	_, err := s.UpdateEventType(ctx, "acme", et.Name, hookd.EventTypeUpdate{Description: &desc})
	must(t, err)
	_, err = s.UpdateEndpoint(ctx, "acme", ep.ID, hookd.EndpointUpdate{Description: &desc})
	must(t, err)
	must(t, s.TouchAPIKey(ctx, key.ID, time.Now()))
	_, err = is.UpdateSource(ctx, "acme", src.ID, hookd.SourceUpdate{Description: &desc})
	must(t, err)
	_, err = is.UpdateRule(ctx, "acme", rl.ID, hookd.RuleUpdate{Description: &desc})
	must(t, err)
	_, err = s.UpdateTenant(ctx, "acme", hookd.TenantUpdate{Name: &desc})
	must(t, err)
	wantManaged(t, s, a, owned(a, list...)...)

	// Each way of going away drops its own row only.
	gone := []struct {
		r  hookd.ManagedResource
		do func() error
	}{
		{list[0], func() error { return s.DeleteEndpoint(ctx, "acme", ep.ID) }},
		{list[1], func() error { return s.DeleteEventType(ctx, "acme", et.Name) }},
		{list[2], func() error { return s.RevokeAPIKey(ctx, root.ID, time.Now()) }},
		{list[3], func() error { return s.RevokeAPIKey(ctx, key.ID, time.Now()) }},
		{list[4], func() error { return is.DeleteRule(ctx, "acme", rl.Name) }},
		{list[5], func() error { return is.DeleteSource(ctx, "acme", src.ID) }},
	}
	left := len(list)
	for _, g := range gone {
		must(t, g.do())
		left--
		wantOwner(t, s, g.r.Kind, g.r.TenantID, g.r.Key, "")
		got, err := s.FindManaged(ctx, a)
		must(t, err)
		if len(got) != left {
			t.Fatalf("after the %s went: %d managed, want %d: %+v", g.r.Kind, len(got), left, got)
		}
	}
	wantOwner(t, s, hookd.KindTenant, "", "acme", a)

	// A resource made again under a managed name is not managed.
	must(t, s.CreateEventType(ctx, &hookd.EventType{TenantID: "acme", Name: et.Name}))
	newSource(t, is, "acme", src.Name)
	newRule(t, is, "acme", rl.Name, true)
	wantOwner(t, s, hookd.KindEventType, "acme", et.Name, "")
	wantOwner(t, s, hookd.KindSource, "acme", src.Name, "")
	wantOwner(t, s, hookd.KindRule, "acme", rl.Name, "")
}

// testManagedDeleteTenant: DeleteTenant removes the records of the tenant
// and of everything in it, and no other.
func testManagedDeleteTenant(t *testing.T, s hookd.Store) {
	const a, b = "/etc/hookd/a.yaml", "/etc/hookd/b.yaml"
	is := inboundOf(t, s)
	tenant(t, s, "acme")
	tenant(t, s, "beta")
	ep := endpoint(t, s, "acme", "*")
	src := newSource(t, is, "acme", "github")
	key := &hookd.APIKey{TenantID: "acme", Role: hookd.RoleViewer, Name: "ci", Hash: hookd.HashAPIKey("managed-ci")}
	must(t, s.CreateAPIKey(ctx, key))
	root := &hookd.APIKey{Role: hookd.RoleSuperadmin, Name: "root", Hash: hookd.HashAPIKey("managed-root")}
	must(t, s.CreateAPIKey(ctx, root))
	betaEP := endpoint(t, s, "beta", "*")
	keep := []hookd.ManagedResource{
		{Kind: hookd.KindEndpoint, TenantID: "beta", Key: betaEP.ID},
		{Kind: hookd.KindKey, Key: root.ID},
		{Kind: hookd.KindTenant, Key: "beta"},
	}
	must(t, s.SetManaged(ctx, a, append([]hookd.ManagedResource{
		{Kind: hookd.KindTenant, Key: "acme"},
		{Kind: hookd.KindEndpoint, TenantID: "acme", Key: ep.ID},
		{Kind: hookd.KindKey, TenantID: "acme", Key: key.ID},
		{Kind: hookd.KindEventType, TenantID: "acme", Key: "not.created"},
	}, keep...)))
	// Another owner's resource in the tenant goes too.
	must(t, s.SetManaged(ctx, b, []hookd.ManagedResource{{Kind: hookd.KindSource, TenantID: "acme", Key: src.Name}}))

	must(t, s.DeleteTenant(ctx, "acme"))
	wantManaged(t, s, "", owned(a, keep...)...)
}

// testManagedConcurrent: of two owners claiming one resource at once,
// exactly one gets it; calls of one owner at once leave one of their
// lists, not a mixture.
func testManagedConcurrent(t *testing.T, s hookd.Store) {
	r := hookd.ManagedResource{Kind: hookd.KindTenant, Key: "acme"}
	const n = 8
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			errs[i] = s.SetManaged(ctx, fmt.Sprintf("/etc/hookd/%d.yaml", i), []hookd.ManagedResource{
				{Kind: hookd.KindEndpoint, TenantID: "acme", Key: fmt.Sprintf("ep_%d", i)}, r})
		})
	}
	wg.Wait()
	winner := -1
	for i, err := range errs {
		switch hookd.ErrorCode(err) {
		case "":
			if winner >= 0 {
				t.Fatalf("owners %d and %d both took %s", winner, i, r.Key)
			}
			winner = i
		case hookd.ECONFLICT:
		default:
			t.Fatalf("owner %d: %v", i, err)
		}
	}
	if winner < 0 {
		t.Fatal("no owner took the tenant")
	}
	w := fmt.Sprintf("/etc/hookd/%d.yaml", winner)
	wantOwner(t, s, r.Kind, "", r.Key, w)
	got, err := s.FindManaged(ctx, "")
	must(t, err)
	if len(got) != 2 {
		t.Fatalf("after the race: %+v, want only the winner's two", got)
	}

	// One owner, many lists at once: the result is one of them.
	const owner = "/etc/hookd/main.yaml"
	lists := make([][]hookd.ManagedResource, n)
	for i := range n {
		for j := range 3 {
			lists[i] = append(lists[i], hookd.ManagedResource{Kind: hookd.KindEventType, TenantID: "beta", Key: fmt.Sprintf("type.%d", (i+j)%n)})
		}
	}
	for i := range n {
		wg.Go(func() { errs[i] = s.SetManaged(ctx, owner, lists[i]) })
	}
	wg.Wait()
	for _, err := range errs {
		must(t, err)
	}
	got, err = s.FindManaged(ctx, owner)
	must(t, err)
	var keys []string
	for _, m := range got {
		keys = append(keys, m.Key)
	}
	for _, l := range lists {
		var want []string
		for _, m := range l {
			want = append(want, m.Key)
		}
		slices.Sort(want)
		if slices.Equal(keys, want) {
			return
		}
	}
	t.Fatalf("after concurrent sets the owner has %v, none of the lists it set", keys)
}
