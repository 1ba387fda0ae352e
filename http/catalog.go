package http

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/hookd/hookd"
	"github.com/hookd/hookd/schema"
)

// catalogTTL is how long a node uses a tenant's compiled catalog before it
// reads it again. A change made through this node applies to it at once;
// on other nodes within catalogTTL.
const catalogTTL = 2 * time.Second

// catalogLoadTimeout bounds one load of a tenant's catalog.
const catalogLoadTimeout = 10 * time.Second

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
		if p, ok := schema.Validate(ct.schema, ev.Payload); !ok {
			return false, hookd.Errorf(hookd.EUNPROCESSABLE, "Event data does not match the schema of event type %q %s.", ev.Type, p.String())
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
				sch, err := schema.Compile(t.Schema)
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
