package config

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/hookd/hookd"
	"github.com/hookd/hookd/signature"
)

// Store is what plans are made against and applied to: hookd's store and
// the record of which resources each configuration file owns (hookd.Store
// includes hookd.ManagedStore; both are named to say what is used).
type Store interface {
	hookd.Store
	hookd.ManagedStore
}

// Op is what a change does to a resource.
type Op string

// Operations of a plan.
const (
	OpCreate Op = "create" // the resource is new
	OpUpdate Op = "update" // fields of a resource the file owns change
	OpAdopt  Op = "adopt"  // the file takes over an existing resource (adopt: true), changing Fields if any
	OpDelete Op = "delete" // a resource the file owns is no longer in it (keys are revoked)
)

// Change is one step of a plan.
type Change struct {
	Op     Op     `json:"op"`
	Kind   string `json:"kind"` // hookd.KindTenant, KindEndpoint, ...
	Tenant string `json:"tenant,omitempty"`
	Name   string `json:"name"`
	// Fields are the YAML fields that change (update and adopt). "secret"
	// and "secrets" never show values; a key's "hash" or "role" means the
	// key is replaced: a new one is created and the old one revoked.
	Fields []string `json:"fields,omitempty"`

	run func(ctx context.Context, st Store, now time.Time, p *Plan) error
}

// String is "+ endpoint acme/billing", "~ rule acme/deploy (action,
// criteria)", "~ endpoint acme/old (adopt)" or "- source acme/old".
func (c Change) String() string {
	sym := map[Op]string{OpCreate: "+", OpUpdate: "~", OpAdopt: "~", OpDelete: "-"}[c.Op]
	s := sym + " " + resourceName(c.Kind, c.Tenant, c.Name)
	fields := c.Fields
	if c.Op == OpAdopt {
		fields = append([]string{"adopt"}, fields...)
	}
	if len(fields) > 0 {
		s += " (" + strings.Join(fields, ", ") + ")"
	}
	return s
}

// Plan is what applying a file to a store would change, in the order
// Apply makes the changes. It applies once.
type Plan struct {
	File     string   `json:"file"`
	Owner    string   `json:"owner"`
	Changes  []Change `json:"changes"`
	Warnings []string `json:"warnings,omitempty"`
	// Now is Apply's clock (secret and key times); nil is time.Now.
	Now func() time.Time `json:"-"`
	// Generated are the signing secrets Apply generated for the endpoints
	// it created without a secret from the file. They are shown here
	// once, as the API's create answer shows a new endpoint's secret, and
	// never again: the API does not rotate the secrets of managed
	// endpoints. Never in the plan's JSON or text.
	Generated []GeneratedSecret `json:"-"`

	owned   []hookd.ManagedResource // what the owner owns now
	final   []hookd.ManagedResource // what it owns after Apply
	applied bool
}

// GeneratedSecret is the signing secret Apply generated for a new endpoint.
type GeneratedSecret struct {
	Tenant   string `json:"tenant"`
	Endpoint string `json:"endpoint"` // its name in the file
	ID       string `json:"id"`
	Secret   string `json:"secret"`
}

// Empty reports whether the plan changes nothing.
func (p *Plan) Empty() bool { return len(p.Changes) == 0 }

// String is the plan as text: one change per line, then warnings ("! ").
func (p *Plan) String() string {
	var b strings.Builder
	for _, c := range p.Changes {
		b.WriteString(c.String())
		b.WriteByte('\n')
	}
	if p.Empty() {
		b.WriteString("No changes.\n")
	}
	for _, w := range p.Warnings {
		b.WriteString("! ")
		b.WriteString(w)
		b.WriteByte('\n')
	}
	return b.String()
}

// Managed returns the resources the owner owns once the plan is applied.
func (p *Plan) Managed() []hookd.ManagedResource { return slices.Clone(p.final) }

// Apply makes the plan's changes and records what the owner owns. Before
// the first change it records the resources it is about to create or
// adopt as owned too, so an apply that stops half way (a crash, a store
// error) leaves nothing that the next plan would take for an API-created
// resource; that next plan finishes the work. Apply does not check the
// store again: make the plan right before applying it. Errors name the
// change that failed; the changes before it stay made.
func (p *Plan) Apply(ctx context.Context, st Store) error {
	if p.applied {
		return hookd.Errorf(hookd.ECONFLICT, "This plan was applied already; make a new one.")
	}
	p.applied = true
	now := time.Now
	if p.Now != nil {
		now = p.Now
	}
	if len(p.Changes) > 0 {
		if err := st.SetManaged(ctx, p.Owner, union(p.owned, p.final)); err != nil {
			return fmt.Errorf("record managed resources: %w", err)
		}
	}
	for _, c := range p.Changes {
		if c.run == nil {
			continue
		}
		if err := c.run(ctx, st, now().UTC(), p); err != nil {
			return fmt.Errorf("apply %s: %w", c, err)
		}
	}
	if err := st.SetManaged(ctx, p.Owner, p.final); err != nil {
		return fmt.Errorf("record managed resources: %w", err)
	}
	return nil
}

// union is a and b without repeats.
func union(a, b []hookd.ManagedResource) []hookd.ManagedResource {
	seen := map[[3]string]bool{}
	var out []hookd.ManagedResource
	for _, list := range [][]hookd.ManagedResource{a, b} {
		for _, r := range list {
			k := [3]string{r.Kind, r.TenantID, r.Key}
			if !seen[k] {
				seen[k] = true
				out = append(out, r)
			}
		}
	}
	return out
}

// ident identifies a resource the way a file does: endpoints and keys by
// the name the file gives them, the rest by their key.
type ident struct{ kind, tenant, name string }

func identOf(r hookd.ManagedResource) ident {
	if r.Kind == hookd.KindEndpoint || r.Kind == hookd.KindKey {
		return ident{r.Kind, r.TenantID, r.Name}
	}
	return ident{r.Kind, r.TenantID, r.Key}
}

