package rule

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

// now is ten minutes after testdata/doc.json's trigger.body.ts.
var now = time.Date(2024, 1, 1, 0, 10, 0, 0, time.UTC)

// loadDocs decodes a fixture twice: with float64 numbers and with
// json.Number, the two forms Match accepts.
func loadDocs(t testing.TB, name string) map[string]any {
	t.Helper()
	raw, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	var f any
	if err := json.Unmarshal(raw, &f); err != nil {
		t.Fatal(err)
	}
	var n any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&n); err != nil {
		t.Fatal(err)
	}
	return map[string]any{"float64": f, "json.Number": n}
}

func mustCompile(t testing.TB, raw string, opts ...Option) *Criteria {
	t.Helper()
	c, err := Compile(json.RawMessage(raw), opts...)
	if err != nil {
		t.Fatalf("Compile(%s): %v", raw, err)
	}
	return c
}

// one returns criteria with a single criterion; pattern "" leaves it out.
func one(path, typ, pattern string) string {
	p, _ := json.Marshal(path)
	if pattern == "" {
		return fmt.Sprintf(`{%s: {"type": %q}}`, p, typ)
	}
	return fmt.Sprintf(`{%s: {"type": %q, "pattern": %s}}`, p, typ, pattern)
}

func TestOperators(t *testing.T) {
	t.Parallel()
	const b = "trigger.body."
	const missing = b + "missing"
	tests := []struct {
		path, typ, pattern string
		want               bool
	}{
		{b + "ref", "equals", `"refs/heads/main"`, true},
		{b + "ref", "equals", `"refs/heads/dev"`, false},
		{missing, "equals", `"x"`, false},
		{missing, "equals", `null`, true},
		{b + "null", "equals", `null`, true},
		{b + "n", "equals", `5.0`, true},
		{b + "n", "equals", `5e0`, true},
		{b + "n", "equals", `"5"`, false},
		{b + "f", "equals", `2.5`, true},
		{b + "t", "equals", `true`, true},
		{b + "t", "equals", `"true"`, false},
		{b + "obj", "equals", `{"k": "v"}`, true},
		{b + "obj", "equals", `{"k": "v", "x": 1}`, false},
		{b + "list", "equals", `["a", "B", 3.0]`, true},
		{b + "list", "equals", `["a", "B"]`, false},
		{b + "ref", "eq", `"refs/heads/main"`, true},
		{b + "ref", "EQUALS", `"refs/heads/main"`, true},
		{b + "ref", "Eq", `"refs/heads/main"`, true},

		{b + "ref", "nequals", `"refs/heads/dev"`, true},
		{b + "ref", "nequals", `"refs/heads/main"`, false},
		{missing, "nequals", `"x"`, true},
		{missing, "nequals", `null`, false},
		{b + "n", "neq", `6`, true},

		{b + "s", "iequals", `"hello WORLD"`, true},
		{b + "s", "iequals", `"hello"`, false},
		{b + "n", "iequals", `"5"`, false},
		{missing, "iequals", `""`, false},
		{b + "kelvin", "ieq", `"k"`, true},

		{b + "s", "contains", `"World"`, true},
		{b + "s", "contains", `"world"`, false},
		{b + "list", "contains", `"a"`, true},
		{b + "list", "contains", `3`, true},
		{b + "list", "contains", `"b"`, false},
		{b + "n", "contains", `"5"`, false},
		{b + "s", "contains", `5`, false},
		{missing, "contains", `"x"`, false},

		{b + "s", "ncontains", `"World"`, false},
		{b + "s", "ncontains", `"zzz"`, true},
		{b + "list", "ncontains", `"a"`, false},
		{missing, "ncontains", `"x"`, true},

		{b + "s", "icontains", `"o wOR"`, true},
		{b + "s", "icontains", `"zzz"`, false},
		{b + "list", "icontains", `"b"`, true},
		{b + "list", "icontains", `"c"`, false},
		{missing, "icontains", `"x"`, false},

		{b + "s", "incontains", `"WORLD"`, false},
		{b + "s", "incontains", `"zzz"`, true},
		{missing, "incontains", `"x"`, true},

		{b + "ref", "startswith", `"refs/heads/"`, true},
		{b + "ref", "startswith", `"main"`, false},
		{missing, "startswith", `""`, false},
		{b + "s", "istartswith", `"HELLO w"`, true},
		{b + "s", "istartswith", `"world"`, false},
		{missing, "istartswith", `""`, false},
		{b + "ref", "endswith", `"/main"`, true},
		{b + "ref", "endswith", `"refs"`, false},
		{missing, "endswith", `""`, false},
		{b + "s", "iendswith", `"WORLD"`, true},
		{b + "s", "iendswith", `"hello"`, false},
		{missing, "iendswith", `""`, false},

		{b + "n", "lessthan", `10`, true},
		{b + "n", "lessthan", `5`, false},
		{b + "f", "lessthan", `3`, true},
		{b + "nstr", "lessthan", `2000`, true},
		{b + "nstr", "lessthan", `1000`, false},
		{b + "s", "lessthan", `10`, false},
		{b + "null", "lessthan", `10`, false},
		{missing, "lessthan", `10`, false},
		{b + "n", "lt", `5.5`, true},
		{b + "n", "greaterthan", `4`, true},
		{b + "n", "greaterthan", `5`, false},
		{b + "nstr", "greaterthan", `1000.5`, true},
		{b + "t", "greaterthan", `0`, false},
		{missing, "greaterthan", `0`, false},
		{b + "f", "gt", `-1e3`, true},

		{b + "ts", "timediff_lt", `601`, true},
		{b + "ts", "timediff_lt", `600`, false},
		{b + "ts_offset", "timediff_lt", `600`, true},
		{b + "unix", "timediff_lt", `600.5`, true},
		{b + "s", "timediff_lt", `1e9`, false},
		{missing, "timediff_lt", `1e9`, false},
		{b + "ts", "td_lt", `1000`, true},
		{b + "ts", "timediff_gt", `599`, true},
		{b + "ts", "timediff_gt", `600`, false},
		{b + "ts_offset", "timediff_gt", `599.4`, true},
		{b + "unix", "timediff_gt", `599`, true},
		{missing, "timediff_gt", `0`, false},
		{b + "ts", "td_gt", `1000`, false},

		{b + "ref", "matchwildcard", `"refs/heads/*"`, true},
		{b + "ref", "matchwildcard", `"refs/*"`, true},
		{b + "ref", "matchwildcard", `"refs/tags/*"`, false},
		{b + "ref", "matchwildcard", `"refs/heads/ma?n"`, true},
		{b + "ref", "matchwildcard", `"refs/heads/[lm]ain"`, true},
		{b + "ref", "matchwildcard", `"refs/heads/[!m]ain"`, false},
		{b + "ref", "matchwildcard", `"refs/heads/[^a-l]ain"`, true},
		{b + "ref", "matchwildcard", `"refs/heads"`, false},
		{b + "ref", "matchwildcard", `"refs/heads/mai\\n"`, true},
		{b + "s", "matchwildcard", `"Hello World"`, true},
		{b + "s", "matchwildcard", `"Hello.World"`, false},
		{b + "list", "matchwildcard", `"*"`, false},
		{missing, "matchwildcard", `"*"`, false},

		{b + "ref", "matchregex", `"refs/heads/(main|master)"`, true},
		{b + "ref", "matchregex", `"refs"`, true},
		{b + "ref", "matchregex", `"heads/main"`, false},
		{b + "ref", "matchregex", `"x|refs"`, true},
		{missing, "matchregex", `".*"`, false},
		{b + "ref", "regex", `"heads/ma"`, true},
		{b + "ref", "regex", `"^heads"`, false},
		{b + "n", "regex", `"5"`, false},
		{missing, "regex", `""`, false},
		{b + "s", "iregex", `"WORLD$"`, true},
		{b + "s", "iregex", `"^world"`, false},
		{missing, "iregex", `""`, false},

		{b + "ref", "exists", ``, true},
		{b + "list", "exists", `true`, true},
		{b + "null", "exists", ``, false},
		{missing, "exists", ``, false},
		{b + "ref", "nexists", ``, false},
		{b + "null", "nexists", ``, true},
		{missing, "nexists", ``, true},

		{b + "ref", "inside", `["refs/heads/main", "refs/heads/dev"]`, true},
		{b + "ref", "inside", `["refs/heads/dev"]`, false},
		{b + "n", "inside", `[1, 5.0]`, true},
		{b + "ref", "inside", `"refs/heads/main refs/heads/dev"`, true},
		{b + "ref", "inside", `"refs/heads/dev"`, false},
		{b + "n", "inside", `"12345"`, false},
		{missing, "inside", `["x"]`, false},
		{missing, "inside", `[null]`, true},
		{b + "ref", "in", `["refs/heads/main"]`, true},
		{b + "ref", "ninside", `["refs/heads/dev"]`, true},
		{b + "ref", "ninside", `["refs/heads/main"]`, false},
		{missing, "ninside", `["x"]`, true},
		{b + "ref", "nin", `"refs/heads/main"`, false},
	}
	docs := loadDocs(t, "doc.json")
	for _, tt := range tests {
		c := mustCompile(t, one(tt.path, tt.typ, tt.pattern))
		for kind, doc := range docs {
			if got := c.Match(doc, now); got != tt.want {
				t.Errorf("%s %s %s (%s numbers) = %v, want %v", tt.path, tt.typ, tt.pattern, kind, got, tt.want)
			}
		}
	}
}

