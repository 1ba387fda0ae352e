package rule

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
)

// Limits that bound the cost of compiling and matching criteria.
const (
	// MaxPatternLen is the longest regex or wildcard pattern, in bytes.
	MaxPatternLen = 1024
	// MaxDepth is how deeply criteria may nest: the top level counts as
	// one, and each search pattern inside adds one.
	MaxDepth = 8
)

// Criteria is a compiled set of criteria, all of which must hold for a
// document to match. The zero value and nil match every document. A
// *Criteria is immutable and safe for concurrent use.
type Criteria struct {
	list []criterion // sorted by key
}

type criterion struct {
	key       string // the path as written
	path      path
	op        *operator
	pattern   json.RawMessage // compact; nil when not given
	condition string          // search only
	t         tester
}

// Compile parses and checks criteria: a JSON object mapping a path to
// {"type": operator, "pattern": value}, plus "condition" for search.
// Empty input, null and {} give criteria that match everything.
//
// It checks everything that can be checked before a document arrives: the
// JSON, each path's syntax, that each operator exists and gets the pattern
// it needs (a number for lessthan, a list or string for inside, criteria
// for search, ...), that regular expressions and wildcards compile, and the
// limits MaxPatternLen and MaxDepth. Errors are *Error values naming the
// path and the problem.
func Compile(raw json.RawMessage, opts ...Option) (*Criteria, error) {
	cfg, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	if t := bytes.TrimSpace(raw); len(t) == 0 || string(t) == "null" {
		return &Criteria{}, nil
	}
	return (&compiler{cfg: cfg, depth: 1}).criteria(raw)
}

// compiler holds what compiling one level of criteria needs.
type compiler struct {
	cfg   *config
	depth int  // 1 at the top level
	item  bool // paths must start with "item" (a search pattern)
}

func (c *compiler) criteria(raw json.RawMessage) (*Criteria, error) {
	if c.depth > MaxDepth {
		return nil, &Error{Msg: fmt.Sprintf("criteria nest deeper than %d levels", MaxDepth)}
	}
	ms, err := members(raw)
	if err != nil {
		return nil, &Error{Msg: "criteria: " + err.Error()}
	}
	cr := &Criteria{list: make([]criterion, 0, len(ms))}
	for _, m := range ms {
		x, err := c.criterion(m.key, m.value)
		if se := (*syntaxError)(nil); errors.As(err, &se) {
			return nil, se.at(m.key)
		} else if err != nil {
			return nil, &Error{Path: m.key, Msg: err.Error()}
		}
		cr.list = append(cr.list, x)
	}
	slices.SortFunc(cr.list, func(a, b criterion) int { return strings.Compare(a.key, b.key) })
	return cr, nil
}

// criterion compiles one member of a criteria object. Its errors leave the
// path out; the caller adds it.
func (c *compiler) criterion(key string, raw json.RawMessage) (criterion, error) {
	x := criterion{key: key}
	p, serr := parseFullPath(key)
	if serr != nil {
		return x, serr
	}
	x.path = c.cfg.resolve(p)
	if c.item {
		if p[0].key != "item" {
			return x, errors.New(`paths in a search pattern start with "item" (the list element), as in item.name`)
		}
		x.path = x.path[1:]
	}

	if t := bytes.TrimSpace(raw); len(t) == 0 || t[0] != '{' {
		var v any
		_ = decode(raw, &v)
		return x, fmt.Errorf(`want an object such as {"type": "equals", "pattern": "x"}, not %s`, typeName(v))
	}
	fields, err := members(raw)
	if err != nil {
		return x, err
	}
	var s spec
	var opName string
	for _, f := range fields {
		switch f.key {
		case "type":
			if json.Unmarshal(f.value, &opName) != nil {
				return x, errors.New("type must be a string naming an operator")
			}
		case "pattern":
			s.raw = compact(f.value)
			if err := decode(f.value, &s.pattern); err != nil {
				return x, fmt.Errorf("pattern: %w", err)
			}
		case "condition":
			if json.Unmarshal(f.value, &s.condition) != nil {
				return x, errors.New(`condition must be "any" or "all"`)
			}
			s.hasCondition = true
		default:
			return x, fmt.Errorf("unknown field %q (a criterion has type, pattern and, for search, condition)", f.key)
		}
	}
	if opName == "" {
		return x, errors.New("type is required: " + operatorList())
	}
	op := lookupOperator(opName)
	if op == nil {
		return x, fmt.Errorf("unknown operator %q: %s", opName, operatorList())
	}
	x.op = op
	if s.raw == nil && !op.optional {
		return x, fmt.Errorf("%s needs a pattern", op.name)
	}
	if s.hasCondition && op.name != "search" {
		return x, fmt.Errorf("condition applies only to search, not %s", op.name)
	}
	t, err := op.build(c, s)
	if err != nil {
		return x, fmt.Errorf("%s: %w", op.name, err)
	}
	x.pattern, x.condition, x.t = s.raw, strings.ToLower(s.condition), t
	return x, nil
}

