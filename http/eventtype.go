package http

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"

	"github.com/hookd/hookd"
	"github.com/hookd/hookd/schema"
)

// builtinCursor starts the list cursor of a position among the built-in
// event types ("builtin.3"). Store cursors are base64url, which has no '.'.
const builtinCursor = "builtin."

// builtinEventType returns the built-in type named name, nil if none.
func builtinEventType(name string) *hookd.EventType {
	if !hookd.IsOperational(name) {
		return nil
	}
	for _, t := range hookd.OperationalEventTypes() {
		if t.Name == name {
			return t
		}
	}
	return nil
}

// errBuiltin is the answer to a change of a built-in event type.
func errBuiltin(name string) error {
	return hookd.Errorf(hookd.EINVALID, "Event type %q is built in: it cannot be changed or deleted.", name)
}

func (s *Server) createEventType(w http.ResponseWriter, r *http.Request) error {
	tenant, err := s.tenant(r, writeAccess)
	if err != nil {
		return err
	}
	var in struct {
		Name        string  `json:"name"`
		Description string  `json:"description"`
		Schema      rawJSON `json:"schema"`
		Example     rawJSON `json:"example"`
		Deprecated  bool    `json:"deprecated"`
		Archived    bool    `json:"archived"`
	}
	if err := decode(w, r, maxSmallBody, &in); err != nil {
		return err
	}
	t := &hookd.EventType{TenantID: tenant, Name: in.Name, Description: in.Description,
		Schema: in.Schema.value(), Example: in.Example.value(), Deprecated: in.Deprecated, Archived: in.Archived}
	if err := t.Validate(); err != nil {
		return err
	}
	if err := schema.CheckEventType(t); err != nil {
		return err
	}
	err = s.cfg.Store.CreateEventType(r.Context(), t)
	s.forgetCatalog(tenant)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, t)
	return nil
}

// listEventTypes answers the built-in types first, then the stored ones
// (by name, descending). A page may hold both; the cursor of a page that
// ends among the built-ins is builtinCursor and the next position, after
// them the store's cursor.
func (s *Server) listEventTypes(w http.ResponseWriter, r *http.Request) error {
	tenant, err := s.tenant(r, readAccess)
	if err != nil {
		return err
	}
	p, err := pageOf(r)
	if err != nil {
		return err
	}
	size := p.Size()
	var out []*hookd.EventType
	end := 0 // position after the built-ins on this page
	stored := hookd.Page{Cursor: p.Cursor}
	if rest, ok := strings.CutPrefix(p.Cursor, builtinCursor); ok || p.Cursor == "" {
		builtins := hookd.OperationalEventTypes()
		from := 0
		if ok {
			if from, err = strconv.Atoi(rest); err != nil || from < 1 || from > len(builtins) || rest != strconv.Itoa(from) {
				return hookd.Errorf(hookd.EINVALID, "Invalid cursor.")
			}
		}
		end = min(from+size, len(builtins))
		out = builtins[from:end]
		if end < len(builtins) {
			writeList(w, out, builtinCursor+strconv.Itoa(end))
			return nil
		}
		stored.Cursor = ""
	}
	room := size - len(out)
	stored.Limit = max(room, 1) // a page full of built-ins asks only whether stored ones follow
	items, next, err := s.cfg.Store.FindEventTypes(r.Context(), tenant, stored)
	if err != nil {
		return err
	}
	if room == 0 {
		next = ""
		if len(items) > 0 {
			next = builtinCursor + strconv.Itoa(end)
		}
		items = nil
	}
	for _, t := range items {
		if builtinEventType(t.Name) == nil { // a type stored before the names were reserved is shadowed
			out = append(out, t)
		}
	}
	writeList(w, out, next)
	return nil
}