func TestSearch(t *testing.T) {
	t.Parallel()
	tests := []struct {
		path, condition, pattern string
		want                     bool
	}{
		{"commits", "any", `{"item.id": {"type": "eq", "pattern": "c2"}}`, true},
		{"commits", "any", `{"item.id": {"type": "eq", "pattern": "c3"}}`, false},
		{"commits", "all", `{"item.message": {"type": "regex", "pattern": "^(fix|feat):"}}`, true},
		{"commits", "all", `{"item.id": {"type": "eq", "pattern": "c1"}}`, false},
		{"commits", "ANY", `{"item.added": {"type": "contains", "pattern": "docs/a.md"}}`, true},
		// Every criterion must hold for the same element.
		{"commits", "any", `{"item.id": {"type": "eq", "pattern": "c1"}, "item.message": {"type": "startswith", "pattern": "feat"}}`, false},
		{"commits", "any", `{"item.id": {"type": "eq", "pattern": "c2"}, "item.message": {"type": "startswith", "pattern": "feat"}}`, true},
		{"commits", "any", `{"item.added.0": {"type": "matchwildcard", "pattern": "src/*"}}`, true},
		{"commits", "all", `{"item.missing": {"type": "nexists"}}`, true},
		{"list", "any", `{"item": {"type": "iequals", "pattern": "b"}}`, true},
		{"list", "all", `{"item": {"type": "exists"}}`, true},
		{"empty", "all", `{"item": {"type": "exists"}}`, true},
		{"empty", "any", `{"item": {"type": "exists"}}`, false},
		{"missing", "any", `{"item": {"type": "nexists"}}`, false},
		{"missing", "all", `{"item": {"type": "nexists"}}`, false},
		{"ref", "all", `{"item": {"type": "nexists"}}`, false},
		{"obj", "all", `{"item": {"type": "nexists"}}`, false},
	}
	docs := loadDocs(t, "doc.json")
	for _, tt := range tests {
		raw := fmt.Sprintf(`{"trigger.body.%s": {"type": "search", "condition": %q, "pattern": %s}}`, tt.path, tt.condition, tt.pattern)
		c := mustCompile(t, raw)
		for kind, doc := range docs {
			if got := c.Match(doc, now); got != tt.want {
				t.Errorf("%s (%s numbers) = %v, want %v", raw, kind, got, tt.want)
			}
		}
	}
}