// planner holds the state of one Plan.
type planner struct {
	ctx   context.Context
	st    Store
	f     *File
	owner string
	probs problems

	owned    map[ident]hookd.ManagedResource
	desired  map[ident]bool
	deleting map[ident]bool // owned resources the plan deletes
	final    []hookd.ManagedResource
	warnings []string

	// Changes by stage, in the order they are applied.
	tenants, ruleDeletes, deletes, types, endpoints, sources, rules, keys, tenantDeletes []Change
}

// Plan compares the file with the store and returns the changes that make
// the store match it for owner (the file's identity, e.g. its absolute
// path; resources record it). The file creates what is missing, updates
// what it owns, and deletes what it owns but no longer declares. A
// resource that exists but was created through the API (or belongs to
// another owner) and has a name the file declares is an error, "exists and
// is not managed by this file", unless its tenant says adopt: true. Such
// problems, and rules naming a source that will not exist, come as an
// *Error naming the file's lines; store failures come as they are.
func (f *File) Plan(ctx context.Context, st Store, owner string) (*Plan, error) {
	if owner == "" {
		return nil, hookd.Errorf(hookd.EINVALID, "A plan needs an owner: the name the file's resources are recorded under.")
	}
	if !f.checked {
		return nil, hookd.Errorf(hookd.EINVALID, "Only a file from Parse or Load can be planned; Marshal and Parse an exported one first.")
	}
	pl := &planner{ctx: ctx, st: st, f: f, owner: owner, probs: problems{file: f.name}, owned: map[ident]hookd.ManagedResource{},
		desired: map[ident]bool{}, deleting: map[ident]bool{}}
	if err := pl.run(); err != nil {
		return nil, err
	}
	if err := pl.probs.err(); err != nil {
		return nil, err
	}
	owned := make([]hookd.ManagedResource, 0, len(pl.owned))
	for _, r := range pl.owned {
		owned = append(owned, r)
	}
	var changes []Change
	for _, stage := range [][]Change{pl.tenants, pl.ruleDeletes, pl.deletes, pl.types, pl.endpoints, pl.sources, pl.rules, pl.keys, pl.tenantDeletes} {
		changes = append(changes, stage...)
	}
	if changes == nil {
		changes = []Change{}
	}
	return &Plan{File: f.name, Owner: owner, Changes: changes, Warnings: pl.warnings, owned: owned, final: pl.final}, nil
}

func (pl *planner) run() error {
	list, err := pl.st.FindManaged(pl.ctx, pl.owner)
	if err != nil {
		return fmt.Errorf("find managed resources: %w", err)
	}
	for _, r := range list {
		pl.owned[identOf(r)] = r
	}
	pl.collectDesired()
	if err := pl.planDeletes(); err != nil {
		return err
	}
	for _, t := range pl.f.Tenants {
		if err := pl.planTenant(t); err != nil {
			return err
		}
	}
	if err := pl.planKeys("", pl.f.Keys, pl.f.Adopt); err != nil {
		return err
	}
	return pl.planTenantDeletes()
}

// collectDesired records the identity of every resource in the file.
func (pl *planner) collectDesired() {
	for _, t := range pl.f.Tenants {
		pl.desired[ident{hookd.KindTenant, "", t.ID}] = true
		for _, s := range t.EventTypes {
			pl.desired[ident{hookd.KindEventType, t.ID, s.Name}] = true
		}
		for _, s := range t.Endpoints {
			pl.desired[ident{hookd.KindEndpoint, t.ID, s.Name}] = true
		}
		for _, s := range t.Sources {
			pl.desired[ident{hookd.KindSource, t.ID, hookd.NormalizeSourceName(s.Name)}] = true
		}
		for _, s := range t.Rules {
			pl.desired[ident{hookd.KindRule, t.ID, s.Name}] = true
		}
		for _, s := range t.Keys {
			pl.desired[ident{hookd.KindKey, t.ID, s.Name}] = true
		}
	}
	for _, s := range pl.f.Keys {
		pl.desired[ident{hookd.KindKey, "", s.Name}] = true
	}
}

// planDeletes deletes what the owner owns and the file no longer has
// (tenants come last, in planTenantDeletes).
func (pl *planner) planDeletes() error {
	for _, id := range sortedIdents(pl.owned) {
		r := pl.owned[id]
		if pl.desired[id] || r.Kind == hookd.KindTenant {
			continue
		}
		exists, err := pl.exists(r)
		if err != nil {
			return err
		}
		if !exists {
			continue
		}
		pl.deleting[id] = true
		c := Change{Op: OpDelete, Kind: r.Kind, Tenant: r.TenantID, Name: id.name}
		tenant, key := r.TenantID, r.Key
		switch r.Kind {
		case hookd.KindRule:
			c.run = func(ctx context.Context, st Store, _ time.Time, _ *Plan) error {
				return ignoreNotFound(st.DeleteRule(ctx, tenant, key))
			}
			pl.ruleDeletes = append(pl.ruleDeletes, c)
			continue
		case hookd.KindEventType:
			c.run = func(ctx context.Context, st Store, _ time.Time, _ *Plan) error {
				return ignoreNotFound(st.DeleteEventType(ctx, tenant, key))
			}
		case hookd.KindEndpoint:
			c.run = func(ctx context.Context, st Store, _ time.Time, _ *Plan) error {
				return ignoreNotFound(st.DeleteEndpoint(ctx, tenant, key))
			}
		case hookd.KindSource:
			c.run = func(ctx context.Context, st Store, _ time.Time, _ *Plan) error {
				src, err := st.FindSourceByName(ctx, key)
				if hookd.ErrorCode(err) == hookd.ENOTFOUND || err == nil && src.TenantID != tenant {
					return nil
				} else if err != nil {
					return err
				}
				return ignoreNotFound(st.DeleteSource(ctx, tenant, src.ID))
			}
		case hookd.KindKey:
			c.run = func(ctx context.Context, st Store, now time.Time, _ *Plan) error {
				return ignoreNotFound(st.RevokeAPIKey(ctx, key, now))
			}
		default:
			continue
		}
		pl.deletes = append(pl.deletes, c)
	}
	return nil
}

