package rule

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

const templateData = `{"trigger": {
	"headers": {"X-Github-Event": "push", "X-Id": "42"},
	"body": {"x": "hi", "n": 5, "f": 2.5, "big": 12345678901234567890, "obj": {"b": 2, "a": "<&>"},
		"list": [1, 2], "null": null, "t": true, "q": "a b/c&d?é", "empty": ""}}}`

// templateDocs decodes templateData with float64 and with json.Number numbers.
func templateDocs(t testing.TB) map[string]any {
	t.Helper()
	var f any
	if err := json.Unmarshal([]byte(templateData), &f); err != nil {
		t.Fatal(err)
	}
	var n any
	if err := decode([]byte(templateData), &n); err != nil {
		t.Fatal(err)
	}
	return map[string]any{"float64": f, "json.Number": n}
}

func TestRender(t *testing.T) {
	t.Parallel()
	tests := []struct{ tmpl, want string }{
		// Exactly one placeholder keeps the type.
		{`"{{ trigger.body.n }}"`, `5`},
		{`"{{trigger.body.n}}"`, `5`},
		{`"{{   trigger.body.f\t\n}}"`, `2.5`},
		{`"{{ trigger.body.x }}"`, `"hi"`},
		{`"{{ trigger.body.obj }}"`, `{"a":"<&>","b":2}`},
		{`"{{ trigger.body.list }}"`, `[1,2]`},
		{`"{{ trigger.body.t }}"`, `true`},
		{`"{{ trigger.body.null }}"`, `null`},
		{`"{{ trigger.body.missing }}"`, `null`},
		{`"{{ trigger.body.list.1 }}"`, `2`},
		{`"{{ trigger.body.list[0] }}"`, `1`},
		{`"{{ trigger.headers['X-Id'] }}"`, `"42"`},
		{`"{{ trigger.headers[\"X-Id\"] }}"`, `"42"`},
		// Text around placeholders makes a string.
		{`"n={{ trigger.body.n }}"`, `"n=5"`},
		{`" {{ trigger.body.n }}"`, `" 5"`},
		{`"{{ trigger.body.x }} {{ trigger.body.obj }}"`, `"hi {\"a\":\"<&>\",\"b\":2}"`},
		{`"{{ trigger.body.x }}{{ trigger.body.n }}"`, `"hi5"`},
		{`"[{{ trigger.body.missing }}][{{ trigger.body.null }}]"`, `"[][]"`},
		{`"{{ trigger.body.t }}/{{ trigger.body.list }}/{{ trigger.body.f }}"`, `"true/[1,2]/2.5"`},
		{`"{ x } {x}} }}"`, `"{ x } {x}} }}"`},
		// Filters.
		{`"{{ trigger.body.missing | default(\"y\") }}"`, `"y"`},
		{`"{{ trigger.body.missing|default('y') }}"`, `"y"`},
		{`"{{ trigger.body.null | default(7) }}"`, `7`},
		{`"{{ trigger.body.missing | default(-1.5e3) }}"`, `-1.5e3`},
		{`"{{ trigger.body.missing | default(false) }}"`, `false`},
		{`"{{ trigger.body.missing | default(null) }}"`, `null`},
		{`"{{ trigger.body.missing | default([]) }}"`, `[]`},
		{`"{{ trigger.body.missing | default({\"a\": [1, \"}}\"]}) }}"`, `{"a":[1,"}}"]}`},
		{`"{{ trigger.body.list | default({}) }}"`, `[1,2]`},
		{`"{{ trigger.body.x | default('y') }}"`, `"hi"`},
		{`"{{ trigger.body.empty | default('y') }}"`, `""`},
		{`"a{{ trigger.body.missing | default('it\\'s') }}"`, `"ait's"`},
		{`"{{ trigger.body.obj | tojson }}"`, `"{\"a\":\"<&>\",\"b\":2}"`},
		{`"{{ trigger.body.x | tojson }}"`, `"\"hi\""`},
		{`"{{ trigger.body.missing | tojson }}"`, `"null"`},
		{`"{{ trigger.body.x | upper }}"`, `"HI"`},
		{`"{{ trigger.headers.X-Github-Event | lower }}"`, `"push"`},
		{`"{{ trigger.body.missing | upper }}"`, `""`},
		{`"https://x/{{ trigger.body.q | urlencode }}"`, `"https://x/a%20b%2Fc%26d%3F%C3%A9"`},
		{`"{{ trigger.body.missing | default(\"a b\") | urlencode }}"`, `"a%20b"`},
		{`"{{ \"{{\" }} x }}"`, `"{{ x }}"`},
		{`"{{ 'lit' | upper }}"`, `"LIT"`},
		// Structure, key order and literals are kept.
		{`{"z": "{{ trigger.body.n }}", "a": ["{{ trigger.body.x }}", 1.50, "plain", null, true], "h": "<&>"}`,
			`{"z":5,"a":["hi",1.50,"plain",null,true],"h":"<&>"}`},
		{` { "nested" : { "deep" : [ [ "{{ trigger.body.list }}" ] ] } } `, `{"nested":{"deep":[[[1,2]]]}}`},
		{`{}`, `{}`},
		{`[]`, `[]`},
		{`"é\u0000\n"`, `"é\u0000\n"`},
		{``, `null`},
		{`42`, `42`},
	}
	for kind, data := range templateDocs(t) {
		for _, tt := range tests {
			got, err := Render(json.RawMessage(tt.tmpl), data)
			if err != nil {
				t.Errorf("%s (%s numbers): %v", tt.tmpl, kind, err)
				continue
			}
			if string(got) != tt.want {
				t.Errorf("%s (%s numbers):\n got %s\nwant %s", tt.tmpl, kind, got, tt.want)
			}
			if !json.Valid(got) {
				t.Errorf("%s: invalid JSON %s", tt.tmpl, got)
			}
		}
	}
}