func TestPaths(t *testing.T) {
	t.Parallel()
	tests := []struct {
		path string
		want any // nil: not found
	}{
		{"trigger.body.commits.1.id", "c2"},
		{"trigger.body.commits[1].id", "c2"},
		{`trigger.body.commits["1"].id`, "c2"},
		{"trigger.body.commits.01.id", nil},
		{"trigger.body.commits.2.id", nil},
		{"trigger.body.commits.-1.id", nil},
		{"trigger.body.commits.99999999999999999999999.id", nil},
		{"trigger.body.commits.id", nil},
		{`trigger.body["dotted.key"]`, "yes"},
		{`trigger.body['dotted.key']`, "yes"},
		{`trigger["body"]['with space']`, "1"},
		{"trigger.body.dotted.key", nil},
		{`trigger.headers["X-Github-Event"]`, "push"},
		{`trigger.headers.X-Github-Event`, "push"},
		{`trigger.headers.x-github-event`, nil}, // without CaseInsensitive
		{"trigger.body.ref.x", nil},
		{"trigger.body.n.0", nil},
		{`trigger.body.s["\u0048"]`, nil},
	}
	docs := loadDocs(t, "doc.json")
	for _, tt := range tests {
		p, err := parseFullPath(tt.path)
		if err != nil {
			t.Errorf("parse %s: %v", tt.path, err)
			continue
		}
		for kind, doc := range docs {
			v, found := p.lookup(doc)
			if found != (tt.want != nil) {
				t.Errorf("%s (%s numbers): found = %v, want %v", tt.path, kind, found, tt.want != nil)
				continue
			}
			if found && fmt.Sprint(v) != fmt.Sprint(tt.want) {
				t.Errorf("%s (%s numbers) = %v, want %v", tt.path, kind, v, tt.want)
			}
		}
	}
}