// exists reports whether an owned resource is still in the store.
func (pl *planner) exists(r hookd.ManagedResource) (bool, error) {
	var err error
	switch r.Kind {
	case hookd.KindTenant:
		_, err = pl.st.FindTenant(pl.ctx, r.Key)
	case hookd.KindEventType:
		_, err = pl.st.FindEventType(pl.ctx, r.TenantID, r.Key)
	case hookd.KindEndpoint:
		_, err = pl.st.FindEndpointByID(pl.ctx, r.TenantID, r.Key)
	case hookd.KindSource:
		var src *hookd.Source
		src, err = pl.st.FindSourceByName(pl.ctx, r.Key)
		if err == nil && src.TenantID != r.TenantID {
			return false, nil
		}
	case hookd.KindRule:
		_, err = pl.st.FindRule(pl.ctx, r.TenantID, r.Key)
	case hookd.KindKey:
		var k *hookd.APIKey
		k, err = pl.st.FindAPIKeyByID(pl.ctx, r.Key)
		if err == nil && k.RevokedAt != nil {
			return false, nil
		}
	default:
		return false, nil
	}
	switch hookd.ErrorCode(err) {
	case "":
		return true, nil
	case hookd.ENOTFOUND:
		return false, nil
	}
	return false, err
}

// notManaged is the problem of a resource that exists without this owner.
func (pl *planner) notManaged(line int, res, kind, tenant, key string, adoptable bool) error {
	other, err := pl.st.ManagedBy(pl.ctx, kind, tenant, key)
	if err != nil {
		return err
	}
	switch {
	case other != "":
		pl.probs.add(line, res, "exists and is managed by another file (%s)", other)
	case adoptable:
		pl.probs.add(line, res, "exists and is not managed by this file (it was created through the API); remove it, rename it here, or set adopt: true on the tenant to take it over")
	default:
		pl.probs.add(line, res, "exists and is not managed by this file (it was created through the API)")
	}
	return nil
}

// ownedElsewhere returns the owner of a resource when it is not this one.
func (pl *planner) ownedElsewhere(kind, tenant, key string) (string, error) {
	other, err := pl.st.ManagedBy(pl.ctx, kind, tenant, key)
	if err != nil || other == pl.owner {
		return "", err
	}
	return other, nil
}

func (pl *planner) own(kind, tenant, key, name string) {
	pl.final = append(pl.final, hookd.ManagedResource{Kind: kind, TenantID: tenant, Key: key, Name: name, Owner: pl.owner})
}

// planTenant plans one tenant and its resources.
func (pl *planner) planTenant(t *TenantSpec) error {
	res := resourceName(hookd.KindTenant, "", t.ID)
	cur, err := pl.st.FindTenant(pl.ctx, t.ID)
	if hookd.ErrorCode(err) == hookd.ENOTFOUND {
		cur, err = nil, nil
	}
	if err != nil {
		return err
	}
	_, owned := pl.owned[ident{hookd.KindTenant, "", t.ID}]
	id, name := t.ID, t.Name
	switch {
	case cur == nil:
		pl.tenants = append(pl.tenants, Change{Op: OpCreate, Kind: hookd.KindTenant, Name: id, run: func(ctx context.Context, st Store, _ time.Time, _ *Plan) error {
			return st.CreateTenant(ctx, &hookd.Tenant{ID: id, Name: name})
		}})
		pl.own(hookd.KindTenant, "", id, "")
	case owned || t.Adopt:
		if !owned {
			other, err := pl.ownedElsewhere(hookd.KindTenant, "", id)
			if err != nil {
				return err
			}
			if other != "" {
				pl.probs.add(t.loc.at("adopt"), res, "cannot be adopted: it is managed by another file (%s)", other)
				break
			}
		}
		op := OpUpdate
		if !owned {
			op = OpAdopt
		}
		if cur.Name != name || op == OpAdopt {
			c := Change{Op: op, Kind: hookd.KindTenant, Name: id}
			if cur.Name != name {
				c.Fields = []string{"name"}
				c.run = func(ctx context.Context, st Store, _ time.Time, _ *Plan) error {
					_, err := st.UpdateTenant(ctx, id, hookd.TenantUpdate{Name: &name})
					return err
				}
			}
			pl.tenants = append(pl.tenants, c)
		}
		pl.own(hookd.KindTenant, "", id, "")
	default:
		// An existing tenant the file does not own is only a place for
		// the file's resources: it is neither renamed nor deleted.
		if name != "" && name != cur.Name {
			other, err := pl.ownedElsewhere(hookd.KindTenant, "", id)
			if err != nil {
				return err
			}
			if other != "" {
				pl.probs.add(t.loc.at("name"), res, "exists and is managed by another file (%s); its name cannot be set here", other)
			} else {
				pl.probs.add(t.loc.at("name"), res, "exists and is not managed by this file, so its name (%q) is not changed from here: remove name:, or set adopt: true to take the tenant over", cur.Name)
			}
		}
	}
	exists := cur != nil
	if err := pl.planEventTypes(t, exists); err != nil {
		return err
	}
	if err := pl.planEndpoints(t, exists); err != nil {
		return err
	}
	if err := pl.planSources(t); err != nil {
		return err
	}
	if err := pl.planRules(t, exists); err != nil {
		return err
	}
	return pl.planKeys(t.ID, t.Keys, t.Adopt)
}

