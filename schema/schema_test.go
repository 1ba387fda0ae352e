package schema_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/hookd/hookd"
	"github.com/hookd/hookd/schema"
)

// Any bytes as a schema: compiling never panics, a failure is EINVALID
// with a message free of the internal URL, and a compiled schema validates
// any JSON value without panicking.
func FuzzCompile(f *testing.F) {
	for _, seed := range []struct{ schema, value string }{
		{`{"type":"object","required":["a"],"properties":{"a":{"type":"integer"}}}`, `{"a":1}`},
		{`{"$ref":"#/$defs/a","$defs":{"a":{"$ref":"#/$defs/a"}}}`, `null`},
		{`{"$ref":"https://example.com/x.json"}`, `1`},
		{`{"$schema":"http://json-schema.org/draft-04/schema#","type":"string"}`, `"s"`},
		{`{"$schema":"https://json-schema.org/draft/2019-09/schema","$recursiveRef":"#"}`, `[]`},
		{`{"$dynamicAnchor":"x","$dynamicRef":"#x","items":{"$dynamicRef":"#x"}}`, `[[[]]]`},
		{`{"pattern":"^a+$","minLength":2,"format":"email"}`, `"aaa"`},
		{`{"anyOf":[{"type":"null"},{"not":{"type":"string"}}],"if":{"const":1},"then":false}`, `1`},
		{`{"unevaluatedProperties":false,"allOf":[{"properties":{"a":true}}]}`, `{"a":1,"b":2}`},
		{`{"$id":"a/b","$ref":"c"}`, `{}`},
		{`{"$id":"#frag"}`, `{}`},
		{`{"$anchor":"a b"}`, `{}`},
		{`{"multipleOf":1e-308,"maximum":1e308}`, `1e308`},
		{`{"uniqueItems":true,"contains":{"type":"integer"},"minContains":0}`, `[1,1.0,"1"]`},
		{`{"enum":[1,"a",null,{"b":[]}],"const":{"b":[]}}`, `{"b":[]}`},
		{`{"contentMediaType":"application/json","contentEncoding":"base64"}`, `"e30="`},
		{`{"$vocabulary":{"https://example.com/v":true}}`, `{}`},
		{`{"type":["string","number"],"propertyNames":{"maxLength":1}}`, `{"ab":1}`},
		{`[]`, `1`}, {`"x"`, `1`}, {`true`, `1`}, {`false`, `1`}, {`{`, `{`}, {``, ``}, {`{"$ref":"#/definitions/%25"}`, `1`},
	} {
		f.Add([]byte(seed.schema), []byte(seed.value))
	}
	f.Fuzz(func(t *testing.T, raw, value []byte) {
		sch, err := schema.Compile(raw)
		if err != nil {
			if hookd.ErrorCode(err) != hookd.EINVALID {
				t.Fatalf("schema %q: %v, want EINVALID", raw, err)
			}
			if msg := hookd.ErrorMessage(err); strings.Contains(msg, "hookd.invalid") || msg == "" {
				t.Fatalf("schema %q: message %q", raw, msg)
			}
			return
		}
		if !json.Valid(value) {
			return
		}
		if p, ok := schema.Validate(sch, value); !ok && p.Msg == "" {
			t.Fatalf("schema %q, value %q: a failure without a reason", raw, value)
		}
		_ = schema.CheckEventType(&hookd.EventType{Name: "a", Schema: raw, Example: value})
	})
}
