package http

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"

	"github.com/hookd/hookd"
)

// catalogTTL is how long a node uses a tenant's compiled catalog before it
// reads it again. A change made through this node applies to it at once;
// on other nodes within catalogTTL.
const catalogTTL = 2 * time.Second

// catalogLoadTimeout bounds one load of a tenant's catalog.
const catalogLoadTimeout = 10 * time.Second

// maxSchemaMessage bounds the detail of a schema error in an answer.
const maxSchemaMessage = 300

// schemaURL is the URL a schema is compiled under, schemaBase its
// directory. Neither is ever fetched: they give relative references a base
// that cannot be loaded (so they fail when the schema is compiled), and are
// cut out of error messages.
const (
	schemaBase = "https://schema.hookd.invalid/"
	schemaURL  = schemaBase + "event-type.json"
)

// errNoLoad is why a schema reference outside the schema fails.
var errNoLoad = errors.New("only references inside the schema are allowed")

// noLoader refuses every URL: a schema is compiled from itself and the
// standard meta-schemas built into the library, never from files or the
// network.
type noLoader struct{}

func (noLoader) Load(string) (any, error) { return nil, errNoLoad }

// compileSchema compiles a JSON Schema: draft 2020-12 unless its $schema
// names another draft the library knows (04, 06, 07, 2019-09). References
// may point inside the schema and to the standard meta-schemas only.
// Formats are annotations, as draft 2020-12 says; pattern uses Go's RE2
// syntax (linear time). EINVALID names the problem.
func compileSchema(raw json.RawMessage) (*jsonschema.Schema, error) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return nil, hookd.Errorf(hookd.EINVALID, "The schema must be valid JSON.")
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.UseLoader(noLoader{})
	if err := c.AddResource(schemaURL, doc); err != nil {
		return nil, schemaError(err)
	}
	sch, err := c.Compile(schemaURL)
	if err != nil {
		return nil, schemaError(err)
	}
	// A reference cycle compiles but fails every validation; catch the
	// ones a bare value reaches.
	if cycle := refCycle(sch.Validate(nil)); cycle != nil {
		return nil, hookd.Errorf(hookd.EINVALID, "Invalid schema: %s.", clip(cleanSchemaText(kindText(cycle))))
	}
	return sch, nil
}

// kindText is the library's English text of an error kind.
func kindText(k jsonschema.ErrorKind) string {
	if out := (&jsonschema.ValidationError{ErrorKind: k}).BasicOutput(); out.Error != nil {
		return out.Error.String()
	}
	return "invalid"
}

// refCycle returns the reference cycle among err's causes, if any.
func refCycle(err error) *kind.RefCycle {
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return nil
	}
	if k, ok := ve.ErrorKind.(*kind.RefCycle); ok {
		return k
	}
	for _, c := range ve.Causes {
		if k := refCycle(c); k != nil {
			return k
		}
	}
	return nil
}

// schemaError turns a compile error into a user-safe EINVALID.
func schemaError(err error) error {
	var (
		load *jsonschema.LoadURLError
		meta *jsonschema.SchemaValidationError
	)
	switch {
	case errors.As(err, &load):
		return hookd.Errorf(hookd.EINVALID, "Invalid schema: it refers to %q; only references inside the schema (and to the standard meta-schemas) are allowed, nothing is fetched.",
			clip(cleanSchemaText(load.URL)))
	case errors.As(err, &meta):
		if leaf, ok := firstLeaf(meta.Err); ok {
			return hookd.Errorf(hookd.EINVALID, "Invalid schema at %q: %s.", leaf.at, leaf.msg)
		}
	}
	return hookd.Errorf(hookd.EINVALID, "Invalid schema: %s.", clip(cleanSchemaText(err.Error())))
}

// cleanSchemaText removes the internal schema URL from library messages.
func cleanSchemaText(s string) string {
	s = strings.ReplaceAll(s, schemaURL, "")
	return strings.ReplaceAll(s, schemaBase, "")
}

