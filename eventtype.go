package hookd

import (
	"encoding/json"
	"regexp"
	"strings"
	"time"
)

// EventType is an entry of a tenant's event catalog.
//
// Schema, when set, is a JSON Schema (draft 2020-12 unless its $schema names
// another draft) that published payloads of the type must satisfy; Example
// must satisfy it too. A Deprecated type is still published and delivered;
// an Archived one is still published, but new subscriptions cannot name it.
// Builtin marks the operational types (OperationalEventTypes), which are in
// every tenant's catalog without being stored; they have no times.
type EventType struct {
	TenantID    string          `json:"-"`
	Name        string          `json:"name"`
	Description string          `json:"description"`
	Schema      json.RawMessage `json:"schema,omitempty"`  // optional JSON Schema of the payload
	Example     json.RawMessage `json:"example,omitempty"` // sample payload
	Deprecated  bool            `json:"deprecated"`
	Archived    bool            `json:"archived"`
	Builtin     bool            `json:"builtin,omitempty"`
	CreatedAt   time.Time       `json:"created_at,omitzero"`
	UpdatedAt   time.Time       `json:"updated_at,omitzero"`
}

// EventTypeUpdate holds the fields to change; nil means unchanged.
type EventTypeUpdate struct {
	Description *string          `json:"description"`
	Schema      *json.RawMessage `json:"schema"`
	Example     *json.RawMessage `json:"example"`
	Deprecated  *bool            `json:"deprecated"`
	Archived    *bool            `json:"archived"`
}

var eventTypeRE = regexp.MustCompile(`^[a-zA-Z0-9_-]+(\.[a-zA-Z0-9_-]+)*$`)

// ValidateEventTypeName returns EINVALID unless name is dot-separated parts of
// [a-zA-Z0-9_-], at most 255 characters.
func ValidateEventTypeName(name string) error {
	if len(name) == 0 || len(name) > 255 || !eventTypeRE.MatchString(name) {
		return Errorf(EINVALID, "Invalid event type %q: use dot-separated parts of letters, digits, '_' and '-'.", name)
	}
	return nil
}

// ValidateEventPattern returns EINVALID unless p is "*", "prefix.*" or an
// exact event type name.
func ValidateEventPattern(p string) error {
	if p == "*" {
		return nil
	}
	if prefix, ok := strings.CutSuffix(p, ".*"); ok {
		if ValidateEventTypeName(prefix) == nil {
			return nil
		}
	} else if ValidateEventTypeName(p) == nil {
		return nil
	}
	return Errorf(EINVALID, "Invalid event pattern %q: use \"*\", \"prefix.*\" or an exact event type.", p)
}

// MatchEventPattern reports whether event type typ matches pattern p:
// "*" matches everything, "a.b.*" matches every type under "a.b.", any
// other pattern matches only itself.
func MatchEventPattern(p, typ string) bool {
	if p == "*" {
		return true
	}
	if prefix, ok := strings.CutSuffix(p, "*"); ok {
		return strings.HasPrefix(typ, prefix)
	}
	return p == typ
}

// Validate returns EINVALID if the event type's fields are not acceptable:
// a bad name, a name under OperationalPrefix (unless t is Builtin), a long
// description, or a schema or example that is not JSON. Whether the schema
// compiles and the example satisfies it is checked where schemas are
// compiled (the http package).
func (t *EventType) Validate() error {
	if err := ValidateEventTypeName(t.Name); err != nil {
		return err
	}
	if IsOperational(t.Name) && !t.Builtin {
		return Errorf(EINVALID, "Event type names starting with %q are reserved for hookd's operational events.", OperationalPrefix)
	}
	if len(t.Description) > 2000 {
		return Errorf(EINVALID, "Description must be at most 2000 characters.")
	}
	for _, raw := range []json.RawMessage{t.Schema, t.Example} {
		if len(raw) > 0 && !json.Valid(raw) {
			return Errorf(EINVALID, "Schema and example must be valid JSON.")
		}
	}
	return nil
}
