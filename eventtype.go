package hookd

import (
	"encoding/json"
	"regexp"
	"strings"
	"time"
)

// EventType is an entry of a tenant's event catalog.
type EventType struct {
	TenantID    string          `json:"-"`
	Name        string          `json:"name"`
	Description string          `json:"description"`
	Schema      json.RawMessage `json:"schema,omitempty"`  // optional JSON Schema of the payload
	Example     json.RawMessage `json:"example,omitempty"` // sample payload
	Deprecated  bool            `json:"deprecated"`
	Archived    bool            `json:"archived"`
	CreatedAt   time.Time       `json:"created_at"`
	UpdatedAt   time.Time       `json:"updated_at"`
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

// Validate returns EINVALID if the event type's fields are not acceptable.
func (t *EventType) Validate() error {
	if err := ValidateEventTypeName(t.Name); err != nil {
		return err
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