func (pl *planner) planEventTypes(t *TenantSpec, exists bool) error {
	for _, s := range t.EventTypes {
		res := resourceName(hookd.KindEventType, t.ID, s.Name)
		var cur *hookd.EventType
		if exists {
			var err error
			cur, err = pl.st.FindEventType(pl.ctx, t.ID, s.Name)
			if hookd.ErrorCode(err) == hookd.ENOTFOUND {
				cur, err = nil, nil
			}
			if err != nil {
				return err
			}
		}
		_, owned := pl.owned[ident{hookd.KindEventType, t.ID, s.Name}]
		want := *s.typ
		tenant, name := t.ID, s.Name
		switch {
		case cur == nil:
			pl.types = append(pl.types, Change{Op: OpCreate, Kind: hookd.KindEventType, Tenant: tenant, Name: name,
				run: func(ctx context.Context, st Store, _ time.Time, _ *Plan) error {
					et := want
					return st.CreateEventType(ctx, &et)
				}})
		case !owned && !t.Adopt:
			if err := pl.notManaged(s.loc.at("name"), res, hookd.KindEventType, tenant, name, true); err != nil {
				return err
			}
			continue
		default:
			op, ok, err := pl.opFor(owned, hookd.KindEventType, tenant, name, s.loc.at("name"), res)
			if err != nil || !ok {
				return err
			}
			fields, upd := diffEventType(cur, &want)
			if len(fields) > 0 || op == OpAdopt {
				c := Change{Op: op, Kind: hookd.KindEventType, Tenant: tenant, Name: name, Fields: fields}
				if len(fields) > 0 {
					c.run = func(ctx context.Context, st Store, _ time.Time, _ *Plan) error {
						_, err := st.UpdateEventType(ctx, tenant, name, upd)
						return err
					}
				}
				pl.types = append(pl.types, c)
			}
		}
		pl.own(hookd.KindEventType, tenant, name, "")
	}
	return nil
}

// opFor is update for an owned resource and adopt for one that exists
// unmanaged (the tenant allows adoption); false after recording the
// problem of one that another file owns.
func (pl *planner) opFor(owned bool, kind, tenant, key string, line int, res string) (Op, bool, error) {
	if owned {
		return OpUpdate, true, nil
	}
	other, err := pl.ownedElsewhere(kind, tenant, key)
	if err != nil {
		return "", false, err
	}
	if other != "" {
		pl.probs.add(line, res, "exists and is managed by another file (%s)", other)
		return "", false, nil
	}
	return OpAdopt, true, nil
}

func diffEventType(cur, want *hookd.EventType) ([]string, hookd.EventTypeUpdate) {
	var fields []string
	var upd hookd.EventTypeUpdate
	if cur.Description != want.Description {
		fields, upd.Description = append(fields, "description"), &want.Description
	}
	if !jsonEqual(cur.Schema, want.Schema) {
		fields, upd.Schema = append(fields, "schema"), &want.Schema
	}
	if !jsonEqual(cur.Example, want.Example) {
		fields, upd.Example = append(fields, "example"), &want.Example
	}
	if cur.Deprecated != want.Deprecated {
		fields, upd.Deprecated = append(fields, "deprecated"), &want.Deprecated
	}
	if cur.Archived != want.Archived {
		fields, upd.Archived = append(fields, "archived"), &want.Archived
	}
	return fields, upd
}

// catalog is a tenant's event types as they will be after the plan:
// name -> archived.
func (pl *planner) catalog(t *TenantSpec, exists bool) (map[string]bool, error) {
	out := map[string]bool{}
	if exists {
		list, err := all(func(p hookd.Page) ([]*hookd.EventType, string, error) {
			return pl.st.FindEventTypes(pl.ctx, t.ID, p)
		})
		if err != nil {
			return nil, err
		}
		for _, et := range list {
			if !pl.deleting[ident{hookd.KindEventType, t.ID, et.Name}] && !hookd.IsOperational(et.Name) {
				out[et.Name] = et.Archived
			}
		}
	}
	for _, s := range t.EventTypes {
		out[s.Name] = s.Archived
	}
	return out, nil
}

func (pl *planner) planEndpoints(t *TenantSpec, exists bool) error {
	if len(t.Endpoints) == 0 {
		return nil
	}
	var current []*hookd.Endpoint
	if exists {
		var err error
		current, err = all(func(p hookd.Page) ([]*hookd.Endpoint, string, error) {
			return pl.st.FindEndpoints(pl.ctx, hookd.EndpointFilter{TenantID: t.ID, Page: p})
		})
		if err != nil {
			return err
		}
	}
	byID := map[string]*hookd.Endpoint{}
	ownedIDs := map[string]bool{}
	for _, ep := range current {
		byID[ep.ID] = ep
	}
	for id, r := range pl.owned {
		if id.kind == hookd.KindEndpoint && id.tenant == t.ID {
			ownedIDs[r.Key] = true
		}
	}
	cat, err := pl.catalog(t, exists)
	if err != nil {
		return err
	}
	taken := map[string]bool{} // endpoints adopted by this plan
	for _, s := range t.Endpoints {
		res := resourceName(hookd.KindEndpoint, t.ID, s.Name)
		var cur *hookd.Endpoint
		op := OpCreate
		if r, ok := pl.owned[ident{hookd.KindEndpoint, t.ID, s.Name}]; ok && byID[r.Key] != nil {
			cur, op = byID[r.Key], OpUpdate
		} else {
			// Same-named endpoints that this file does not own.
			var clash []*hookd.Endpoint
			for _, ep := range current {
				if !ownedIDs[ep.ID] && !taken[ep.ID] && (ep.Name == s.Name || t.Adopt && ep.ID == s.Name) {
					clash = append(clash, ep)
				}
			}
			if len(clash) > 0 {
				other, err := pl.ownedElsewhere(hookd.KindEndpoint, t.ID, clash[0].ID)
				switch {
				case err != nil:
					return err
				case other != "":
					pl.probs.add(s.loc.at("name"), res, "exists and is managed by another file (%s)", other)
					continue
				case !t.Adopt:
					if err := pl.notManaged(s.loc.at("name"), res, hookd.KindEndpoint, t.ID, clash[0].ID, true); err != nil {
						return err
					}
					continue
				case len(clash) > 1:
					pl.probs.add(s.loc.at("name"), res, "cannot be adopted: %d endpoints of the tenant have this name (%s, %s, ...); rename all but one through the API, or name this one by its id", len(clash), clash[0].ID, clash[1].ID)
					continue
				}
				cur, op = clash[0], OpAdopt
				taken[cur.ID] = true
			}
		}
		var before []string
		if cur != nil {
			before = cur.Events
		}
		pl.checkSubscriptions(s, res, cat, before)
		want := *s.ep
		secret := s.secret
		tenant := t.ID
		if cur == nil {
			want.ID = hookd.NewID(hookd.PrefixEndpoint)
			pl.endpoints = append(pl.endpoints, Change{Op: OpCreate, Kind: hookd.KindEndpoint, Tenant: tenant, Name: s.Name,
				run: func(ctx context.Context, st Store, now time.Time, p *Plan) error {
					ep := want
					value := secret
					if value == "" {
						value = hookd.NewEndpointSecret()
					}
					ep.Secrets = []hookd.Secret{{Value: value, CreatedAt: now}}
					if err := st.CreateEndpoint(ctx, &ep); err != nil {
						return err
					}
					if secret == "" {
						p.Generated = append(p.Generated, GeneratedSecret{Tenant: ep.TenantID, Endpoint: ep.Name, ID: ep.ID, Secret: value})
					}
					return nil
				}})
			pl.own(hookd.KindEndpoint, tenant, want.ID, s.Name)
			continue
		}
		fields, upd := diffEndpoint(cur, &want)
		rotate := secret != "" && (len(cur.Secrets) == 0 || cur.Secrets[0].Value != secret)
		if rotate {
			fields = append(fields, "secret")
		}
		if len(fields) > 0 || op == OpAdopt {
			c := Change{Op: op, Kind: hookd.KindEndpoint, Tenant: tenant, Name: s.Name, Fields: fields}
			if len(fields) > 0 {
				id, old := cur.ID, cur.Secrets
				c.run = func(ctx context.Context, st Store, now time.Time, _ *Plan) error {
					u := upd
					if rotate {
						secrets := rotated(old, secret, now)
						u.Secrets = &secrets
					}
					_, err := st.UpdateEndpoint(ctx, tenant, id, u)
					return err
				}
			}
			pl.endpoints = append(pl.endpoints, c)
		}
		pl.own(hookd.KindEndpoint, tenant, cur.ID, s.Name)
	}
	return nil
}