func (s *Server) getEventType(w http.ResponseWriter, r *http.Request) error {
	tenant, err := s.tenant(r, readAccess)
	if err != nil {
		return err
	}
	if t := builtinEventType(r.PathValue("name")); t != nil {
		writeJSON(w, http.StatusOK, t)
		return nil
	}
	t, err := s.cfg.Store.FindEventType(r.Context(), tenant, r.PathValue("name"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, t)
	return nil
}

// optionalJSON is a JSON value of a PATCH: absent (set false), null (set,
// value nil: remove it) or a value kept byte for byte.
type optionalJSON struct {
	set   bool
	value json.RawMessage
}

// UnmarshalJSON records that the field was sent.
func (o *optionalJSON) UnmarshalJSON(b []byte) error {
	o.set = true
	o.value = nil
	if string(b) != "null" {
		o.value = append(json.RawMessage(nil), b...)
	}
	return nil
}

// ptr is the store's form of the field: nil unchanged, empty to remove.
func (o optionalJSON) ptr() *json.RawMessage {
	if !o.set {
		return nil
	}
	v := o.value
	if v == nil {
		v = json.RawMessage{}
	}
	return &v
}

// updateEventType changes a stored type. "schema": null and "example": null
// remove them. The schema is compiled, and the example checked against it,
// only when either is changed, so an old type whose schema does not compile
// can still be deprecated or archived.
func (s *Server) updateEventType(w http.ResponseWriter, r *http.Request) error {
	tenant, err := s.tenant(r, writeAccess)
	if err != nil {
		return err
	}
	name := r.PathValue("name")
	var in struct {
		Description *string      `json:"description"`
		Schema      optionalJSON `json:"schema"`
		Example     optionalJSON `json:"example"`
		Deprecated  *bool        `json:"deprecated"`
		Archived    *bool        `json:"archived"`
	}
	if err := decode(w, r, maxSmallBody, &in); err != nil {
		return err
	}
	if hookd.IsOperational(name) {
		if builtinEventType(name) != nil {
			return errBuiltin(name)
		}
		return hookd.Errorf(hookd.EINVALID, "Event type names starting with %q are reserved for hookd's operational events; such a type cannot be changed (delete it).", hookd.OperationalPrefix)
	}
	upd := hookd.EventTypeUpdate{Description: in.Description, Schema: in.Schema.ptr(), Example: in.Example.ptr(),
		Deprecated: in.Deprecated, Archived: in.Archived}
	current, err := s.cfg.Store.FindEventType(r.Context(), tenant, name)
	if err != nil {
		return err
	}
	if err := s.refuseManaged(r.Context(), hookd.KindEventType, tenant, current.Name, current.Name); err != nil {
		return err
	}
	// Validate the result before writing it.
	merged := *current
	if upd.Description != nil {
		merged.Description = *upd.Description
	}
	if upd.Schema != nil {
		merged.Schema = *upd.Schema
	}
	if upd.Example != nil {
		merged.Example = *upd.Example
	}
	if err := merged.Validate(); err != nil {
		return err
	}
	if upd.Schema != nil || upd.Example != nil {
		if err := schema.CheckEventType(&merged); err != nil {
			return err
		}
	}
	t, err := s.cfg.Store.UpdateEventType(r.Context(), tenant, current.Name, upd)
	s.forgetCatalog(tenant)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, t)
	return nil
}

func (s *Server) deleteEventType(w http.ResponseWriter, r *http.Request) error {
	tenant, err := s.tenant(r, writeAccess)
	if err != nil {
		return err
	}
	name := r.PathValue("name")
	if builtinEventType(name) != nil {
		return errBuiltin(name)
	}
	if err := s.refuseManaged(r.Context(), hookd.KindEventType, tenant, name, name); err != nil {
		return err
	}
	err = s.cfg.Store.DeleteEventType(r.Context(), tenant, name)
	s.forgetCatalog(tenant)
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// checkSubscriptions returns EINVALID if an endpoint may not newly
// subscribe to patterns in tenant, nil if it may:
//
//   - "*" and "prefix.*" are always allowed (they are not checked against
//     the catalog);
//   - an exact name under "hookd." is allowed only if it is a built-in type;
//   - an exact name of an archived type is refused;
//   - an exact name the tenant's catalog does not hold is refused if the
//     catalog holds any type of its own (built-ins do not count), and
//     allowed while it holds none (the catalog is optional).
//
// Patterns are not syntax-checked here (hookd.ValidateEventPattern does
// that). The catalog is the cached one (see catalogTTL): exact on this
// node, at most catalogTTL old for changes made on other nodes. Other
// errors (the store failing) are returned as they are. Pass only the
// patterns being added: an existing subscription to a type archived since
// stays valid.
func (s *Server) checkSubscriptions(ctx context.Context, tenant string, patterns []string) error {
	var cat *catalog
	for _, p := range patterns {
		if p == "*" || strings.HasSuffix(p, ".*") {
			continue
		}
		if hookd.IsOperational(p) {
			if err := hookd.ValidateOperationalPattern(p); err != nil {
				return err
			}
			continue
		}
		if cat == nil {
			var err error
			if cat, err = s.catalog(ctx, tenant); err != nil {
				return err
			}
		}
		ct := cat.lookup(p)
		switch {
		case ct != nil && ct.archived:
			return hookd.Errorf(hookd.EINVALID, "Event type %q is archived: new subscriptions cannot name it.", p)
		case ct == nil && cat.custom > 0:
			return hookd.Errorf(hookd.EINVALID, "Event type %q is not in the event catalog; create it first, or subscribe with a wildcard pattern.", p)
		}
	}
	return nil
}
