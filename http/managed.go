package http

import (
	"context"

	"github.com/hookd/hookd"
)

// refuseManaged returns ECONFLICT if a config file manages the resource of
// kind with key in tenant ("" for tenants and superadmin keys), nil if
// none does. label names the resource in the message. Every route that
// changes a resource's configuration calls it after finding the resource
// and before changing anything: the file is the resource's source of truth
// (a reconcile would undo the change), so the way to change it is the
// file. Reads, test sends, recover, replay and retries change no
// configuration and do not ask. It costs one indexed read per change and
// is not cached: changes are rare, and a cache would let a change through
// for a while after a reconcile took a resource over. The check and the
// change are two steps: a change racing the reconcile that takes its
// resource over may still land, until a reconcile sets it to the file's
// configuration again.
func (s *Server) refuseManaged(ctx context.Context, kind, tenant, key, label string) error {
	owner, err := s.cfg.Store.ManagedBy(ctx, kind, tenant, key)
	if err != nil || owner == "" {
		return err
	}
	return errManaged(kind, label, owner)
}

func errManaged(kind, label, owner string) error {
	return hookd.Errorf(hookd.ECONFLICT, "%s %q is managed by the config file %s; change it there (or remove it from the file).",
		hookd.KindLabel(kind), label, owner)
}

// refuseManagedTenant is refuseManaged for deleting a tenant, which
// deletes everything in it: ECONFLICT if a config file manages the tenant
// or any resource in it.
func (s *Server) refuseManagedTenant(ctx context.Context, tenant string) error {
	list, err := s.cfg.Store.FindManaged(ctx, "")
	if err != nil {
		return err
	}
	for _, m := range list {
		switch {
		case m.Kind == hookd.KindTenant && m.Key == tenant:
			return errManaged(m.Kind, tenant, m.Owner)
		case m.TenantID == tenant:
			return hookd.Errorf(hookd.ECONFLICT, "Tenant %q holds resources managed by the config file %s (%s %q); remove them from the file before deleting the tenant.",
				tenant, m.Owner, hookd.KindLabel(m.Kind), orKey(m.Name, m.Key))
		}
	}
	return nil
}

// orKey returns name, or key when the resource has no name (endpoints
// and keys may have none): what messages call a resource.
func orKey(name, key string) string {
	if name != "" {
		return name
	}
	return key
}

// refuseManagedEndpoint is refuseManaged for endpoint ep: every change of
// an endpoint, its state and secrets included, goes through the file.
func (s *Server) refuseManagedEndpoint(ctx context.Context, ep *hookd.Endpoint) error {
	return s.refuseManaged(ctx, hookd.KindEndpoint, ep.TenantID, ep.ID, orKey(ep.Name, ep.ID))
}