// clip shortens s to maxSchemaMessage bytes (at a rune boundary).
func clip(s string) string {
	if len(s) <= maxSchemaMessage {
		return s
	}
	cut := maxSchemaMessage
	for cut > 0 && s[cut]&0xC0 == 0x80 {
		cut--
	}
	return s[:cut] + "..."
}

// schemaProblem is one failed assertion: where in the instance (a JSON
// pointer) and why.
type schemaProblem struct {
	at, msg string
	more    int // how many other problems there are
}

// firstLeaf picks the innermost problem of a validation error with the
// first instance location (so the answer does not depend on map order),
// and counts the others.
func firstLeaf(err error) (schemaProblem, bool) {
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return schemaProblem{}, false
	}
	var leaves []*jsonschema.ValidationError
	var walk func(e *jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		if len(e.Causes) == 0 {
			leaves = append(leaves, e)
		}
		for _, c := range e.Causes {
			walk(c)
		}
	}
	walk(ve)
	if len(leaves) == 0 {
		return schemaProblem{}, false
	}
	probs := make([]schemaProblem, len(leaves))
	for i, l := range leaves {
		probs[i] = schemaProblem{at: pointer(l.InstanceLocation), msg: clip(cleanSchemaText(kindText(l.ErrorKind)))}
	}
	// Sibling properties are visited in map order; problems at one
	// location come in the schema's order.
	sort.SliceStable(probs, func(i, j int) bool { return probs[i].at < probs[j].at })
	p := probs[0]
	p.more = len(probs) - 1
	return p, true
}

// pointer is the JSON pointer (RFC 6901) of a path of tokens.
func pointer(tokens []string) string {
	var b strings.Builder
	for _, t := range tokens {
		b.WriteByte('/')
		b.WriteString(strings.ReplaceAll(strings.ReplaceAll(t, "~", "~0"), "/", "~1"))
	}
	return b.String()
}

// validateValue checks one JSON value against sch and describes the first
// problem: where (a JSON pointer into the value) and why.
func validateValue(sch *jsonschema.Schema, raw json.RawMessage) (schemaProblem, bool) {
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return schemaProblem{at: "", msg: "not valid JSON"}, false
	}
	if err := sch.Validate(v); err != nil {
		if p, ok := firstLeaf(err); ok {
			return p, false
		}
		return schemaProblem{at: "", msg: "does not match"}, false
	}
	return schemaProblem{}, true
}

// describe is p as a sentence tail: ` at "/amount": got string, want integer`.
func (p schemaProblem) describe() string {
	s := fmt.Sprintf("at %q: %s", p.at, p.msg)
	switch {
	case p.more == 1:
		s += " (and 1 more problem)"
	case p.more > 1:
		s += fmt.Sprintf(" (and %d more problems)", p.more)
	}
	return s
}

// checkSchema compiles t's schema, if any, and checks its example against
// it: EINVALID naming the problem.
func checkSchema(t *hookd.EventType) error {
	if len(t.Schema) == 0 {
		return nil
	}
	sch, err := compileSchema(t.Schema)
	if err != nil {
		return err
	}
	if len(t.Example) > 0 {
		if p, ok := validateValue(sch, t.Example); !ok {
			return hookd.Errorf(hookd.EINVALID, "The example does not match the schema %s.", p.describe())
		}
	}
	return nil
}

// catalog is one tenant's stored event types, compiled.
type catalog struct {
	types  map[string]*catalogType
	custom int // stored types not under hookd.
}

// catalogType is one stored event type as publishing needs it.
type catalogType struct {
	deprecated, archived bool
	raw                  json.RawMessage    // the schema as stored
	schema               *jsonschema.Schema // nil: no schema, or it does not compile (logged)
}

// check validates ev against its type, if the catalog has it: EUNPROCESSABLE
// naming the failing JSON pointer when the payload fails the schema. It
// reports whether the type is deprecated.
func (c *catalog) check(ev *hookd.Event) (deprecated bool, err error) {
	ct := c.types[ev.Type]
	if ct == nil {
		return false, nil
	}
	if ct.schema != nil {
		if p, ok := validateValue(ct.schema, ev.Payload); !ok {
			return false, hookd.Errorf(hookd.EUNPROCESSABLE, "Event data does not match the schema of event type %q %s.", ev.Type, p.describe())
		}
	}
	return ct.deprecated, nil
}