// checkSubscriptions mirrors http's check of new subscriptions: an exact
// event type an endpoint starts to subscribe to must be in the catalog
// (once the tenant has one) and not archived.
func (pl *planner) checkSubscriptions(s *EndpointSpec, res string, cat map[string]bool, before []string) {
	custom := len(cat)
	for _, p := range s.Events {
		if p == "*" || strings.HasSuffix(p, ".*") || hookd.IsOperational(p) || slices.Contains(before, p) {
			continue
		}
		archived, ok := cat[p]
		switch {
		case ok && archived:
			pl.probs.add(s.loc.at("events"), res, "event type %q is archived: new subscriptions cannot name it", p)
		case !ok && custom > 0:
			pl.probs.add(s.loc.at("events"), res, "event type %q is not in the tenant's event catalog; declare it under event_types, or subscribe with a wildcard pattern", p)
		}
	}
}

// rotated is the secret list after a reload changed the secret: the new
// one first, the old ones signing on for hookd.DefaultSecretOverlap (an
// earlier rotation's deadline stands).
func rotated(old []hookd.Secret, secret string, now time.Time) []hookd.Secret {
	out := []hookd.Secret{{Value: secret, CreatedAt: now}}
	for _, s := range old {
		if s.Value == secret || s.ExpiresAt != nil && !now.Before(*s.ExpiresAt) {
			continue
		}
		until := now.Add(hookd.DefaultSecretOverlap)
		if s.ExpiresAt != nil && s.ExpiresAt.Before(until) {
			until = *s.ExpiresAt
		}
		s.ExpiresAt = &until
		out = append(out, s)
	}
	return out
}

func diffEndpoint(cur, want *hookd.Endpoint) ([]string, hookd.EndpointUpdate) {
	var fields []string
	var upd hookd.EndpointUpdate
	if cur.Name != want.Name {
		fields, upd.Name = append(fields, "name"), &want.Name
	}
	if cur.Description != want.Description {
		fields, upd.Description = append(fields, "description"), &want.Description
	}
	if cur.URL != want.URL {
		fields, upd.URL = append(fields, "url"), &want.URL
	}
	if !slices.Equal(cur.Events, want.Events) {
		fields, upd.Events = append(fields, "events"), &want.Events
	}
	if !maps.Equal(cur.Headers, want.Headers) {
		h := want.Headers
		if h == nil {
			h = map[string]string{}
		}
		fields, upd.Headers = append(fields, "headers"), &h
	}
	if !jsonEqual(cur.Filter, want.Filter) {
		fields, upd.Filter = append(fields, "filter"), hookd.SetTo(want.Filter)
	}
	if !slices.Equal(cur.Signatures, want.Signatures) {
		fields, upd.Signatures = append(fields, "signatures"), &want.Signatures
	}
	if !slices.Equal(cur.RetrySchedule, want.RetrySchedule) {
		fields, upd.RetrySchedule = append(fields, "retry_schedule"), &want.RetrySchedule
	}
	if cur.Timeout != want.Timeout {
		fields, upd.Timeout = append(fields, "timeout"), &want.Timeout
	}
	if cur.MaxInFlight != want.MaxInFlight {
		fields, upd.MaxInFlight = append(fields, "max_in_flight"), &want.MaxInFlight
	}
	if cur.RateLimit != want.RateLimit {
		fields, upd.RateLimit = append(fields, "rate_limit"), &want.RateLimit
	}
	if cur.Mode != want.Mode {
		fields, upd.Mode = append(fields, "mode"), &want.Mode
	}
	return fields, upd
}

