package hookd_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/hookd/hookd"
)

func TestSnapshotKeepsNoSecrets(t *testing.T) {
	ctx := hookd.WithPrincipal(context.Background(), hookd.Principal{KeyID: "key_1", Role: hookd.RoleAdmin, TenantID: "acme"})
	secret := hookd.NewEndpointSecret()
	ep := &hookd.Endpoint{ID: "ep_1", URL: "https://example.com", Headers: map[string]string{"Authorization": "Bearer xyz"},
		Secrets: []hookd.Secret{{Value: secret}}}
	key := &hookd.APIKey{ID: "key_2", Hash: hookd.HashAPIKey("k"), Role: hookd.RoleViewer}
	tok := &hookd.Token{ID: "tok_1", Hash: hookd.HashAPIKey("t"), Key: key, ExpiresAt: time.Now()}
	for _, c := range []struct {
		v     any
		wants string
		leaks []string
	}{
		{ep, `"Authorization":"[redacted]"`, []string{secret, "xyz"}},
		{key, `"id":"key_2"`, []string{key.Hash}},
		{tok, `"id":"tok_1"`, []string{tok.Hash, key.Hash}},
	} {
		got := string(hookd.Snapshot(ctx, c.v))
		if !strings.Contains(got, c.wants) {
			t.Errorf("snapshot %s lacks %s", got, c.wants)
		}
		for _, l := range c.leaks {
			if strings.Contains(got, l) {
				t.Errorf("snapshot %s holds %q", got, l)
			}
		}
	}
	if ep.Headers["Authorization"] != "Bearer xyz" || len(ep.Secrets) != 1 {
		t.Fatal("Snapshot changed the endpoint")
	}
	if hookd.Snapshot(context.Background(), ep) != nil || hookd.NewAuditEntry(context.Background(), "acme", "a.b", "a", "1", nil, nil) != nil {
		t.Fatal("a context without a principal is audited")
	}
	if hookd.Snapshot(ctx, (*hookd.Tenant)(nil)) != nil {
		t.Fatal("a nil resource has a snapshot")
	}
	e := hookd.NewAuditEntry(ctx, "acme", hookd.ActionEndpointUpdate, hookd.ResourceEndpoint, "ep_1", nil, nil)
	if e == nil || e.KeyID != "key_1" || e.Role != hookd.RoleAdmin || !strings.HasPrefix(e.ID, "aud_") {
		t.Fatalf("entry = %+v", e)
	}
}

func TestAPIKeyValidate(t *testing.T) {
	for _, c := range []struct {
		k  hookd.APIKey
		ok bool
	}{
		{hookd.APIKey{Role: hookd.RoleSuperadmin}, true},
		{hookd.APIKey{Role: hookd.RoleSuperadmin, TenantID: "acme"}, false},
		{hookd.APIKey{Role: hookd.RoleAdmin, TenantID: "acme", Name: "ci"}, true},
		{hookd.APIKey{Role: hookd.RoleViewer}, false},
		{hookd.APIKey{Role: "root", TenantID: "acme"}, false},
		{hookd.APIKey{Role: hookd.RoleAdmin, TenantID: "acme", Name: strings.Repeat("x", 201)}, false},
		{hookd.APIKey{Role: hookd.RoleAdmin, TenantID: "acme", Name: "a\nb"}, false},
	} {
		if err := c.k.Validate(); (err == nil) != c.ok {
			t.Errorf("%+v: %v", c.k, err)
		}
	}
	if tok := hookd.NewTokenSecret(); !strings.HasPrefix(tok, hookd.TokenPrefix) || len(tok) != len(hookd.TokenPrefix)+43 {
		t.Errorf("token %q", tok)
	}
}

func TestValidateAuditAction(t *testing.T) {
	for a, ok := range map[string]bool{"": true, "endpoint.update": true, "event_type.*": true, "*": false, ".*": false,
		"Endpoint": false, "a b": false, strings.Repeat("a", 101): false} {
		if err := hookd.ValidateAuditAction(a); (err == nil) != ok {
			t.Errorf("%q: %v", a, err)
		}
	}
}
