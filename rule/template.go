package rule

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
)

// MaxTemplateDepth is how deeply the JSON of a template may nest.
const MaxTemplateDepth = 64

// Template is a compiled parameter template: a JSON value whose strings may
// hold {{ expression }} placeholders. A *Template is immutable and safe for
// concurrent use.
type Template struct {
	root tnode
}

// CompileTemplate parses and checks a template: valid JSON, no duplicate
// keys, and in every string balanced {{ }} with a valid path or quoted
// string, and known filters with the right number of arguments. Errors
// are *Error values giving where the string sits in the template and the
// column of the problem in it. Empty input is the template null.
func CompileTemplate(tmpl json.RawMessage, opts ...Option) (*Template, error) {
	cfg, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	if len(bytes.TrimSpace(tmpl)) == 0 {
		return &Template{root: rawNode("null")}, nil
	}
	dec := json.NewDecoder(bytes.NewReader(tmpl))
	dec.UseNumber()
	root, err := (&tparser{cfg: cfg, dec: dec}).value(nil, 1)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, &Error{Msg: "invalid JSON: data after the template"}
	}
	return &Template{root: root}, nil
}

// Render fills in the template with values from data (a value as decoded
// by encoding/json, e.g. {"trigger": {...}}) and returns the resulting
// JSON. Object keys are kept as written, in their order.
//
// A string that is exactly one placeholder takes the type of its value:
// "{{ trigger.body.amount }}" renders as the number 1500, a list or an
// object as itself, a missing path as null. A string with text around or
// between placeholders is rendered as a string: strings as they are, null
// and missing paths as nothing, other values as compact JSON.
//
// It fails only if a value cannot be encoded as JSON (which a decoded
// document never has).
func (t *Template) Render(data any) (json.RawMessage, error) {
	if t == nil {
		return json.RawMessage("null"), nil
	}
	var b bytes.Buffer
	if err := t.root.render(&b, data); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// Render compiles tmpl with CompileTemplate and renders it with data.
func Render(tmpl json.RawMessage, data any, opts ...Option) (json.RawMessage, error) {
	t, err := CompileTemplate(tmpl, opts...)
	if err != nil {
		return nil, err
	}
	return t.Render(data)
}

// RenderString renders one template string, for command arguments, URLs
// and headers. The result is always text: a string that is exactly one
// placeholder renders as that value's text (compact JSON for objects and
// lists, nothing for null). Syntax errors are *Error values with the
// column of the problem.
func RenderString(s string, data any, opts ...Option) (string, error) {
	cfg, err := newConfig(opts)
	if err != nil {
		return "", err
	}
	parts, serr := parseTemplateString(s, cfg)
	if serr != nil {
		return "", serr.at("")
	}
	return interpolate(parts, data)
}

// tparser builds the node tree of a template from the JSON tokens.
type tparser struct {
	cfg *config
	dec *json.Decoder
}

// value parses the JSON value at loc (where it sits in the template).
func (p *tparser) value(loc path, depth int) (tnode, error) {
	if depth > MaxTemplateDepth {
		return nil, &Error{Path: loc.String(), Msg: fmt.Sprintf("template nests deeper than %d levels", MaxTemplateDepth)}
	}
	tok, err := p.dec.Token()
	if err != nil {
		return nil, &Error{Msg: jsonError(err).Error()}
	}
	loc = loc[:len(loc):len(loc)] // appending below must copy
	switch t := tok.(type) {
	case json.Delim:
		if t == '[' {
			var a arrayNode
			for i := 0; p.dec.More(); i++ {
				n, err := p.value(append(loc, segment{key: strconv.Itoa(i)}), depth+1)
				if err != nil {
					return nil, err
				}
				a = append(a, n)
			}
			if err := p.end(); err != nil {
				return nil, err
			}
			return a, nil
		}
		o := &objectNode{}
		seen := make(map[string]bool)
		for p.dec.More() {
			tok, err := p.dec.Token()
			if err != nil {
				return nil, &Error{Msg: jsonError(err).Error()}
			}
			key := tok.(string) // the decoder only yields strings as keys
			if seen[key] {
				return nil, &Error{Path: loc.String(), Msg: fmt.Sprintf("duplicate key %q", key)}
			}
			seen[key] = true
			n, err := p.value(append(loc, segment{key: key}), depth+1)
			if err != nil {
				return nil, err
			}
			k, _ := marshal(key) // a string always marshals
			o.keys = append(o.keys, k)
			o.vals = append(o.vals, n)
		}
		if err := p.end(); err != nil {
			return nil, err
		}
		return o, nil
	case string:
		parts, serr := parseTemplateString(t, p.cfg)
		if serr != nil {
			return nil, serr.at(loc.String())
		}
		if len(parts) == 1 && parts[0].x != nil {
			return &exactNode{x: parts[0].x, loc: loc.String()}, nil
		}
		if len(parts) > 1 {
			return &textNode{parts: parts, loc: loc.String()}, nil
		}
	}
	b, _ := marshal(tok) // a string, json.Number, bool or nil always marshals
	return rawNode(b), nil
}

// end consumes the closing bracket of an array or object.
func (p *tparser) end() error {
	if _, err := p.dec.Token(); err != nil {
		return &Error{Msg: jsonError(err).Error()}
	}
	return nil
}

// A tnode is one compiled JSON value of a template.
type tnode interface {
	render(b *bytes.Buffer, data any) error
}

// rawNode is a value without placeholders, as compact JSON.
type rawNode []byte

func (n rawNode) render(b *bytes.Buffer, _ any) error {
	b.Write(n)
	return nil
}

type arrayNode []tnode

func (n arrayNode) render(b *bytes.Buffer, data any) error {
	b.WriteByte('[')
	for i, e := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		if err := e.render(b, data); err != nil {
			return err
		}
	}
	b.WriteByte(']')
	return nil
}