func TestPathString(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"a.b.0", "a.b.0"},
		{"a[0]", "a.0"},
		{`a["b.c"].d`, `a["b.c"].d`},
		{`a['it\'s']`, `a["it's"]`},
		{`a['say "hi"']`, `a["say \"hi\""]`},
		{`["x y"]`, `["x y"]`},
		{`a[""]`, `a[""]`},
		{`a["\u00e9"]`, `a.é`},
	}
	for _, tt := range tests {
		p, err := parseFullPath(tt.in)
		if err != nil {
			t.Errorf("parse %s: %v", tt.in, err)
			continue
		}
		if got := p.String(); got != tt.want {
			t.Errorf("%s: String() = %s, want %s", tt.in, got, tt.want)
		}
	}
}

func TestCaseInsensitive(t *testing.T) {
	t.Parallel()
	doc := map[string]any{
		"trigger": map[string]any{
			"headers": map[string]any{"X-Github-Event": "push", "X-A": "upper", "x-a": "lower"},
			"body":    map[string]any{"Ref": "main"},
		},
	}
	opt := CaseInsensitive("trigger.headers")
	tests := []struct {
		path, pattern string
		want          bool
	}{
		{"trigger.headers.x-github-event", `"push"`, true},
		{`trigger.headers["X-GITHUB-EVENT"]`, `"push"`, true},
		{"trigger.headers.x-a", `"lower"`, true}, // the exact key wins
		{"trigger.headers.X-a", `"upper"`, true}, // else the smallest key
		{"trigger.body.ref", `"main"`, false},    // outside the prefix
		{"trigger.HEADERS.x-github-event", `"push"`, false},
	}
	for _, tt := range tests {
		c := mustCompile(t, one(tt.path, "equals", tt.pattern), opt)
		if got := c.Match(doc, now); got != tt.want {
			t.Errorf("%s: Match = %v, want %v", tt.path, got, tt.want)
		}
	}
	if _, err := Compile(json.RawMessage(`{}`), CaseInsensitive("a..b")); err == nil {
		t.Error("an invalid prefix compiled")
	}
}

// A field written two ways takes two criteria: present and not main.
func TestSamePathTwice(t *testing.T) {
	t.Parallel()
	c := mustCompile(t, `{"trigger.body.ref": {"type": "exists"},
		"trigger.body[\"ref\"]": {"type": "nequals", "pattern": "refs/heads/main"}}`)
	tests := []struct {
		doc  string
		want bool
	}{
		{`{"trigger": {"body": {"ref": "refs/heads/dev"}}}`, true},
		{`{"trigger": {"body": {"ref": "refs/heads/main"}}}`, false},
		{`{"trigger": {"body": {}}}`, false},
	}
	for _, tt := range tests {
		var doc any
		if err := json.Unmarshal([]byte(tt.doc), &doc); err != nil {
			t.Fatal(err)
		}
		if got := c.Match(doc, now); got != tt.want {
			t.Errorf("%s: Match = %v, want %v", tt.doc, got, tt.want)
		}
	}
}