// Match reports whether every criterion holds for doc, a value as decoded
// by encoding/json (numbers as float64 or json.Number). now is the time the
// timediff operators measure from.
func (c *Criteria) Match(doc any, now time.Time) bool {
	if c == nil {
		return true
	}
	for i := range c.list {
		x := &c.list[i]
		v, _ := x.path.lookup(doc)
		if !x.t.test(v, now) {
			return false
		}
	}
	return true
}

// Explanation tells why criteria matched a document or not.
type Explanation struct {
	Matched bool `json:"matched"`
	// Criteria has one entry per criterion, sorted by path.
	Criteria []CriterionResult `json:"criteria"`
}

// CriterionResult is how one criterion fared against a document.
type CriterionResult struct {
	Path      string          `json:"path"`                // as written in the criteria
	Type      string          `json:"type"`                // the operator's full name, even if an alias was used
	Pattern   json.RawMessage `json:"pattern,omitempty"`   // as given, compacted; absent when none was given
	Condition string          `json:"condition,omitempty"` // search only: "any" or "all"
	Held      bool            `json:"held"`
	Found     bool            `json:"found"` // whether the path exists in the document
	Value     any             `json:"value"` // the value at the path; null when missing
	// MatchedItems lists, for search, the indexes of the list elements that
	// satisfied the pattern.
	MatchedItems []int `json:"matched_items,omitempty"`
}

// Explain evaluates every criterion against doc, without stopping at the
// first that fails, and reports each one's outcome and the value it saw.
// Matched is what Match returns.
func (c *Criteria) Explain(doc any, now time.Time) Explanation {
	e := Explanation{Matched: true, Criteria: []CriterionResult{}}
	if c == nil {
		return e
	}
	for i := range c.list {
		x := &c.list[i]
		v, found := x.path.lookup(doc)
		r := CriterionResult{
			Path:      x.key,
			Type:      x.op.name,
			Pattern:   x.pattern,
			Condition: x.condition,
			Held:      x.t.test(v, now),
			Found:     found,
			Value:     v,
		}
		if s, ok := x.t.(*search); ok {
			r.MatchedItems = s.matches(v, now)
		}
		e.Matched = e.Matched && r.Held
		e.Criteria = append(e.Criteria, r)
	}
	return e
}

// member is one key and value of a JSON object.
type member struct {
	key   string
	value json.RawMessage
}

// members splits the JSON object raw into its members, in order, and
// rejects anything else, including duplicate keys (which encoding/json
// would silently resolve to the last one).
func members(raw []byte) ([]member, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	tok, err := dec.Token()
	if err != nil {
		return nil, jsonError(err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, errors.New("want a JSON object")
	}
	var ms []member
	seen := make(map[string]bool)
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, jsonError(err)
		}
		key := tok.(string) // the decoder only yields strings as keys
		if seen[key] {
			return nil, fmt.Errorf("duplicate key %q", key)
		}
		seen[key] = true
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, jsonError(err)
		}
		ms = append(ms, member{key, v})
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return nil, jsonError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("invalid JSON: data after the object")
	}
	return ms, nil
}

// decode unmarshals raw into v keeping numbers as json.Number.
func decode(raw []byte, v *any) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	return nil
}

// jsonError rewords an error from encoding/json for a user.
func jsonError(err error) error {
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return errors.New("invalid JSON: unexpected end of input")
	}
	if se := (*json.SyntaxError)(nil); errors.As(err, &se) {
		return fmt.Errorf("invalid JSON at byte %d: %s", se.Offset, se.Error())
	}
	return fmt.Errorf("invalid JSON: %s", strings.TrimPrefix(err.Error(), "json: "))
}

func compact(raw []byte) json.RawMessage {
	var b bytes.Buffer
	if json.Compact(&b, raw) != nil {
		return append(json.RawMessage(nil), raw...)
	}
	return b.Bytes()
}