type objectNode struct {
	keys [][]byte // encoded as JSON strings
	vals []tnode
}

func (n *objectNode) render(b *bytes.Buffer, data any) error {
	b.WriteByte('{')
	for i, k := range n.keys {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(k)
		b.WriteByte(':')
		if err := n.vals[i].render(b, data); err != nil {
			return err
		}
	}
	b.WriteByte('}')
	return nil
}

// exactNode is a string that is exactly one placeholder: it renders as the
// value, of whatever type.
type exactNode struct {
	x   *expr
	loc string
}

func (n *exactNode) render(b *bytes.Buffer, data any) error {
	v, err := n.x.eval(data)
	if err == nil {
		var j []byte
		if j, err = marshal(v); err == nil {
			b.Write(j)
			return nil
		}
	}
	return fmt.Errorf("render %s: %w", where(n.loc), err)
}

// textNode is a string with text around or between placeholders.
type textNode struct {
	parts []part
	loc   string
}

func (n *textNode) render(b *bytes.Buffer, data any) error {
	s, err := interpolate(n.parts, data)
	if err != nil {
		return fmt.Errorf("render %s: %w", where(n.loc), err)
	}
	j, _ := marshal(s) // a string always marshals
	b.Write(j)
	return nil
}

func where(loc string) string {
	if loc == "" {
		return "template"
	}
	return loc
}

// part is a run of text or a placeholder.
type part struct {
	text string
	x    *expr // nil for text
}

func interpolate(parts []part, data any) (string, error) {
	var sb strings.Builder
	for _, p := range parts {
		if p.x == nil {
			sb.WriteString(p.text)
			continue
		}
		v, err := p.x.eval(data)
		if err != nil {
			return "", err
		}
		s, err := text(v)
		if err != nil {
			return "", err
		}
		sb.WriteString(s)
	}
	return sb.String(), nil
}

// expr is what a placeholder holds: a path or a quoted string, then filters.
type expr struct {
	path    path // nil for a literal
	lit     string
	filters []filterCall
}

type filterCall struct {
	f    *filter
	args []any
}

func (x *expr) eval(data any) (any, error) {
	var v any = x.lit
	if x.path != nil {
		v, _ = x.path.lookup(data) // missing is null
	}
	for _, c := range x.filters {
		var err error
		if v, err = c.f.apply(v, c.args); err != nil {
			return nil, fmt.Errorf("%s: %w", c.f.name, err)
		}
	}
	return v, nil
}

// filter is a function applied with "| name" or "| name(args)".
type filter struct {
	name  string
	args  int // how many arguments it takes
	apply func(v any, args []any) (any, error)
}

// filters is the one table of template filters.
var filters = []filter{
	{name: "default", args: 1, apply: func(v any, args []any) (any, error) {
		if v == nil {
			return args[0], nil
		}
		return v, nil
	}},
	{name: "tojson", apply: func(v any, _ []any) (any, error) {
		b, err := marshal(v)
		return string(b), err
	}},
	{name: "lower", apply: textFilter(strings.ToLower)},
	{name: "upper", apply: textFilter(strings.ToUpper)},
	{name: "urlencode", apply: textFilter(func(s string) string {
		// QueryEscape leaves only unreserved characters and turns spaces
		// into "+"; %20 is right in a path segment and a query alike.
		return strings.ReplaceAll(url.QueryEscape(s), "+", "%20")
	})},
}

// textFilter applies f to the value's text (see text).
func textFilter(f func(string) string) func(any, []any) (any, error) {
	return func(v any, _ []any) (any, error) {
		s, err := text(v)
		return f(s), err
	}
}

func lookupFilter(name string) *filter {
	for i := range filters {
		if filters[i].name == name {
			return &filters[i]
		}
	}
	return nil
}

func filterList() string {
	names := make([]string, len(filters))
	for i, f := range filters {
		names[i] = f.name
	}
	return "one of " + strings.Join(names, ", ")
}

