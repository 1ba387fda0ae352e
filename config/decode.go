package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/hookd/hookd"
)

// loc is where a mapping is in the file: its line and the line of each of
// its keys' values.
type loc struct {
	line  int
	lines map[string]int
}

// at returns the line of key's value, or of the mapping when it has no key.
func (l loc) at(key string) int {
	if n, ok := l.lines[key]; ok {
		return n
	}
	return l.line
}

// typeErr is a decoding problem yaml collects (it keeps decoding after it).
func typeErr(line int, format string, args ...any) *yaml.TypeError {
	return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: ", line) + fmt.Sprintf(format, args...)}}
}

// decodeStruct decodes the mapping n into v (a pointer to a struct without
// methods) strictly: a key that is not one of v's yaml fields is a problem,
// with a suggestion when one is close. It records where n and its keys are.
// Problems are returned as one *yaml.TypeError, so that the decoder goes
// on and reports the rest of the file too.
func decodeStruct(n *yaml.Node, v any, l *loc, what string) error {
	*l = loc{line: n.Line, lines: map[string]int{}}
	if n.Kind != yaml.MappingNode {
		return typeErr(n.Line, "%s: expected a mapping of fields, got %s", what, describeNode(n))
	}
	fields := yamlFields(reflect.TypeOf(v).Elem())
	var errs []string
	var check func(m *yaml.Node, depth int)
	check = func(m *yaml.Node, depth int) {
		if depth > 10 {
			return
		}
		for i := 0; i+1 < len(m.Content); i += 2 {
			k, val := m.Content[i], m.Content[i+1]
			if k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge" {
				for _, src := range mergeSources(val) {
					check(src, depth+1)
				}
				continue
			}
			if _, ok := fields[k.Value]; !ok || k.Kind != yaml.ScalarNode {
				errs = append(errs, fmt.Sprintf("line %d: unknown key %q in %s%s", k.Line, k.Value, what, suggest(k.Value, fields)))
				continue
			}
			if _, seen := l.lines[k.Value]; !seen || depth == 0 {
				l.lines[k.Value] = val.Line
			}
		}
	}
	check(n, 0)
	if err := n.Decode(v); err != nil {
		te, ok := err.(*yaml.TypeError)
		if !ok {
			return err
		}
		errs = append(errs, te.Errors...)
	}
	if len(errs) > 0 {
		return &yaml.TypeError{Errors: errs}
	}
	return nil
}

// mergeSources are the mappings a merge key ("<<: *base") brings in.
func mergeSources(n *yaml.Node) []*yaml.Node {
	switch n.Kind {
	case yaml.AliasNode:
		if n.Alias != nil {
			return mergeSources(n.Alias)
		}
	case yaml.MappingNode:
		return []*yaml.Node{n}
	case yaml.SequenceNode:
		var out []*yaml.Node
		for _, c := range n.Content {
			if c.Kind == yaml.AliasNode && c.Alias != nil && c.Alias.Kind == yaml.MappingNode {
				out = append(out, c.Alias)
			} else if c.Kind == yaml.MappingNode {
				out = append(out, c)
			}
		}
		return out
	}
	return nil
}

// yamlFields returns the yaml names of t's exported fields.
func yamlFields(t reflect.Type) map[string]reflect.StructField {
	out := map[string]reflect.StructField{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		out[name] = f
	}
	return out
}

// suggest names the closest known field, if one is close to key.
func suggest(key string, fields map[string]reflect.StructField) string {
	best, dist := "", 3
	names := make([]string, 0, len(fields))
	for name := range fields {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if d := editDistance(strings.ToLower(key), name); d < dist {
			best, dist = name, d
		}
	}
	if best != "" {
		return fmt.Sprintf(" (did you mean %q?)", best)
	}
	return fmt.Sprintf(" (known keys: %s)", strings.Join(names, ", "))
}

// editDistance is the Levenshtein distance of short strings.
func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 99
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// describeNode says what a node is, for messages.
func describeNode(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	}
	return fmt.Sprintf("%s %q", tagName(n.ShortTag()), clipText(n.Value, 40))
}

func tagName(tag string) string {
	switch tag {
	case "!!str":
		return "the string"
	case "!!int", "!!float":
		return "the number"
	case "!!bool":
		return "the boolean"
	case "!!null":
		return "null"
	case "!!map":
		return "a mapping"
	case "!!seq":
		return "a list"
	}
	return "the value"
}