func (pl *planner) planSources(t *TenantSpec) error {
	for _, s := range t.Sources {
		name := hookd.NormalizeSourceName(s.Name)
		res := resourceName(hookd.KindSource, t.ID, name)
		cur, err := pl.st.FindSourceByName(pl.ctx, name)
		if hookd.ErrorCode(err) == hookd.ENOTFOUND {
			cur, err = nil, nil
		}
		if err != nil {
			return err
		}
		if cur != nil && cur.TenantID != t.ID {
			if pl.deleting[ident{hookd.KindSource, cur.TenantID, name}] {
				cur = nil // the file moves it: deleted there first
			} else {
				other, err := pl.ownedElsewhere(hookd.KindSource, cur.TenantID, name)
				if err != nil {
					return err
				}
				if other != "" {
					pl.probs.add(s.loc.at("name"), res, "the name is taken by a source of another tenant, managed by another file (%s); source names are unique across tenants", other)
				} else {
					pl.probs.add(s.loc.at("name"), res, "the name is taken by a source of another tenant that is not managed by this file; source names are unique across tenants")
				}
				continue
			}
		}
		_, owned := pl.owned[ident{hookd.KindSource, t.ID, name}]
		want := *s.src
		tenant := t.ID
		switch {
		case cur == nil:
			if want.Verifier.Secrets == nil {
				check := want.Verifier
				if err := signature.ValidateSourceVerifier(check); err != nil {
					pl.probs.add(s.Verifier.loc.at("secrets"), res, "every secret variable is empty, and a new source needs its secrets: %s", message(err))
					continue
				}
			}
			pl.sources = append(pl.sources, Change{Op: OpCreate, Kind: hookd.KindSource, Tenant: tenant, Name: name,
				run: func(ctx context.Context, st Store, _ time.Time, _ *Plan) error {
					src := want
					return st.CreateSource(ctx, &src)
				}})
		case !owned && !t.Adopt:
			if err := pl.notManaged(s.loc.at("name"), res, hookd.KindSource, tenant, name, true); err != nil {
				return err
			}
			continue
		default:
			op, ok, err := pl.opFor(owned, hookd.KindSource, tenant, name, s.loc.at("name"), res)
			if err != nil || !ok {
				return err
			}
			fields, upd := diffSource(cur, &want)
			if len(fields) > 0 || op == OpAdopt {
				c := Change{Op: op, Kind: hookd.KindSource, Tenant: tenant, Name: name, Fields: fields}
				if len(fields) > 0 {
					id := cur.ID
					c.run = func(ctx context.Context, st Store, _ time.Time, _ *Plan) error {
						_, err := st.UpdateSource(ctx, tenant, id, upd)
						return err
					}
				}
				pl.sources = append(pl.sources, c)
			}
		}
		pl.own(hookd.KindSource, tenant, name, "")
	}
	return nil
}

func diffSource(cur, want *hookd.Source) ([]string, hookd.SourceUpdate) {
	var fields []string
	var upd hookd.SourceUpdate
	if cur.Description != want.Description {
		fields, upd.Description = append(fields, "description"), &want.Description
	}
	cv, wv := cur.Verifier, want.Verifier
	cv.Secrets, wv.Secrets = nil, nil
	settings := !reflect.DeepEqual(cv, wv)
	secrets := want.Verifier.Secrets != nil && !slices.Equal(cur.Verifier.Secrets, want.Verifier.Secrets)
	if settings {
		fields = append(fields, "verifier")
	}
	if secrets {
		fields = append(fields, "secrets")
	}
	if settings || secrets {
		v := want.Verifier // nil Secrets: kept
		upd.Verifier = &v
	}
	if !slices.Equal(cur.ContentTypes, want.ContentTypes) {
		fields, upd.ContentTypes = append(fields, "content_types"), &want.ContentTypes
	}
	if cur.MaxBodyBytes != want.MaxBodyBytes {
		fields, upd.MaxBodyBytes = append(fields, "max_body_bytes"), &want.MaxBodyBytes
	}
	if !reflect.DeepEqual(cur.Response, want.Response) {
		r := want.Response
		fields, upd.Response = append(fields, "response"), &r
	}
	if cur.RateLimit != want.RateLimit {
		fields, upd.RateLimit = append(fields, "rate_limit"), &want.RateLimit
	}
	if cur.DedupWindow != want.DedupWindow {
		fields, upd.DedupWindow = append(fields, "dedup_window"), &want.DedupWindow
	}
	if cur.HeartbeatEvery != want.HeartbeatEvery {
		fields, upd.HeartbeatEvery = append(fields, "heartbeat_every"), &want.HeartbeatEvery
	}
	return fields, upd
}

func (pl *planner) planRules(t *TenantSpec, exists bool) error {
	fileSources := map[string]bool{}
	for _, s := range t.Sources {
		fileSources[hookd.NormalizeSourceName(s.Name)] = true
	}
	for _, s := range t.Rules {
		res := resourceName(hookd.KindRule, t.ID, s.Name)
		want := *s.rule
		if want.Source != "" && !fileSources[want.Source] {
			src, err := pl.st.FindSourceByName(pl.ctx, want.Source)
			switch {
			case hookd.ErrorCode(err) == hookd.ENOTFOUND:
				src = nil
			case err != nil:
				return err
			}
			if src == nil || src.TenantID != t.ID || pl.deleting[ident{hookd.KindSource, t.ID, want.Source}] {
				pl.probs.add(s.loc.at("source"), res, "source: there is no source %q in this tenant (declare it under sources)", want.Source)
				continue
			}
		}
		var cur *hookd.Rule
		if exists {
			var err error
			cur, err = pl.st.FindRule(pl.ctx, t.ID, s.Name)
			if hookd.ErrorCode(err) == hookd.ENOTFOUND {
				cur, err = nil, nil
			}
			if err != nil {
				return err
			}
		}
		_, owned := pl.owned[ident{hookd.KindRule, t.ID, s.Name}]
		tenant, name := t.ID, s.Name
		switch {
		case cur == nil:
			pl.rules = append(pl.rules, Change{Op: OpCreate, Kind: hookd.KindRule, Tenant: tenant, Name: name,
				run: func(ctx context.Context, st Store, _ time.Time, _ *Plan) error {
					r := want
					return st.CreateRule(ctx, &r)
				}})
		case !owned && !t.Adopt:
			if err := pl.notManaged(s.loc.at("name"), res, hookd.KindRule, tenant, name, true); err != nil {
				return err
			}
			continue
		default:
			op, ok, err := pl.opFor(owned, hookd.KindRule, tenant, name, s.loc.at("name"), res)
			if err != nil || !ok {
				return err
			}
			fields, upd := diffRule(cur, &want)
			if len(fields) > 0 || op == OpAdopt {
				c := Change{Op: op, Kind: hookd.KindRule, Tenant: tenant, Name: name, Fields: fields}
				if len(fields) > 0 {
					id := cur.ID
					c.run = func(ctx context.Context, st Store, _ time.Time, _ *Plan) error {
						_, err := st.UpdateRule(ctx, tenant, id, upd)
						return err
					}
				}
				pl.rules = append(pl.rules, c)
			}
		}
		pl.own(hookd.KindRule, tenant, name, "")
	}
	return nil
}