// parseTemplateString splits s into text and placeholders:
//
//	placeholder = "{{" expr "}}"
//	expr        = ( path | string ) { "|" name [ "(" [ literal { "," literal } ] ")" ] }
//	literal     = JSON value | string
//
// with spaces allowed between the parts. Only "{{" is special in text; to
// write it literally, use {{ "{{" }}.
func parseTemplateString(s string, cfg *config) ([]part, *syntaxError) {
	var parts []part
	i := 0
	for {
		j := strings.Index(s[i:], "{{")
		if j < 0 {
			if i < len(s) {
				parts = append(parts, part{text: s[i:]})
			}
			return parts, nil
		}
		if j > 0 {
			parts = append(parts, part{text: s[i : i+j]})
		}
		x, end, err := parseExpr(s, i+j, cfg)
		if err != nil {
			return nil, err
		}
		parts = append(parts, part{x: x})
		i = end
	}
}

// parseExpr parses the placeholder that opens at s[open:] and returns the
// offset after its "}}".
func parseExpr(s string, open int, cfg *config) (*expr, int, *syntaxError) {
	unclosed := &syntaxError{open, `"{{" without a closing "}}"`}
	i := skipSpace(s, open+2)
	if i >= len(s) {
		return nil, 0, unclosed
	}
	if strings.HasPrefix(s[i:], "}}") {
		return nil, 0, &syntaxError{open, "empty {{ }}"}
	}
	x := &expr{}
	if s[i] == '"' || s[i] == '\'' {
		lit, end, err := parseString(s, i)
		if err != nil {
			return nil, 0, err
		}
		x.lit, i = lit, end
	} else {
		p, end, err := parsePath(s, i)
		if err != nil {
			return nil, 0, err
		}
		x.path, i = cfg.resolve(p), end
	}
	for {
		i = skipSpace(s, i)
		switch {
		case i >= len(s):
			return nil, 0, unclosed
		case strings.HasPrefix(s[i:], "}}"):
			return x, i + 2, nil
		case s[i] == '|':
			c, end, err := parseFilter(s, skipSpace(s, i+1))
			if err != nil {
				return nil, 0, err
			}
			x.filters, i = append(x.filters, c), end
		default:
			return nil, 0, &syntaxError{i, fmt.Sprintf(`unexpected %q: want "|" and a filter, or "}}"`, s[i:i+1])}
		}
	}
}

// parseFilter parses a filter name and its arguments at s[i:].
func parseFilter(s string, i int) (filterCall, int, *syntaxError) {
	start := i
	for i < len(s) && (s[i] == '_' || 'a' <= s[i] && s[i] <= 'z' || 'A' <= s[i] && s[i] <= 'Z' || '0' <= s[i] && s[i] <= '9') {
		i++
	}
	name := s[start:i]
	if name == "" {
		return filterCall{}, 0, &syntaxError{start, `expected a filter name after "|"`}
	}
	f := lookupFilter(name)
	if f == nil {
		return filterCall{}, 0, &syntaxError{start, fmt.Sprintf("unknown filter %q: %s", name, filterList())}
	}
	var args []any
	if j := skipSpace(s, i); j < len(s) && s[j] == '(' {
		var err *syntaxError
		if args, i, err = parseArgs(s, j); err != nil {
			return filterCall{}, 0, err
		}
	}
	if len(args) != f.args {
		return filterCall{}, 0, &syntaxError{start, fmt.Sprintf("%s takes %d argument(s), not %d", name, f.args, len(args))}
	}
	return filterCall{f: f, args: args}, i, nil
}

// parseArgs parses "(" [ literal { "," literal } ] ")" at s[i:].
func parseArgs(s string, i int) ([]any, int, *syntaxError) {
	open := i
	args := []any{}
	i = skipSpace(s, i+1)
	if i < len(s) && s[i] == ')' {
		return args, i + 1, nil
	}
	for {
		v, end, err := parseLiteral(s, i)
		if err != nil {
			return nil, 0, err
		}
		args = append(args, v)
		i = skipSpace(s, end)
		switch {
		case i >= len(s):
			return nil, 0, &syntaxError{open, `"(" without a closing ")"`}
		case s[i] == ',':
			i = skipSpace(s, i+1)
		case s[i] == ')':
			return args, i + 1, nil
		default:
			return nil, 0, &syntaxError{i, fmt.Sprintf(`unexpected %q: want "," or ")"`, s[i:i+1])}
		}
	}
}

// parseLiteral parses a filter argument: a JSON value (numbers kept as
// json.Number) or a single-quoted string.
func parseLiteral(s string, i int) (any, int, *syntaxError) {
	if i < len(s) && s[i] == '\'' {
		v, end, err := parseString(s, i)
		if err != nil {
			return nil, 0, err
		}
		return v, end, nil
	}
	dec := json.NewDecoder(strings.NewReader(s[i:]))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, 0, &syntaxError{i, "expected a JSON value or a 'quoted' string"}
	}
	return v, i + int(dec.InputOffset()), nil
}

func skipSpace(s string, i int) int {
	for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r') {
		i++
	}
	return i
}
