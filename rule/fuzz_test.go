package rule

import (
	"encoding/json"
	"errors"
	"testing"
)

// Any criteria must compile or fail with an *Error, never panic; compiled
// criteria must match any document without panicking, and Explain must
// agree with Match and marshal.
func FuzzCompile(f *testing.F) {
	f.Add([]byte(`{"trigger.body.ref": {"type": "eq", "pattern": "refs/heads/main"}}`))
	f.Add([]byte(`{"a['b'][0]": {"type": "matchwildcard", "pattern": "[!a-c]*\\?"}, "b": {"type": "td_lt", "pattern": 60}}`))
	f.Add([]byte(`{"c": {"type": "search", "condition": "all", "pattern": {"item.x": {"type": "inside", "pattern": [1, "a", null]}}}}`))
	f.Add([]byte(`{"d": {"type": "iregex", "pattern": "^a(b|c)*$"}, "e": {"type": "lt", "pattern": 1e3}}`))
	docs := []any{nil, "refs/heads/main", []any{1.0, "a"}}
	for _, s := range []string{
		`{"trigger": {"body": {"ref": "refs/heads/main"}}, "a": {"b": ["x"]}, "b": "2024-01-01T00:00:00Z", "c": [{"x": 1}, {"x": "a"}], "d": "abc", "e": "12"}`,
		`{"a": [{"b": "ä"}], "b": 1704067200, "c": [], "d": ["abc"], "e": 5}`,
	} {
		var doc any
		if err := decode([]byte(s), &doc); err != nil {
			f.Fatal(err)
		}
		docs = append(docs, doc)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		c, err := Compile(raw, CaseInsensitive("a"))
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error is %T, not *Error: %v", err, err)
			}
			return
		}
		for _, doc := range docs {
			e := c.Explain(doc, now)
			if e.Matched != c.Match(doc, now) {
				t.Fatalf("Explain and Match disagree on %v", doc)
			}
			if _, err := json.Marshal(e); err != nil {
				t.Fatalf("marshal explanation: %v", err)
			}
		}
	})
}

// Any template must compile or fail with an *Error; a compiled template
// must render valid JSON. RenderString must not panic on the same text.
func FuzzRender(f *testing.F) {
	f.Add([]byte(`{"url": "https://x/{{ trigger.body.x | urlencode }}", "n": "{{ trigger.body.n | default(0) }}"}`))
	f.Add([]byte(`["{{trigger.body.obj}}", "a {{ trigger['body'].list[1] | tojson }} b", "{{ \"{{\" }}"]`))
	f.Add([]byte(`"{{ x | default('it\\'s') | upper }}"`))
	var data any
	if err := decode([]byte(templateData), &data); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		if s, err := RenderString(string(raw), data); err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("RenderString error is %T, not *Error: %v", err, err)
			}
		} else if len(s) > 0 && len(raw) == 0 {
			t.Fatalf("empty template rendered %q", s)
		}
		tmpl, err := CompileTemplate(raw)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error is %T, not *Error: %v", err, err)
			}
			return
		}
		out, err := tmpl.Render(data)
		if err != nil {
			t.Fatalf("render: %v", err)
		}
		if !json.Valid(out) {
			t.Fatalf("rendered invalid JSON %q", out)
		}
	})
}

// A path that parses prints in a form that parses back to the same keys.
func FuzzPath(f *testing.F) {
	f.Add(`trigger.body.commits[0]["a.b"]`)
	f.Add(`a['it\'s'].b-c.0`)
	f.Fuzz(func(t *testing.T, s string) {
		p, err := parseFullPath(s)
		if err != nil {
			if err.off < 0 || err.off > len(s) {
				t.Fatalf("offset %d out of range for %q", err.off, s)
			}
			return
		}
		q, err := parseFullPath(p.String())
		if err != nil {
			t.Fatalf("%q printed as %q, which does not parse: %v", s, p.String(), err)
		}
		if len(p) != len(q) {
			t.Fatalf("%q printed as %q: %d keys, then %d", s, p.String(), len(p), len(q))
		}
		for i := range p {
			if p[i].key != q[i].key {
				t.Fatalf("%q printed as %q: key %q became %q", s, p.String(), p[i].key, q[i].key)
			}
		}
	})
}

// Every operator must take any pattern and any value without panicking,
// and each negative operator must hold exactly when its positive does not.
func FuzzMatch(f *testing.F) {
	f.Add("contains", []byte(`"b"`), []byte(`["a", "b"]`))
	f.Add("icontains", []byte(`"Ä"`), []byte(`"xäy"`))
	f.Add("inside", []byte(`[1, "1", null]`), []byte(`1.0`))
	f.Add("timediff_lt", []byte(`60`), []byte(`"2024-01-01T00:09:30+00:00"`))
	f.Add("lessthan", []byte(`1e3`), []byte(`"999.5"`))
	f.Add("matchwildcard", []byte(`"[!a]*?"`), []byte(`"b/c"`))
	f.Add("iequals", []byte(`"ß"`), []byte(`"ẞ"`))
	negations := map[string]string{
		"equals": "nequals", "contains": "ncontains", "icontains": "incontains",
		"exists": "nexists", "inside": "ninside",
	}
	f.Fuzz(func(t *testing.T, typ string, pattern, value []byte) {
		if !json.Valid(pattern) {
			return
		}
		var v any
		if err := decode(value, &v); err != nil {
			v = string(value)
		}
		doc := map[string]any{"v": v}
		crit := func(typ string) []byte {
			raw, _ := json.Marshal(map[string]any{"v": map[string]any{"type": typ, "pattern": json.RawMessage(pattern)}})
			return raw
		}
		c, err := Compile(crit(typ))
		if err != nil {
			return
		}
		got := c.Match(doc, now)
		if e := c.Explain(doc, now); e.Matched != got {
			t.Fatal("Explain and Match disagree")
		}
		if neg, ok := negations[lookupOperator(typ).name]; ok {
			n, err := Compile(crit(neg))
			if err != nil {
				t.Fatalf("%s compiles but %s does not: %v", typ, neg, err)
			}
			if n.Match(doc, now) == got {
				t.Fatalf("%s and %s agree (%v) on %s", typ, neg, got, value)
			}
		}
	})
}