var (
	typeErrorRE = regexp.MustCompile("^line (\\d+): cannot unmarshal (!!\\w+) (`[^`]*`|.*?) ?into (.+)$")
	lineRE      = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)
)

// goTypeName turns a Go type in a yaml message into words.
func goTypeName(t string) string {
	switch {
	case strings.HasPrefix(t, "[]"):
		return "a list"
	case strings.HasPrefix(t, "map["):
		return "a mapping"
	case t == "string":
		return "a string"
	case t == "bool" || t == "*bool":
		return "true or false"
	case strings.Contains(t, "int") || strings.Contains(t, "float"):
		return "a number"
	}
	return "a mapping of fields"
}

// lineProblem splits a yaml message into its line and a readable text.
func lineProblem(msg string) (int, string) {
	if m := typeErrorRE.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		got := tagName(m[2])
		if v := strings.Trim(m[3], "` "); v != "" && m[2] != "!!map" && m[2] != "!!seq" {
			got += " " + strconv.Quote(clipText(v, 40))
		}
		return line, fmt.Sprintf("expected %s, got %s", goTypeName(m[4]), got)
	}
	if m := lineRE.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		return line, m[2]
	}
	return 0, strings.TrimPrefix(msg, "yaml: ")
}

// JSON is a JSON value written in YAML (a schema, an example, criteria,
// a filter, a publish action's data). It holds compact JSON.
type JSON json.RawMessage

// UnmarshalYAML converts the YAML value to JSON. Mapping keys become
// strings; .inf and .nan are refused.
func (j *JSON) UnmarshalYAML(n *yaml.Node) error {
	var v any
	if err := n.Decode(&v); err != nil {
		return err
	}
	v, err := jsonValue(v)
	if err != nil {
		return typeErr(n.Line, "%s", err.Error())
	}
	b, err := json.Marshal(v)
	if err != nil {
		return typeErr(n.Line, "not representable as JSON: %s", err.Error())
	}
	*j = b
	return nil
}

// MarshalYAML writes the JSON as YAML, keeping the order of object keys.
func (j JSON) MarshalYAML() (any, error) {
	if len(j) == 0 {
		return nil, nil
	}
	dec := json.NewDecoder(bytes.NewReader(j))
	dec.UseNumber()
	n, err := yamlNode(dec)
	if err != nil {
		return nil, err
	}
	return n, nil
}

// raw returns the JSON, nil when unset.
func (j JSON) raw() json.RawMessage {
	if len(j) == 0 {
		return nil
	}
	return json.RawMessage(j)
}

// jsonValue converts what yaml decodes into what encoding/json encodes.
func jsonValue(v any) (any, error) {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			c, err := jsonValue(e)
			if err != nil {
				return nil, err
			}
			x[k] = c
		}
		return x, nil
	case map[any]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			c, err := jsonValue(e)
			if err != nil {
				return nil, err
			}
			out[fmt.Sprint(k)] = c
		}
		return out, nil
	case []any:
		for i, e := range x {
			c, err := jsonValue(e)
			if err != nil {
				return nil, err
			}
			x[i] = c
		}
		return x, nil
	case float64:
		if math.IsInf(x, 0) || math.IsNaN(x) {
			return nil, fmt.Errorf("JSON has no infinity or NaN")
		}
	case time.Time:
		return x.Format(time.RFC3339Nano), nil
	case []byte:
		return string(x), nil
	}
	return v, nil
}

// yamlNode reads one JSON value from dec as a YAML node.
func yamlNode(dec *json.Decoder) (*yaml.Node, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch t := tok.(type) {
	case json.Delim:
		if t == '{' {
			n := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return nil, err
				}
				k, _ := kt.(string)
				v, err := yamlNode(dec)
				if err != nil {
					return nil, err
				}
				n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: k}, v)
			}
			_, err := dec.Token()
			return n, err
		}
		n := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
		for dec.More() {
			v, err := yamlNode(dec)
			if err != nil {
				return nil, err
			}
			n.Content = append(n.Content, v)
		}
		_, err := dec.Token()
		return n, err
	case string:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: t}, nil
	case json.Number:
		tag := "!!int"
		if strings.ContainsAny(string(t), ".eE") {
			tag = "!!float"
		}
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: tag, Value: string(t)}, nil
	case bool:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: strconv.FormatBool(t)}, nil
	default:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Value: "null"}, nil
	}
}

// Duration is a duration written as "15s", "5m" or "2h30m", or a number
// of seconds.
type Duration hookd.Duration