func TestBigIntegers(t *testing.T) {
	t.Parallel()
	var doc any
	dec := json.NewDecoder(strings.NewReader(`{"id": 9007199254740993, "neg": -9223372036854775808}`))
	dec.UseNumber()
	if err := dec.Decode(&doc); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		raw  string
		want bool
	}{
		{one("id", "equals", "9007199254740993"), true},
		{one("id", "equals", "9007199254740992"), false},
		{one("id", "gt", "9007199254740992"), true},
		{one("id", "lt", "9007199254740994"), true},
		{one("id", "lt", "1e300"), true},
		{one("neg", "lt", "-9223372036854775807"), true},
		{one("neg", "equals", "-9.223372036854775808e18"), true},
	}
	for _, tt := range tests {
		if got := mustCompile(t, tt.raw).Match(doc, now); got != tt.want {
			t.Errorf("%s = %v, want %v", tt.raw, got, tt.want)
		}
	}
}

func TestEmptyCriteriaMatchAll(t *testing.T) {
	t.Parallel()
	for _, raw := range []string{"", "  ", "null", "{}", " {} "} {
		c := mustCompile(t, raw)
		if !c.Match(nil, now) || !c.Match(map[string]any{"a": 1}, now) {
			t.Errorf("%q does not match everything", raw)
		}
		if e := c.Explain(nil, now); !e.Matched || len(e.Criteria) != 0 {
			t.Errorf("%q: Explain = %+v", raw, e)
		}
	}
	var c *Criteria
	if !c.Match(nil, now) || !c.Explain(nil, now).Matched {
		t.Error("nil criteria do not match everything")
	}
}

func TestExplain(t *testing.T) {
	t.Parallel()
	c := mustCompile(t, `{
		"trigger.body.ref": {"type": "eq", "pattern": "refs/heads/dev"},
		"trigger.body.missing": {"type": "nexists"},
		"trigger.body.n": {"type": "gt", "pattern": 1},
		"trigger.body.commits": {"type": "search", "condition": "any",
			"pattern": {"item.message": {"type": "startswith", "pattern": "feat"}}}
	}`)
	want := `{"matched":false,"criteria":[` +
		`{"path":"trigger.body.commits","type":"search","pattern":{"item.message":{"type":"startswith","pattern":"feat"}},"condition":"any","held":true,"found":true,` +
		`"value":[{"added":["docs/a.md"],"id":"c1","message":"fix: crash"},{"added":["src/b.go"],"id":"c2","message":"feat: api"}],"matched_items":[1]},` +
		`{"path":"trigger.body.missing","type":"nexists","held":true,"found":false,"value":null},` +
		`{"path":"trigger.body.n","type":"greaterthan","pattern":1,"held":true,"found":true,"value":5},` +
		`{"path":"trigger.body.ref","type":"equals","pattern":"refs/heads/dev","held":false,"found":true,"value":"refs/heads/main"}]}`
	for kind, doc := range loadDocs(t, "doc.json") {
		e := c.Explain(doc, now)
		got, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != want {
			t.Errorf("%s numbers:\n got %s\nwant %s", kind, got, want)
		}
		if e.Matched != c.Match(doc, now) {
			t.Errorf("%s numbers: Explain says %v, Match disagrees", kind, e.Matched)
		}
	}
}