// catalogCache holds each tenant's compiled catalog for catalogTTL, so
// publishing reads the catalog once per tenant and TTL, not per event.
type catalogCache struct {
	mu      sync.Mutex
	entries map[string]*catalogEntry
}

// catalogEntry is one load of a tenant's catalog. cat and err are set
// before done is closed; invalid is guarded by the cache's mutex.
type catalogEntry struct {
	done    chan struct{}
	started time.Time
	cat     *catalog
	err     error
	invalid bool // a change was made through this node after the load began
}

func (e *catalogEntry) finished() bool {
	select {
	case <-e.done:
		return true
	default:
		return false
	}
}

// catalogs returns the server's catalog cache.
func (s *Server) catalogs() *catalogCache { return s.eventTypes }

// catalog returns tenant's compiled catalog: from the cache while it is
// fresh, else loaded once for all concurrent callers.
func (s *Server) catalog(ctx context.Context, tenant string) (*catalog, error) {
	c := s.catalogs()
	now := s.now()
	c.mu.Lock()
	e := c.entries[tenant]
	if e == nil || e.invalid || e.finished() && (e.err != nil || !fresh(e.started, now, catalogTTL)) {
		var prev *catalog
		if e != nil && e.finished() {
			prev = e.cat
		}
		if len(c.entries) >= maxCacheEntries {
			evict(c.entries, func(e *catalogEntry) bool { return e.finished() && !fresh(e.started, now, catalogTTL) })
		}
		e = &catalogEntry{done: make(chan struct{}), started: now}
		c.entries[tenant] = e
		go s.loadCatalog(e, tenant, prev)
	}
	c.mu.Unlock()
	select {
	case <-e.done:
		return e.cat, e.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// forgetCatalog makes the next use of tenant's catalog on this node load it
// again. Call it after every change to the tenant's event types.
func (s *Server) forgetCatalog(tenant string) {
	c := s.catalogs()
	c.mu.Lock()
	if e := c.entries[tenant]; e != nil {
		e.invalid = true
	}
	c.mu.Unlock()
}

// loadCatalog reads tenant's event types into e and closes e.done. Schemas
// unchanged since prev are not compiled again. A stored schema that does
// not compile (one stored before schemas were checked) is logged and not
// enforced.
func (s *Server) loadCatalog(e *catalogEntry, tenant string, prev *catalog) {
	defer close(e.done)
	defer func() {
		if v := recover(); v != nil {
			e.cat, e.err = nil, fmt.Errorf("load catalog of %s: panic: %v", tenant, v)
			s.log.Error("panic loading event catalog", slog.String("tenant", tenant), slog.Any("panic", v))
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), catalogLoadTimeout)
	defer cancel()
	cat := &catalog{types: map[string]*catalogType{}}
	p := hookd.Page{Limit: hookd.MaxPageSize}
	for {
		list, next, err := s.cfg.Store.FindEventTypes(ctx, tenant, p)
		if err != nil {
			e.err = err
			return
		}
		for _, t := range list {
			ct := &catalogType{deprecated: t.Deprecated, archived: t.Archived, raw: t.Schema}
			if old := prev.lookup(t.Name); old != nil && bytes.Equal(old.raw, t.Schema) {
				ct.schema = old.schema
			} else if len(t.Schema) > 0 {
				sch, err := compileSchema(t.Schema)
				if err != nil {
					s.log.Warn("stored schema does not compile; not enforced", slog.String("tenant", tenant),
						slog.String("event_type", t.Name), slog.String("err", hookd.ErrorMessage(err)))
				}
				ct.schema = sch
			}
			cat.types[t.Name] = ct
			if !hookd.IsOperational(t.Name) {
				cat.custom++
			}
		}
		if next == "" {
			break
		}
		p.Cursor = next
	}
	e.cat = cat
}

// lookup returns the type named name; nil if none (or c is nil).
func (c *catalog) lookup(name string) *catalogType {
	if c == nil {
		return nil
	}
	return c.types[name]
}