func TestRenderBigNumber(t *testing.T) {
	t.Parallel()
	var data any
	if err := decode([]byte(templateData), &data); err != nil {
		t.Fatal(err)
	}
	// json.Number data keeps every digit.
	got, err := Render(json.RawMessage(`["{{ trigger.body.big }}", "id {{ trigger.body.big }}"]`), data)
	if err != nil {
		t.Fatal(err)
	}
	if want := `[12345678901234567890,"id 12345678901234567890"]`; string(got) != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

func TestRenderString(t *testing.T) {
	t.Parallel()
	tests := []struct{ tmpl, want string }{
		{"https://api.example.com/{{ trigger.body.x }}?n={{trigger.body.n}}", "https://api.example.com/hi?n=5"},
		{"{{ trigger.body.obj }}", `{"a":"<&>","b":2}`},
		{"{{ trigger.body.n }}", "5"},
		{"{{ trigger.body.missing }}", ""},
		{"{{ trigger.body.missing | default('none') }}", "none"},
		{"plain", "plain"},
		{"", ""},
	}
	for kind, data := range templateDocs(t) {
		for _, tt := range tests {
			got, err := RenderString(tt.tmpl, data)
			if err != nil {
				t.Errorf("%q (%s numbers): %v", tt.tmpl, kind, err)
			} else if got != tt.want {
				t.Errorf("%q (%s numbers) = %q, want %q", tt.tmpl, kind, got, tt.want)
			}
		}
	}
	data := templateDocs(t)["float64"]
	got, err := RenderString("{{ trigger.headers.x-github-event }}", data, CaseInsensitive("trigger.headers"))
	if err != nil || got != "push" {
		t.Errorf("CaseInsensitive: got %q, %v; want push", got, err)
	}
	if got, _ := RenderString("{{ trigger.headers.x-github-event }}", data); got != "" {
		t.Errorf("without CaseInsensitive: got %q, want nothing", got)
	}
}

func TestTemplateErrors(t *testing.T) {
	t.Parallel()
	deep := strings.Repeat("[", MaxTemplateDepth+1) + strings.Repeat("]", MaxTemplateDepth+1)
	tests := []struct{ tmpl, want string }{
		{`"{{ x"`, `column 1: "{{" without a closing "}}"`},
		{`"{{ x }"`, `column 6: unexpected "}": want "|" and a filter, or "}}"`},
		{`"ab {{"`, `column 4: "{{" without a closing "}}"`},
		{`"a {{ }}"`, "column 3: empty {{ }}"},
		{`"{{}}"`, "column 1: empty {{ }}"},
		{`"{{ x | nope }}"`, `column 8: unknown filter "nope": one of default, tojson, lower, upper, urlencode`},
		{`"{{ x | }}"`, `column 8: expected a filter name after "|"`},
		{`"{{ x | default }}"`, "column 8: default takes 1 argument(s), not 0"},
		{`"{{ x | default() }}"`, "column 8: default takes 1 argument(s), not 0"},
		{`"{{ x | default(1, 2) }}"`, "column 8: default takes 1 argument(s), not 2"},
		{`"{{ x | tojson(1) }}"`, "column 8: tojson takes 0 argument(s), not 1"},
		{`"{{ x | default(foo) }}"`, "column 16: expected a JSON value or a 'quoted' string"},
		{`"{{ x | default(01) }}"`, `column 17: unexpected "1": want "," or ")"`},
		{`"{{ x | default([1, }}"`, "column 16: expected a JSON value"},
		{`"{{ x | default(1 }}"`, `column 18: unexpected "}": want "," or ")"`},
		{`"{{ x | default(1"`, `column 15: "(" without a closing ")"`},
		{`"{{ x y }}"`, `column 6: unexpected "y": want "|" and a filter, or "}}"`},
		{`"{{ x.. }}"`, `column 6: expected a key after "."`},
		{`"{{ x[ }}"`, `column 6: expected a quoted key or an index after "["`},
		{`"{{ | x }}"`, "column 4: expected a path"},
		{`"{{ 'abc }}"`, "column 4: unterminated string"},
		{`"{{{ x }}}"`, "column 3: expected a path"},
		{`{"a": ["ok", "{{ x"]}`, `a.1: column 1: "{{" without a closing "}}"`},
		{`{"a b": {"c.d": "{{ x | bad }}"}}`, `["a b"]["c.d"]: column 8: unknown filter "bad"`},
		{`{"a": 1, "a": 2}`, `duplicate key "a"`},
		{`{"a": }`, "invalid JSON"},
		{`[1,]`, "invalid JSON"},
		{`[1`, "invalid JSON: unexpected end of input"},
		{`[1] 2`, "data after the template"},
		{deep, "template nests deeper than 64 levels"},
	}
	for _, tt := range tests {
		_, err := CompileTemplate(json.RawMessage(tt.tmpl))
		var e *Error
		if !errors.As(err, &e) {
			t.Errorf("CompileTemplate(%.40s) = %v, want an *Error", tt.tmpl, err)
			continue
		}
		if !strings.Contains(err.Error(), tt.want) {
			t.Errorf("CompileTemplate(%.40s):\n got %v\nwant %s", tt.tmpl, err, tt.want)
		}
	}
	if _, err := RenderString("x {{ y", nil); err == nil || err.Error() != `column 3: "{{" without a closing "}}"` {
		t.Errorf("RenderString: err = %v", err)
	}
	if _, err := CompileTemplate(json.RawMessage(strings.Repeat("[", MaxTemplateDepth) + strings.Repeat("]", MaxTemplateDepth))); err != nil {
		t.Errorf("%d levels: %v", MaxTemplateDepth, err)
	}
}

func TestTemplateRenderError(t *testing.T) {
	t.Parallel()
	// Values that JSON cannot encode come only from hand-built data.
	data := map[string]any{"x": json.Number("not a number"), "y": make(chan int)}
	for _, tmpl := range []string{`{"a": ["{{ x }}"]}`, `"v={{ y }}"`, `"{{ y | tojson }}"`} {
		_, err := Render(json.RawMessage(tmpl), data)
		if err == nil {
			t.Errorf("%s rendered", tmpl)
		}
	}
}

func TestCompiledTemplateReuse(t *testing.T) {
	t.Parallel()
	tmpl, err := CompileTemplate(json.RawMessage(`{"id": "{{ id }}", "msg": "id={{ id }}"}`))
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ data, want string }{
		{`{"id": 1}`, `{"id":1,"msg":"id=1"}`},
		{`{"id": "a\"b"}`, `{"id":"a\"b","msg":"id=a\"b"}`},
		{`{}`, `{"id":null,"msg":"id="}`},
		{`[]`, `{"id":null,"msg":"id="}`},
	} {
		var data any
		if err := json.Unmarshal([]byte(tt.data), &data); err != nil {
			t.Fatal(err)
		}
		got, err := tmpl.Render(data)
		if err != nil || string(got) != tt.want {
			t.Errorf("data %s: got %s, %v; want %s", tt.data, got, err, tt.want)
		}
	}
	var nilTmpl *Template
	if got, err := nilTmpl.Render(nil); err != nil || string(got) != "null" {
		t.Errorf("nil template: %s, %v", got, err)
	}
}
