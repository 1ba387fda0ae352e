package schema

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"

	"github.com/hookd/hookd"
)

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

// Compile compiles a JSON Schema: draft 2020-12 unless its $schema
// names another draft the library knows (04, 06, 07, 2019-09). References
// may point inside the schema and to the standard meta-schemas only.
// Formats are annotations, as draft 2020-12 says; pattern uses Go's RE2
// syntax (linear time). EINVALID names the problem.
func Compile(raw json.RawMessage) (*jsonschema.Schema, error) {
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
			return hookd.Errorf(hookd.EINVALID, "Invalid schema at %q: %s.", leaf.At, leaf.Msg)
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

// Problem is one failed assertion: where in the instance and why.
type Problem struct {
	At   string // a JSON pointer into the value ("" for the whole value)
	Msg  string // what is wrong
	More int    // how many other problems there are
}

// firstLeaf picks the innermost problem of a validation error with the
// first instance location (so the answer does not depend on map order),
// and counts the others.
func firstLeaf(err error) (Problem, bool) {
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return Problem{}, false
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
		return Problem{}, false
	}
	probs := make([]Problem, len(leaves))
	for i, l := range leaves {
		probs[i] = Problem{At: pointer(l.InstanceLocation), Msg: clip(cleanSchemaText(kindText(l.ErrorKind)))}
	}
	// Sibling properties are visited in map order; problems at one
	// location come in the schema's order.
	sort.SliceStable(probs, func(i, j int) bool { return probs[i].At < probs[j].At })
	p := probs[0]
	p.More = len(probs) - 1
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

// Validate checks one JSON value against sch and describes the first
// problem: where (a JSON pointer into the value) and why.
func Validate(sch *jsonschema.Schema, raw json.RawMessage) (Problem, bool) {
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return Problem{At: "", Msg: "not valid JSON"}, false
	}
	if err := sch.Validate(v); err != nil {
		if p, ok := firstLeaf(err); ok {
			return p, false
		}
		return Problem{At: "", Msg: "does not match"}, false
	}
	return Problem{}, true
}

// String is p as a sentence tail: `at "/amount": got string, want integer`,
// and how many more problems there are.
func (p Problem) String() string {
	s := fmt.Sprintf("at %q: %s", p.At, p.Msg)
	switch {
	case p.More == 1:
		s += " (and 1 more problem)"
	case p.More > 1:
		s += fmt.Sprintf(" (and %d more problems)", p.More)
	}
	return s
}

// CheckEventType compiles t's schema, if any, and checks its example
// against it: EINVALID naming the problem. The API checks an event type
// with it before storing it, and so does a configuration file.
func CheckEventType(t *hookd.EventType) error {
	if len(t.Schema) == 0 {
		return nil
	}
	sch, err := Compile(t.Schema)
	if err != nil {
		return err
	}
	if len(t.Example) > 0 {
		if p, ok := Validate(sch, t.Example); !ok {
			return hookd.Errorf(hookd.EINVALID, "The example does not match the schema %s.", p.String())
		}
	}
	return nil
}