func TestCompileErrors(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("a", MaxPatternLen+1)
	tests := []struct{ raw, want string }{
		{`[]`, "want a JSON object"},
		{`"x"`, "want a JSON object"},
		{`{"a": `, "invalid JSON"},
		{`{"a": 1,}`, "invalid JSON"},
		{`{} {}`, "data after the object"},
		{`{"a": {"type": "eq", "pattern": 1}, "a": {"type": "eq", "pattern": 2}}`, `duplicate key "a"`},
		{`{"a": 5}`, `a: want an object such as {"type": "equals", "pattern": "x"}, not a number`},
		{`{"a": "eq"}`, `a: want an object such as {"type": "equals", "pattern": "x"}, not a string`},
		{`{"a": {"type": "nope", "pattern": 1}}`, `a: unknown operator "nope": one of equals, nequals,`},
		{`{"a": {"pattern": 1}}`, "a: type is required"},
		{`{"a": {"type": 5}}`, "a: type must be a string"},
		{`{"a": {"type": "eq", "patern": 1}}`, `a: unknown field "patern"`},
		{`{"a": {"type": "eq"}}`, "a: equals needs a pattern"},
		{`{"a": {"type": "eq", "pattern": 1, "condition": "any"}}`, "a: condition applies only to search, not equals"},
		{`{"a": {"type": "regex", "pattern": "("}}`, "a: regex: missing closing ): `(`"},
		{`{"a": {"type": "matchregex", "pattern": "a)|(b"}}`, "a: matchregex: unexpected )"},
		{`{"a": {"type": "iregex", "pattern": 1}}`, "a: iregex: pattern must be a string, not a number"},
		{`{"a": {"type": "regex", "pattern": "` + long + `"}}`, "a: regex: pattern is longer than 1024 bytes"},
		{`{"a": {"type": "matchwildcard", "pattern": "` + long + `"}}`, "a: matchwildcard: pattern is longer than 1024 bytes"},
		{`{"a": {"type": "matchwildcard", "pattern": "x[abc"}}`, `a: matchwildcard: invalid wildcard: column 2: "[" without a closing "]"`},
		{`{"a": {"type": "matchwildcard", "pattern": "[z-a]"}}`, "a: matchwildcard: invalid wildcard: column 2: range z-a is backwards"},
		{`{"a": {"type": "matchwildcard", "pattern": "a\\"}}`, `escapes nothing`},
		{`{"a": {"type": "lt", "pattern": "5"}}`, "a: lessthan: pattern must be a number, not a string"},
		{`{"a": {"type": "gt", "pattern": null}}`, "a: greaterthan: pattern must be a number, not null"},
		{`{"a": {"type": "td_lt", "pattern": "1h"}}`, "a: timediff_lt: pattern must be a number of seconds"},
		{`{"a": {"type": "td_gt", "pattern": 1e999}}`, "a: timediff_gt: pattern must be a number of seconds"},
		{`{"a": {"type": "startswith", "pattern": ["x"]}}`, "a: startswith: pattern must be a string, not a list"},
		{`{"a": {"type": "icontains", "pattern": {}}}`, "a: icontains: pattern must be a string, not an object"},
		{`{"a": {"type": "iequals", "pattern": true}}`, "a: iequals: pattern must be a string, not a boolean"},
		{`{"a": {"type": "inside", "pattern": 5}}`, "a: inside: pattern must be a list or a string, not a number"},
		{`{"a": {"type": "nin", "pattern": {}}}`, "a: ninside: pattern must be a list or a string, not an object"},
		{`{"a": {"type": "search", "pattern": {"item": {"type": "exists"}}}}`, `a: search: condition is required: "any" or "all"`},
		{`{"a": {"type": "search", "condition": "some", "pattern": {"item": {"type": "exists"}}}}`, `a: search: condition must be "any" or "all", not "some"`},
		{`{"a": {"type": "search", "condition": 1, "pattern": {}}}`, `a: condition must be "any" or "all"`},
		{`{"a": {"type": "search", "condition": "any", "pattern": "x"}}`, "a: search: pattern must be criteria on the list's elements"},
		{`{"a": {"type": "search", "condition": "any", "pattern": {}}}`, "a: search: pattern has no criteria"},
		{`{"a": {"type": "search", "condition": "any", "pattern": {"x.id": {"type": "exists"}}}}`, `a: search: x.id: paths in a search pattern start with "item"`},
		{`{"a": {"type": "search", "condition": "any", "pattern": {"item.id": {"type": "lt", "pattern": "x"}}}}`, "a: search: item.id: lessthan: pattern must be a number"},
		{`{"a..b": {"type": "exists"}}`, `a..b: column 3: expected a key after "."`},
		{`{"a b": {"type": "exists"}}`, `a b: column 2: unexpected ' '`},
		{`{"": {"type": "exists"}}`, `column 1: expected a path`},
		{`{"a[": {"type": "exists"}}`, `a[: column 3: expected a quoted key or an index after "["`},
		{`{"a[0": {"type": "exists"}}`, `a[0: column 4: missing "]"`},
		{`{"a['x": {"type": "exists"}}`, `a['x: column 3: unterminated string`},
		{`{"a[\"\\q\"]": {"type": "exists"}}`, `column 3: invalid string "\q"`},
		{`{"a.": {"type": "exists"}}`, `a.: column 3: expected a key after "."`},
	}
	for _, tt := range tests {
		_, err := Compile(json.RawMessage(tt.raw))
		var e *Error
		if !errors.As(err, &e) {
			t.Errorf("Compile(%.60s) = %v, want an *Error", tt.raw, err)
			continue
		}
		if !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Compile(%.60s):\n got %v\nwant %s", tt.raw, err, tt.want)
		}
	}
}