func diffRule(cur, want *hookd.Rule) ([]string, hookd.RuleUpdate) {
	var fields []string
	var upd hookd.RuleUpdate
	if cur.Description != want.Description {
		fields, upd.Description = append(fields, "description"), &want.Description
	}
	if cur.Enabled != want.Enabled {
		fields, upd.Enabled = append(fields, "enabled"), &want.Enabled
	}
	if cur.Source != want.Source {
		fields, upd.Source = append(fields, "source"), &want.Source
	}
	if cur.Trigger != want.Trigger {
		fields, upd.Trigger = append(fields, "trigger"), &want.Trigger
	}
	if !reflect.DeepEqual(cur.Git, want.Git) {
		g := want.Git
		fields, upd.Git = append(fields, "git"), &g
	}
	if !jsonEqual(cur.Criteria, want.Criteria) {
		c := want.Criteria
		fields, upd.Criteria = append(fields, "criteria"), &c
	}
	if !actionEqual(cur.Action, want.Action) {
		fields, upd.Action = append(fields, "action"), &want.Action
	}
	return fields, upd
}

// planKeys plans the keys of a tenant ("" for superadmin keys).
func (pl *planner) planKeys(tenant string, specs []*KeySpec, adopt bool) error {
	if len(specs) == 0 {
		return nil
	}
	f := hookd.APIKeyFilter{TenantID: tenant}
	if tenant == "" {
		f.Role = hookd.RoleSuperadmin
	}
	current, err := all(func(p hookd.Page) ([]*hookd.APIKey, string, error) {
		f.Page = p
		return pl.st.FindAPIKeys(pl.ctx, f)
	})
	if err != nil {
		return err
	}
	ownedIDs := map[string]bool{}
	for id, r := range pl.owned {
		if id.kind == hookd.KindKey && id.tenant == tenant {
			ownedIDs[r.Key] = true
		}
	}
	for _, s := range specs {
		res := resourceName(hookd.KindKey, tenant, s.Name)
		role := s.role(tenant)
		var cur *hookd.APIKey
		op := OpCreate
		if r, ok := pl.owned[ident{hookd.KindKey, tenant, s.Name}]; ok {
			k, err := pl.st.FindAPIKeyByID(pl.ctx, r.Key)
			switch {
			case hookd.ErrorCode(err) == hookd.ENOTFOUND:
			case err != nil:
				return err
			case k.RevokedAt != nil && k.Hash == s.hash:
				pl.warnings = append(pl.warnings, fmt.Sprintf("%s was revoked; it stays revoked until the file gives it a new key or hash", res))
				pl.own(hookd.KindKey, tenant, k.ID, s.Name)
				continue
			case k.RevokedAt == nil:
				cur, op = k, OpUpdate
			}
		}
		if cur == nil {
			// Keys of the same name or hash that this file does not own.
			var clash *hookd.APIKey
			for _, k := range current {
				if k.RevokedAt == nil && !ownedIDs[k.ID] && (k.Hash == s.hash || k.Name == s.Name || adopt && k.ID == s.Name) {
					if clash == nil || k.Hash == s.hash {
						clash = k
					}
				}
			}
			if clash != nil {
				other, err := pl.ownedElsewhere(hookd.KindKey, tenant, clash.ID)
				switch {
				case err != nil:
					return err
				case other != "":
					pl.probs.add(s.loc.line, res, "exists and is managed by another file (%s)", other)
					continue
				case !adopt:
					where := "on the tenant"
					if tenant == "" {
						where = "at the top level"
					}
					pl.probs.add(s.loc.line, res, "exists and is not managed by this file (a key of this name or hash was created through the API or at bootstrap); use another key, or set adopt: true %s to take it over", where)
					continue
				}
				cur, op = clash, OpAdopt
				ownedIDs[clash.ID] = true
			}
		}
		replace := cur == nil
		var fields []string
		if cur != nil {
			if cur.Role != role {
				if cur.Hash == s.hash {
					pl.probs.add(s.loc.at("role"), res, "a key keeps its role: to change it, give a new key (or hash) with the new role")
					continue
				}
				fields = append(fields, "role")
			}
			if cur.Hash != s.hash {
				fields = append(fields, "hash")
			}
			replace = len(fields) > 0
		}
		if !replace {
			if op == OpAdopt {
				pl.keys = append(pl.keys, Change{Op: op, Kind: hookd.KindKey, Tenant: tenant, Name: s.Name})
			}
			pl.own(hookd.KindKey, tenant, cur.ID, s.Name)
			continue
		}
		// The new key's hash must be free: hashes are unique, revoked
		// keys included.
		if cur == nil || cur.Hash != s.hash {
			k, err := pl.st.FindAPIKeyByHash(pl.ctx, s.hash)
			switch {
			case hookd.ErrorCode(err) == hookd.ENOTFOUND:
			case err != nil:
				return err
			default:
				state := "another key"
				if k.RevokedAt != nil {
					state = "a revoked key"
				}
				pl.probs.add(s.loc.at("hash"), res, "%s has this hash already; give a new key", state)
				continue
			}
		}
		key := &hookd.APIKey{ID: hookd.NewID(hookd.PrefixKey), TenantID: tenant, Role: role, Name: s.Name, Hash: s.hash}
		c := Change{Op: OpCreate, Kind: hookd.KindKey, Tenant: tenant, Name: s.Name}
		var oldID string
		if cur != nil {
			c.Op, c.Fields, oldID = op, fields, cur.ID
		}
		c.run = func(ctx context.Context, st Store, now time.Time, _ *Plan) error {
			k := *key
			if err := st.CreateAPIKey(ctx, &k); err != nil {
				return err
			}
			if oldID != "" {
				return ignoreNotFound(st.RevokeAPIKey(ctx, oldID, now))
			}
			return nil
		}
		pl.keys = append(pl.keys, c)
		pl.own(hookd.KindKey, tenant, key.ID, s.Name)
	}
	return nil
}