// UnmarshalYAML reads "15s"-style strings and numbers of seconds.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return typeErr(n.Line, "expected a duration like \"15s\", got %s", describeNode(n))
	}
	switch n.ShortTag() {
	case "!!int", "!!float":
		f, err := strconv.ParseFloat(strings.ReplaceAll(n.Value, "_", ""), 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || math.Abs(f) > 1e9 {
			return typeErr(n.Line, "invalid duration %q: use a value like \"15s\" or \"5m\"", clipText(n.Value, 40))
		}
		*d = Duration(f * float64(time.Second))
		return nil
	}
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return typeErr(n.Line, "invalid duration %q: use a value like \"15s\" or \"5m\"", clipText(n.Value, 40))
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML writes the duration as a string like "15s", "1h30m" or "2h".
func (d Duration) MarshalYAML() (any, error) { return formatDuration(time.Duration(d)), nil }

// formatDuration is d.String() without zero minutes and seconds at the
// end: "1h" rather than "1h0m0s".
func formatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

func durations(in []Duration) []hookd.Duration {
	if in == nil {
		return nil
	}
	out := make([]hookd.Duration, len(in))
	for i, d := range in {
		out[i] = hookd.Duration(d)
	}
	return out
}

func fromDurations(in []hookd.Duration) []Duration {
	if in == nil {
		return nil
	}
	out := make([]Duration, len(in))
	for i, d := range in {
		out[i] = Duration(d)
	}
	return out
}

// UnmarshalYAML decodes the file's top level strictly.
func (f *File) UnmarshalYAML(n *yaml.Node) error {
	type plain File
	return decodeStruct(n, (*plain)(f), &f.loc, "the file")
}

// UnmarshalYAML decodes strictly and records positions.
func (s *TenantSpec) UnmarshalYAML(n *yaml.Node) error {
	type plain TenantSpec
	return decodeStruct(n, (*plain)(s), &s.loc, "tenant")
}

// UnmarshalYAML decodes strictly and records positions.
func (s *EventTypeSpec) UnmarshalYAML(n *yaml.Node) error {
	type plain EventTypeSpec
	return decodeStruct(n, (*plain)(s), &s.loc, "event type")
}

// UnmarshalYAML decodes strictly and records positions.
func (s *EndpointSpec) UnmarshalYAML(n *yaml.Node) error {
	type plain EndpointSpec
	return decodeStruct(n, (*plain)(s), &s.loc, "endpoint")
}

// UnmarshalYAML decodes strictly and records positions.
func (s *SignatureSpec) UnmarshalYAML(n *yaml.Node) error {
	type plain SignatureSpec
	return decodeStruct(n, (*plain)(s), &s.loc, "signature")
}

// UnmarshalYAML decodes strictly and records positions.
func (s *SourceSpec) UnmarshalYAML(n *yaml.Node) error {
	type plain SourceSpec
	return decodeStruct(n, (*plain)(s), &s.loc, "source")
}

// UnmarshalYAML decodes strictly and records positions.
func (s *VerifierSpec) UnmarshalYAML(n *yaml.Node) error {
	type plain VerifierSpec
	return decodeStruct(n, (*plain)(s), &s.loc, "verifier")
}

// UnmarshalYAML decodes strictly and records positions.
func (s *ResponseSpec) UnmarshalYAML(n *yaml.Node) error {
	type plain ResponseSpec
	return decodeStruct(n, (*plain)(s), &s.loc, "response")
}

// UnmarshalYAML decodes strictly and records positions.
func (s *RuleSpec) UnmarshalYAML(n *yaml.Node) error {
	type plain RuleSpec
	return decodeStruct(n, (*plain)(s), &s.loc, "rule")
}

// UnmarshalYAML decodes strictly and records positions.
func (s *GitSpec) UnmarshalYAML(n *yaml.Node) error {
	type plain GitSpec
	return decodeStruct(n, (*plain)(s), &s.loc, "git")
}

// UnmarshalYAML decodes strictly and records positions.
func (s *ActionSpec) UnmarshalYAML(n *yaml.Node) error {
	type plain ActionSpec
	return decodeStruct(n, (*plain)(s), &s.loc, "action")
}

// UnmarshalYAML decodes strictly and records positions.
func (s *KeySpec) UnmarshalYAML(n *yaml.Node) error {
	type plain KeySpec
	return decodeStruct(n, (*plain)(s), &s.loc, "key")
}