// nested returns criteria with levels levels of search, the innermost
// testing that an element exists, and a document they match.
func nested(levels int) (string, any) {
	raw := `{"item": {"type": "exists"}}`
	var doc any = "x"
	for i := 1; i < levels; i++ {
		raw = fmt.Sprintf(`{"item.l": {"type": "search", "condition": "all", "pattern": %s}}`, raw)
		doc = map[string]any{"l": []any{doc}}
	}
	raw = strings.Replace(raw, `"item.l"`, `"l"`, 1)
	if levels == 1 {
		raw = `{"l": {"type": "exists"}}`
	}
	return raw, map[string]any{"l": []any{doc}}
}

func TestDepthLimit(t *testing.T) {
	t.Parallel()
	raw, doc := nested(MaxDepth)
	c := mustCompile(t, raw)
	if !c.Match(doc, now) {
		t.Errorf("%d levels do not match", MaxDepth)
	}
	raw, _ = nested(MaxDepth + 1)
	_, err := Compile(json.RawMessage(raw))
	if err == nil || !strings.Contains(err.Error(), "criteria nest deeper than 8 levels") {
		t.Errorf("%d levels: err = %v", MaxDepth+1, err)
	}
}

func TestOperatorTable(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for _, op := range operators {
		for _, name := range []string{op.name, op.alias} {
			if name == "" {
				continue
			}
			if seen[name] {
				t.Errorf("operator name %q appears twice", name)
			}
			seen[name] = true
			if lookupOperator(strings.ToUpper(name)) != lookupOperator(op.name) {
				t.Errorf("%s does not resolve to %s", name, op.name)
			}
		}
	}
	// Every operator is documented for users.
	doc, err := os.ReadFile("../docs/CRITERIA.md")
	if err != nil {
		t.Fatal(err)
	}
	for name := range seen {
		if !bytes.Contains(doc, []byte("`"+name+"`")) {
			t.Errorf("docs/CRITERIA.md does not mention `%s`", name)
		}
	}
	for _, f := range filters {
		if !bytes.Contains(doc, []byte("`"+f.name)) {
			t.Errorf("docs/CRITERIA.md does not mention the filter `%s`", f.name)
		}
	}
}

func TestConcurrentMatch(t *testing.T) {
	t.Parallel()
	c := mustCompile(t, `{"trigger.body.ref": {"type": "matchwildcard", "pattern": "refs/heads/*"},
		"trigger.body.commits": {"type": "search", "condition": "any", "pattern": {"item.message": {"type": "iregex", "pattern": "^FIX"}}}}`)
	doc := loadDocs(t, "doc.json")["float64"]
	done := make(chan bool)
	for range 8 {
		go func() {
			ok := true
			for range 100 {
				ok = ok && c.Match(doc, now) && c.Explain(doc, now).Matched
			}
			done <- ok
		}()
	}
	for range 8 {
		if !<-done {
			t.Error("a concurrent match failed")
		}
	}
}