// planTenantDeletes deletes the tenants the owner owns and the file no
// longer declares, unless a tenant holds resources the file does not own
// (it is kept, and no longer owned) or is the default tenant.
func (pl *planner) planTenantDeletes() error {
	for _, id := range sortedIdents(pl.owned) {
		r := pl.owned[id]
		if r.Kind != hookd.KindTenant || pl.desired[id] {
			continue
		}
		exists, err := pl.exists(r)
		if err != nil || !exists {
			if err != nil {
				return err
			}
			continue
		}
		if r.Key == hookd.DefaultTenant {
			pl.warnings = append(pl.warnings, "tenant default is no longer in the file; it is kept (hookd needs it) and no longer managed by this file")
			continue
		}
		foreign, err := pl.foreignResources(r.Key)
		if err != nil {
			return err
		}
		if foreign != "" {
			pl.warnings = append(pl.warnings, fmt.Sprintf("tenant %s is no longer in the file but holds %s that this file does not manage; it is kept and no longer managed by this file", r.Key, foreign))
			continue
		}
		tenant := r.Key
		pl.tenantDeletes = append(pl.tenantDeletes, Change{Op: OpDelete, Kind: hookd.KindTenant, Name: tenant,
			run: func(ctx context.Context, st Store, _ time.Time, _ *Plan) error {
				return ignoreNotFound(st.DeleteTenant(ctx, tenant))
			}})
	}
	return nil
}

// foreignResources names a resource of tenant that the owner does not
// own ("" if none).
func (pl *planner) foreignResources(tenant string) (string, error) {
	mine := map[[2]string]bool{}
	for _, r := range pl.owned {
		if r.TenantID == tenant {
			mine[[2]string{r.Kind, r.Key}] = true
		}
	}
	types, err := all(func(p hookd.Page) ([]*hookd.EventType, string, error) { return pl.st.FindEventTypes(pl.ctx, tenant, p) })
	if err != nil {
		return "", err
	}
	for _, x := range types {
		if !mine[[2]string{hookd.KindEventType, x.Name}] {
			return "event type " + x.Name, nil
		}
	}
	eps, err := all(func(p hookd.Page) ([]*hookd.Endpoint, string, error) {
		return pl.st.FindEndpoints(pl.ctx, hookd.EndpointFilter{TenantID: tenant, Page: p})
	})
	if err != nil {
		return "", err
	}
	for _, x := range eps {
		if !mine[[2]string{hookd.KindEndpoint, x.ID}] {
			return "endpoint " + x.ID, nil
		}
	}
	srcs, err := all(func(p hookd.Page) ([]*hookd.Source, string, error) { return pl.st.FindSources(pl.ctx, tenant, p) })
	if err != nil {
		return "", err
	}
	for _, x := range srcs {
		if !mine[[2]string{hookd.KindSource, x.Name}] {
			return "source " + x.Name, nil
		}
	}
	rules, err := all(func(p hookd.Page) ([]*hookd.Rule, string, error) { return pl.st.FindRules(pl.ctx, tenant, p) })
	if err != nil {
		return "", err
	}
	for _, x := range rules {
		if !mine[[2]string{hookd.KindRule, x.Name}] {
			return "rule " + x.Name, nil
		}
	}
	keys, err := all(func(p hookd.Page) ([]*hookd.APIKey, string, error) {
		return pl.st.FindAPIKeys(pl.ctx, hookd.APIKeyFilter{TenantID: tenant, Page: p})
	})
	if err != nil {
		return "", err
	}
	for _, x := range keys {
		if x.RevokedAt == nil && !mine[[2]string{hookd.KindKey, x.ID}] {
			return "key " + x.ID, nil
		}
	}
	return "", nil
}

// all reads every page of a list.
func all[T any](fetch func(hookd.Page) ([]T, string, error)) ([]T, error) {
	var out []T
	p := hookd.Page{Limit: hookd.MaxPageSize}
	for {
		items, next, err := fetch(p)
		if err != nil {
			return nil, err
		}
		out = append(out, items...)
		if next == "" {
			return out, nil
		}
		p.Cursor = next
	}
}

func sortedIdents(m map[ident]hookd.ManagedResource) []ident {
	out := slices.Collect(maps.Keys(m))
	slices.SortFunc(out, func(a, b ident) int {
		return strings.Compare(a.kind+"\x00"+a.tenant+"\x00"+a.name, b.kind+"\x00"+b.tenant+"\x00"+b.name)
	})
	return out
}

func ignoreNotFound(err error) error {
	if hookd.ErrorCode(err) == hookd.ENOTFOUND {
		return nil
	}
	return err
}

// jsonEqual compares JSON values, not their text: key order, spacing and
// number spelling do not count. Empty and null are equal.
func jsonEqual(a, b json.RawMessage) bool {
	va, oka := decodeJSON(a)
	vb, okb := decodeJSON(b)
	if !oka || !okb {
		return string(a) == string(b)
	}
	return reflect.DeepEqual(va, vb)
}

func decodeJSON(raw json.RawMessage) (any, bool) {
	if len(raw) == 0 {
		return nil, true
	}
	var v any
	err := json.Unmarshal(raw, &v)
	return v, err == nil
}

// actionEqual compares actions as JSON, so that their data compares as
// a value.
func actionEqual(a, b hookd.Action) bool {
	ja, erra := json.Marshal(a)
	jb, errb := json.Marshal(b)
	return erra == nil && errb == nil && jsonEqual(ja, jb)
}
