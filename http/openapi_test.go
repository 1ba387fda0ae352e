package http_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/hookd/hookd"
	hookdhttp "github.com/hookd/hookd/http"
)

// openAPIFile is the document the server embeds and serves.
const openAPIFile = "openapi.json"

// openAPIBase is the URL the document is compiled under. It is never
// fetched: the loader refuses every URL, so only references inside the
// document (and the meta-schemas built into the library) resolve.
const openAPIBase = "https://openapi.hookd.invalid/openapi.json"

// httpMethods are the operation keys of an OpenAPI path item.
var httpMethods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

type refuseLoader struct{}

func (refuseLoader) Load(u string) (any, error) {
	return nil, fmt.Errorf("%s: the document may refer only to itself", u)
}

// openAPI is the parsed document with a compiler over it.
type openAPI struct {
	raw []byte
	doc map[string]any

	mu       sync.Mutex
	compiler *jsonschema.Compiler
	schemas  map[string]*jsonschema.Schema // by JSON pointer
	checked  map[string]bool               // "METHOD /path STATUS" of real answers checked
}

// loadOpenAPI reads and parses http/openapi.json.
func loadOpenAPI(t *testing.T) *openAPI {
	t.Helper()
	raw, err := os.ReadFile(openAPIFile)
	if err != nil {
		t.Fatal(err)
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("%s is not JSON: %v", openAPIFile, err)
	}
	doc, ok := v.(map[string]any)
	if !ok {
		t.Fatalf("%s is not a JSON object", openAPIFile)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	c.UseLoader(refuseLoader{})
	if err := c.AddResource(openAPIBase, doc); err != nil {
		t.Fatalf("%s: %v", openAPIFile, err)
	}
	return &openAPI{raw: raw, doc: doc, compiler: c, schemas: map[string]*jsonschema.Schema{}, checked: map[string]bool{}}
}

// pointer joins JSON pointer tokens, escaping each.
func pointer(tokens ...string) string {
	var b strings.Builder
	for _, t := range tokens {
		b.WriteByte('/')
		b.WriteString(strings.NewReplacer("~", "~0", "/", "~1").Replace(t))
	}
	return b.String()
}

// lookup returns the value at a JSON pointer of the document.
func (o *openAPI) lookup(ptr string) (any, bool) {
	var v any = o.doc
	if ptr == "" {
		return v, true
	}
	for _, tok := range strings.Split(ptr[1:], "/") {
		tok = strings.NewReplacer("~1", "/", "~0", "~").Replace(tok)
		switch x := v.(type) {
		case map[string]any:
			var ok bool
			if v, ok = x[tok]; !ok {
				return nil, false
			}
		case []any:
			i, err := strconv.Atoi(tok)
			if err != nil || i < 0 || i >= len(x) {
				return nil, false
			}
			v = x[i]
		default:
			return nil, false
		}
	}
	return v, true
}

// resolve follows a local $ref (of a response, parameter, header or
// schema) to the object it names and returns it with its pointer.
func (o *openAPI) resolve(t *testing.T, v any, ptr string) (map[string]any, string) {
	t.Helper()
	for range 10 {
		m, _ := v.(map[string]any)
		ref, ok := m["$ref"].(string)
		if !ok {
			return m, ptr
		}
		ptr = strings.TrimPrefix(ref, "#")
		if v, ok = o.lookup(ptr); !ok {
			t.Fatalf("$ref %q does not resolve", ref)
		}
	}
	t.Fatalf("$ref chain at %s is too long", ptr)
	return nil, ""
}

// schema compiles the schema at a JSON pointer of the document (once).
func (o *openAPI) schema(ptr string) (*jsonschema.Schema, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if sch, ok := o.schemas[ptr]; ok {
		return sch, nil
	}
	sch, err := o.compiler.Compile(openAPIBase + "#" + (&url.URL{Fragment: ptr}).EscapedFragment())
	if err != nil {
		return nil, err
	}
	o.schemas[ptr] = sch
	return sch, nil
}

// validate checks a value (parsed by jsonschema.UnmarshalJSON) against
// the schema at ptr.
func (o *openAPI) validate(ptr string, v any) error {
	sch, err := o.schema(ptr)
	if err != nil {
		return fmt.Errorf("schema %s does not compile: %v", ptr, err)
	}
	return sch.Validate(v)
}

// operations returns "METHOD /path" of every operation in the document.
func (o *openAPI) operations() map[string]map[string]any {
	out := map[string]map[string]any{}
	paths, _ := o.doc["paths"].(map[string]any)
	for path, item := range paths {
		item, _ := item.(map[string]any)
		for _, m := range httpMethods {
			if op, ok := item[m].(map[string]any); ok {
				out[strings.ToUpper(m)+" "+path] = op
			}
		}
	}
	return out
}

// openAPIOperation is the document's "METHOD /path" of a route pattern:
// a {name...} wildcard is the path parameter {name}.
func openAPIOperation(pattern string) string {
	return strings.ReplaceAll(pattern, "...}", "}")
}

// TestOpenAPIRoutes: the document describes every route the server
// registers, and nothing else.
func TestOpenAPIRoutes(t *testing.T) {
	t.Parallel()
	o := loadOpenAPI(t)
	ops := o.operations()
	routes := map[string]string{}
	for _, p := range hookdhttp.Routes() {
		routes[openAPIOperation(p)] = p
		if _, ok := ops[openAPIOperation(p)]; !ok {
			t.Errorf("route %q is not in http/openapi.json: document %s", p, openAPIOperation(p))
		}
	}
	for op := range ops {
		if _, ok := routes[op]; !ok {
			t.Errorf("http/openapi.json documents %s, which is no route of Routes()", op)
		}
	}
}

// TestOpenAPIDocument checks the document itself: its frame, that every
// $ref resolves, that every operation is complete, that every schema
// compiles (JSON Schema 2020-12) and every example and default satisfies
// its schema.
func TestOpenAPIDocument(t *testing.T) {
	t.Parallel()
	o := loadOpenAPI(t)
	if o.doc["openapi"] != "3.1.0" {
		t.Errorf("openapi = %v, want 3.1.0", o.doc["openapi"])
	}
	info, _ := o.doc["info"].(map[string]any)
	if info["title"] == nil || info["version"] == nil {
		t.Errorf("info lacks title or version: %v", info)
	}
	if servers, _ := o.doc["servers"].([]any); len(servers) != 1 || servers[0].(map[string]any)["url"] != "/" {
		t.Errorf("servers = %v, want one relative server \"/\"", o.doc["servers"])
	}
	bearer, _ := o.lookup(pointer("components", "securitySchemes", "bearer"))
	if b, _ := bearer.(map[string]any); b["type"] != "http" || b["scheme"] != "bearer" {
		t.Errorf("security scheme bearer = %v", bearer)
	}
	if sec, _ := json.Marshal(o.doc["security"]); string(sec) != `[{"bearer":[]}]` {
		t.Errorf("security = %s, want bearer for every operation that does not say otherwise", sec)
	}

	// Every $ref is local and resolves.
	walk(o.doc, "", func(v any, ptr string) {
		m, ok := v.(map[string]any)
		if !ok {
			return
		}
		if ref, ok := m["$ref"].(string); ok {
			if !strings.HasPrefix(ref, "#/") {
				t.Errorf("%s: $ref %q is not local", ptr, ref)
			} else if _, ok := o.lookup(ref[1:]); !ok {
				t.Errorf("%s: $ref %q does not resolve", ptr, ref)
			}
		}
	})
	if t.Failed() {
		t.FailNow()
	}

	templateParam := regexp.MustCompile(`\{([^}]+)\}`)
	statusKey := regexp.MustCompile(`^([1-5][0-9][0-9]|[1-5]XX)$`)
	tags := map[string]bool{}
	for _, tag := range o.doc["tags"].([]any) {
		tags[tag.(map[string]any)["name"].(string)] = true
	}
	ids := map[string]string{}
	for name, op := range o.operations() {
		method, path, _ := strings.Cut(name, " ")
		base := pointer("paths", path, strings.ToLower(method))
		if id, _ := op["operationId"].(string); id == "" {
			t.Errorf("%s has no operationId", name)
		} else if other, dup := ids[id]; dup {
			t.Errorf("%s and %s share operationId %q", name, other, id)
		} else {
			ids[id] = name
		}
		if op["summary"] == nil {
			t.Errorf("%s has no summary", name)
		}
		for _, tag := range op["tags"].([]any) {
			if !tags[tag.(string)] {
				t.Errorf("%s: tag %q is not in the document's tags", name, tag)
			}
		}
		// Path parameters: exactly the template's, all required.
		var inPath []string
		params, _ := op["parameters"].([]any)
		for i, p := range params {
			pm, pptr := o.resolve(t, p, base+pointer("parameters", strconv.Itoa(i)))
			if pm["schema"] == nil {
				t.Errorf("%s: parameter %v has no schema", name, pm["name"])
			}
			if pm["in"] == "path" {
				inPath = append(inPath, pm["name"].(string))
				if pm["required"] != true {
					t.Errorf("%s: path parameter %v is not required", name, pm["name"])
				}
			}
			o.examples(t, pm, pptr)
		}
		var template []string
		for _, m := range templateParam.FindAllStringSubmatch(path, -1) {
			template = append(template, m[1])
		}
		slices.Sort(inPath)
		slices.Sort(template)
		if !slices.Equal(inPath, template) {
			t.Errorf("%s: path parameters %v, the path has %v", name, inPath, template)
		}
		// A body and every answer with content: JSON with a schema and an example.
		if rb, ok := op["requestBody"]; ok {
			body, bptr := o.resolve(t, rb, base+"/requestBody")
			o.content(t, name+" request body", body, bptr, true)
		}
		responses, _ := op["responses"].(map[string]any)
		secured := needsCredential(op)
		if secured && responses["401"] == nil {
			t.Errorf("%s needs a credential but does not document 401", name)
		}
		if !secured && responses["401"] != nil && !strings.HasPrefix(path, "/v1/webhooks/") {
			t.Errorf("%s needs no credential but documents 401", name)
		}
		success := 0
		for status, r := range responses {
			resp, rptr := o.resolve(t, r, base+pointer("responses", status))
			if resp["description"] == nil {
				t.Errorf("%s %s: no description", name, status)
			}
			if status != "default" && !statusKey.MatchString(status) {
				t.Errorf("%s: response %q is no status", name, status)
			}
			ok2xx := strings.HasPrefix(status, "2")
			if ok2xx {
				success++
			}
			if resp["content"] != nil || (ok2xx && status != "204") {
				o.content(t, name+" "+status, resp, rptr, ok2xx)
			}
			if headers, ok := resp["headers"].(map[string]any); ok {
				for h, hv := range headers {
					hm, hptr := o.resolve(t, hv, rptr+pointer("headers", h))
					if hm["schema"] == nil {
						t.Errorf("%s %s: header %s has no schema", name, status, h)
					}
					o.examples(t, hm, hptr)
				}
			}
		}
		if success == 0 {
			t.Errorf("%s documents no successful answer", name)
		}
	}

	// Every schema compiles, and its examples and default satisfy it.
	for _, root := range []string{"components", "paths"} {
		walkSchemas(o.doc[root], pointer(root), false, func(s map[string]any, ptr string) {
			if _, err := o.schema(ptr); err != nil {
				t.Errorf("schema %s does not compile: %v", ptr, err)
				return
			}
			if list, ok := s["examples"].([]any); ok {
				for i, ex := range list {
					if err := o.validate(ptr, ex); err != nil {
						t.Errorf("%s/examples/%d fails its schema: %#v", ptr, i, err)
					}
				}
			}
			if def, ok := s["default"]; ok {
				if err := o.validate(ptr, def); err != nil {
					t.Errorf("%s/default fails its schema: %#v", ptr, err)
				}
			}
		})
	}
}

// content checks a request body or response: content with a schema for
// each media type and (if needExample) an example, and every example
// valid.
func (o *openAPI) content(t *testing.T, what string, obj map[string]any, ptr string, needExample bool) {
	t.Helper()
	content, _ := obj["content"].(map[string]any)
	if len(content) == 0 {
		t.Errorf("%s: no content", what)
		return
	}
	n := 0
	for name, v := range content {
		mt, _ := v.(map[string]any)
		if mt["schema"] == nil {
			t.Errorf("%s %s: no schema", what, name)
			continue
		}
		n += o.examples(t, mt, ptr+pointer("content", name))
	}
	if needExample && n == 0 {
		t.Errorf("%s: no example", what)
	}
}

// examples validates the example and examples of a media type,
// parameter or header against its schema and returns how many it has.
func (o *openAPI) examples(t *testing.T, obj map[string]any, ptr string) int {
	t.Helper()
	if obj["schema"] == nil {
		return 0
	}
	n := 0
	check := func(v any, where string) {
		n++
		if err := o.validate(ptr+"/schema", v); err != nil {
			t.Errorf("%s fails its schema: %#v", where, err)
		}
	}
	if ex, ok := obj["example"]; ok {
		check(ex, ptr+"/example")
	}
	if exs, ok := obj["examples"].(map[string]any); ok {
		for name, ex := range exs {
			exm, exptr := o.resolve(t, ex, ptr+pointer("examples", name))
			if v, ok := exm["value"]; ok {
				check(v, exptr+"/value")
			}
		}
	}
	return n
}

// walk calls fn for every value of v, depth first, with its pointer.
func walk(v any, ptr string, fn func(v any, ptr string)) {
	fn(v, ptr)
	switch x := v.(type) {
	case map[string]any:
		for k, c := range x {
			walk(c, ptr+pointer(k), fn)
		}
	case []any:
		for i, c := range x {
			walk(c, ptr+"/"+strconv.Itoa(i), fn)
		}
	}
}

// walkSchemas calls fn for every schema object under v: the values of
// "schema" keys and of components/schemas, and their subschemas. inSchema
// says whether v itself is a schema.
func walkSchemas(v any, ptr string, inSchema bool, fn func(s map[string]any, ptr string)) {
	switch x := v.(type) {
	case map[string]any:
		if inSchema {
			fn(x, ptr)
			for _, k := range []string{"items", "additionalProperties", "not", "contains", "propertyNames", "unevaluatedProperties", "unevaluatedItems", "if", "then", "else"} {
				walkSchemas(x[k], ptr+pointer(k), true, fn)
			}
			for _, k := range []string{"properties", "patternProperties", "$defs", "dependentSchemas"} {
				m, _ := x[k].(map[string]any)
				for name, sub := range m {
					walkSchemas(sub, ptr+pointer(k, name), true, fn)
				}
			}
			for _, k := range []string{"allOf", "anyOf", "oneOf", "prefixItems"} {
				list, _ := x[k].([]any)
				for i, sub := range list {
					walkSchemas(sub, ptr+pointer(k, strconv.Itoa(i)), true, fn)
				}
			}
			return
		}
		for k, c := range x {
			switch {
			case k == "schema":
				walkSchemas(c, ptr+pointer(k), true, fn)
			case k == "schemas" && ptr == "/components":
				for name, sub := range c.(map[string]any) {
					walkSchemas(sub, ptr+pointer(k, name), true, fn)
				}
			case k == "example" || k == "examples":
			default:
				walkSchemas(c, ptr+pointer(k), false, fn)
			}
		}
	case []any:
		if inSchema {
			return
		}
		for i, c := range x {
			walkSchemas(c, ptr+"/"+strconv.Itoa(i), false, fn)
		}
	}
}

// TestOpenAPISecrets: no GET answer declares a field that holds a secret
// (key, token, signing secret); those are in the answers that create or
// rotate them only.
func TestOpenAPISecrets(t *testing.T) {
	t.Parallel()
	o := loadOpenAPI(t)
	secretFields := map[string]bool{"key": true, "token": true, "secret": true}
	for name, op := range o.operations() {
		if !strings.HasPrefix(name, "GET ") {
			continue
		}
		method, path, _ := strings.Cut(name, " ")
		for status, r := range op["responses"].(map[string]any) {
			_, rptr := o.resolve(t, r, pointer("paths", path, strings.ToLower(method), "responses", status))
			schema, ok := o.lookup(rptr + pointer("content", "application/json", "schema"))
			if !ok {
				continue
			}
			o.fields(t, schema, map[string]bool{}, func(field string) {
				if secretFields[field] {
					t.Errorf("%s %s declares the secret field %q", name, status, field)
				}
			})
		}
	}
}

// fields calls fn with every property name reachable from schema s.
func (o *openAPI) fields(t *testing.T, s any, seen map[string]bool, fn func(string)) {
	m, ptr := o.resolve(t, s, "")
	if ptr != "" {
		if seen[ptr] {
			return
		}
		seen[ptr] = true
	}
	props, _ := m["properties"].(map[string]any)
	for name, sub := range props {
		fn(name)
		o.fields(t, sub, seen, fn)
	}
	for _, k := range []string{"items", "additionalProperties"} {
		if sub, ok := m[k].(map[string]any); ok {
			o.fields(t, sub, seen, fn)
		}
	}
	for _, k := range []string{"allOf", "anyOf", "oneOf"} {
		list, _ := m[k].([]any)
		for _, sub := range list {
			o.fields(t, sub, seen, fn)
		}
	}
}

// TestOpenAPIServed: GET /v1/openapi.json answers the file byte for byte,
// without a credential, and 304 for its ETag.
func TestOpenAPIServed(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	o := loadOpenAPI(t)
	r := e.call(t, "", "GET", "/v1/openapi.json", nil)
	if r.status != 200 || !bytes.Equal(r.raw, o.raw) {
		t.Fatalf("GET /v1/openapi.json = %d, %d bytes; want 200 and the %d bytes of %s", r.status, len(r.raw), len(o.raw), openAPIFile)
	}
	etag := r.header.Get("ETag")
	if etag == "" {
		t.Fatal("no ETag")
	}
	for _, inm := range []string{etag, "W/" + etag, `"other", ` + etag, "*"} {
		if r := e.call(t, "", "GET", "/v1/openapi.json", nil, "If-None-Match", inm); r.status != 304 || len(r.raw) != 0 || r.header.Get("ETag") != etag {
			t.Errorf("If-None-Match %s = %d %q", inm, r.status, r.raw)
		}
	}
	if r := e.call(t, "", "GET", "/v1/openapi.json", nil, "If-None-Match", `"other"`); r.status != 200 || !bytes.Equal(r.raw, o.raw) {
		t.Errorf("If-None-Match with another ETag = %d", r.status)
	}
	// A credential, even a wrong one, changes nothing.
	if r := e.call(t, "hk_wrong", "GET", "/v1/openapi.json", nil); r.status != 200 {
		t.Errorf("with a wrong key = %d %s", r.status, r.raw)
	}
}

// TestOpenAPISecurity: every operation the document says needs a
// credential answers 401 without one, and no other does.
func TestOpenAPISecurity(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	o := loadOpenAPI(t)
	names := strings.NewReplacer("{tenant}", "acme", "{id}", "x_nope", "{name}", "nope/x")
	for name, op := range o.operations() {
		method, path, _ := strings.Cut(name, " ")
		r := e.call(t, "", method, names.Replace(path), nil)
		if secured := needsCredential(op); secured != (r.status == 401) {
			t.Errorf("%s without a credential = %d %s; the document says a credential is needed: %v", name, r.status, r.raw, secured)
		}
	}
}

// needsCredential reports whether an operation needs the bearer
// credential: the document's security applies unless the operation says
// "security": [].
func needsCredential(op map[string]any) bool {
	list, ok := op["security"].([]any)
	return !ok || len(list) > 0
}

// answers checks real answers of the API against the document.
type answers struct {
	*env
	o   *openAPI
	mux *http.ServeMux // Routes(), to find the route of a request
}

func newAnswers(t *testing.T, e *env) *answers {
	t.Helper()
	a := &answers{env: e, o: loadOpenAPI(t), mux: http.NewServeMux()}
	for _, p := range hookdhttp.Routes() {
		a.mux.HandleFunc(p, func(http.ResponseWriter, *http.Request) {})
	}
	return a
}

// want calls the API like env.want and checks the answer against the
// document: the route's response for the status (405 and 500 may be
// "default") with its schema, no field the schema does not declare, and
// the headers it requires.
func (a *answers) want(t *testing.T, status int, key, method, path string, body any, hdr ...string) response {
	t.Helper()
	r := a.call(t, key, method, path, body, hdr...)
	if r.status != status {
		t.Fatalf("%s %s = %d %s, want %d", method, path, r.status, r.raw, status)
	}
	a.check(t, method, path, r)
	return r
}

func (a *answers) check(t *testing.T, method, path string, r response) {
	t.Helper()
	req, err := http.NewRequest(method, a.url+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, pattern := a.mux.Handler(req)
	for _, m := range []string{"GET", "POST", "PATCH", "DELETE"} {
		if pattern == "" && r.status == 405 { // any operation of the path: 405 is their default answer
			req.Method = m
			_, pattern = a.mux.Handler(req)
		}
	}
	if pattern == "" {
		t.Fatalf("%s %s matches no route", method, path)
	}
	name := openAPIOperation(pattern)
	m, p, _ := strings.Cut(name, " ")
	base := pointer("paths", p, strings.ToLower(m), "responses")
	status := strconv.Itoa(r.status)
	rv, ok := a.o.lookup(base + pointer(status))
	if !ok { // a range: 2XX
		status = status[:1] + "XX"
		rv, ok = a.o.lookup(base + pointer(status))
	}
	if !ok && (r.status == 405 || r.status == 500) {
		status = "default"
		rv, ok = a.o.lookup(base + pointer(status))
	}
	if !ok {
		t.Errorf("%s %s answered %d %s; the document has no %d for %s", method, path, r.status, r.raw, r.status, name)
		return
	}
	a.o.mu.Lock()
	a.o.checked[name+" "+status] = true
	a.o.mu.Unlock()
	resp, rptr := a.o.resolve(t, rv, base+pointer(status))
	headers, _ := resp["headers"].(map[string]any)
	for h, hv := range headers {
		hm, _ := a.o.resolve(t, hv, "")
		if hm["required"] == true && r.header.Get(h) == "" {
			t.Errorf("%s %s = %d without the header %s the document requires", method, path, r.status, h)
		}
	}
	if resp["content"] == nil {
		if len(r.raw) != 0 {
			t.Errorf("%s %s = %d %s; the document says no body", method, path, r.status, r.raw)
		}
		return
	}
	// The media type of the answer, or a range the document gives.
	content := resp["content"].(map[string]any)
	mediaType, _, _ := mime.ParseMediaType(r.header.Get("Content-Type"))
	if content[mediaType] == nil {
		mediaType = "*/*"
	}
	if content[mediaType] == nil {
		t.Errorf("%s %s = %d with Content-Type %q, which the document does not list", method, path, r.status, r.header.Get("Content-Type"))
		return
	}
	if mediaType != "application/json" {
		return // not JSON: nothing more to check
	}
	sptr := rptr + pointer("content", mediaType, "schema")
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(r.raw))
	if err != nil {
		t.Errorf("%s %s = %d: not JSON: %v", method, path, r.status, err)
		return
	}
	if err := a.o.validate(sptr, v); err != nil {
		var ve *jsonschema.ValidationError
		if errors.As(err, &ve) {
			err = errors.New(fmt.Sprintf("%#v", ve))
		}
		t.Errorf("%s %s = %d %s\ndoes not match %s: %v", method, path, r.status, r.raw, sptr, err)
	}
	schema, _ := a.o.lookup(sptr)
	var extra []string
	a.o.undocumented(t, schema, v, "", &extra)
	for _, f := range extra {
		t.Errorf("%s %s = %d: field %s is not in the document (%s)", method, path, r.status, f, sptr)
	}
}

// merged collects the schemas s stands for: itself with $ref followed,
// and the members of its allOf, anyOf and oneOf.
func (o *openAPI) merged(t *testing.T, s any, out []map[string]any) []map[string]any {
	m, _ := o.resolve(t, s, "")
	if m == nil {
		return out
	}
	out = append(out, m)
	for _, k := range []string{"allOf", "anyOf", "oneOf"} {
		list, _ := m[k].([]any)
		for _, sub := range list {
			out = o.merged(t, sub, out)
		}
	}
	return out
}

// undocumented appends the pointers of the fields of v that schema s does
// not declare. Objects whose schema declares neither properties nor
// additionalProperties are free-form (event data, snapshots).
func (o *openAPI) undocumented(t *testing.T, s any, v any, at string, out *[]string) {
	t.Helper()
	all := o.merged(t, s, nil)
	switch x := v.(type) {
	case map[string]any:
		props := map[string][]any{}
		var more []any // additionalProperties schemas
		declared, open := false, false
		for _, m := range all {
			if p, ok := m["properties"].(map[string]any); ok {
				declared = true
				for k, sub := range p {
					props[k] = append(props[k], sub)
				}
			}
			switch ap := m["additionalProperties"].(type) {
			case bool:
				declared = true
				open = open || ap
			case map[string]any:
				declared = true
				more = append(more, ap)
			}
		}
		if !declared || open {
			return
		}
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			subs := props[k]
			if subs == nil {
				subs = more
			}
			if subs == nil {
				*out = append(*out, at+pointer(k))
				continue
			}
			o.undocumented(t, map[string]any{"allOf": subs}, x[k], at+pointer(k), out)
		}
	case []any:
		var items []any
		for _, m := range all {
			if it, ok := m["items"]; ok {
				items = append(items, it)
			}
		}
		if items == nil {
			return
		}
		for i, el := range x {
			o.undocumented(t, map[string]any{"allOf": items}, el, at+"/"+strconv.Itoa(i), out)
		}
	}
}

// TestOpenAPIAnswers checks real answers of every kind against the
// document: the resources of the sending side, their operations, and an
// error of each common status.
func TestOpenAPIAnswers(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a := newAnswers(t, e)
	const acme = "/v1/tenants/acme"

	a.want(t, 200, "", "GET", "/healthz", nil)
	a.want(t, 200, "", "GET", "/readyz", nil)
	a.want(t, 200, "", "GET", "/v1/openapi.json", nil)

	// Tenants, keys, tokens.
	a.want(t, 201, e.super, "POST", "/v1/tenants", map[string]any{"id": "gamma", "name": "Gamma"})
	a.want(t, 409, e.super, "POST", "/v1/tenants", map[string]any{"id": "gamma"})
	a.want(t, 200, e.super, "GET", "/v1/tenants?limit=2", nil)
	a.want(t, 200, e.viewer, "GET", acme, nil)
	a.want(t, 200, e.super, "PATCH", "/v1/tenants/gamma", map[string]any{"name": "Gamma Inc."})
	a.want(t, 400, e.super, "DELETE", "/v1/tenants/gamma", nil)
	a.want(t, 204, e.super, "DELETE", "/v1/tenants/gamma?confirm=gamma", nil)
	key := a.want(t, 201, e.admin, "POST", acme+"/keys", map[string]any{"name": "ci", "role": "viewer", "ttl": "1h"}).body
	a.want(t, 200, e.viewer, "GET", acme+"/keys", nil)
	a.want(t, 204, e.admin, "DELETE", acme+"/keys/"+key["id"].(string), nil)
	super2 := a.want(t, 201, e.super, "POST", "/v1/keys", map[string]any{"name": "ops", "expires_at": "2099-01-02T15:04:05Z"}).body
	a.want(t, 200, e.super, "GET", "/v1/keys", nil)
	a.want(t, 204, e.super, "DELETE", "/v1/keys/"+super2["id"].(string), nil)
	tok := a.want(t, 201, e.admin, "POST", "/v1/tokens", nil).body["token"].(string)
	a.want(t, 201, e.admin, "POST", "/v1/tokens", map[string]any{"ttl": 600})
	a.want(t, 403, tok, "POST", "/v1/tokens", nil)

	// Event types.
	a.want(t, 201, e.admin, "POST", acme+"/event-types", map[string]any{"name": "invoice.paid", "description": "Paid.",
		"schema":  map[string]any{"type": "object", "required": []string{"amount"}, "properties": map[string]any{"amount": map[string]any{"type": "integer", "minimum": 0}}},
		"example": map[string]any{"amount": 42}})
	a.want(t, 201, tok, "POST", acme+"/event-types", map[string]any{"name": "invoice.voided"})
	a.want(t, 200, e.viewer, "GET", acme+"/event-types", nil)
	a.want(t, 200, e.viewer, "GET", acme+"/event-types?limit=1", nil)
	a.want(t, 200, e.viewer, "GET", acme+"/event-types/invoice.paid", nil)
	a.want(t, 200, e.viewer, "GET", acme+"/event-types/hookd.endpoint.disabled", nil)
	a.want(t, 200, e.admin, "PATCH", acme+"/event-types/invoice.voided", map[string]any{"deprecated": true, "example": map[string]any{"id": 1}})
	a.want(t, 400, e.admin, "DELETE", acme+"/event-types/hookd.test", nil)

	// Endpoints and their operations.
	ep := a.want(t, 201, e.admin, "POST", acme+"/endpoints", map[string]any{
		"url": "https://example.com/hook", "events": []string{"invoice.*"}, "name": "Billing", "headers": map[string]string{"X-Team": "billing"},
		"signatures": []map[string]any{{"scheme": "standard"}, {"scheme": "hmac"}}, "timeout": "10s", "retry_schedule": []any{"0s", 30, "1h"},
		"rate_limit": 5, "filter": map[string]any{"data.amount": map[string]any{"type": "gt", "pattern": 10}},
	}).body
	id := ep["id"].(string)
	epPath := acme + "/endpoints/" + id
	a.want(t, 201, e.admin, "POST", acme+"/endpoints", map[string]any{"url": "https://example.com/other", "events": []string{"*"}, "mode": "fire_and_forget"})
	a.want(t, 200, e.admin, "PATCH", epPath, map[string]any{"description": "Invoices", "max_in_flight": 4, "filter": nil})
	a.want(t, 200, e.admin, "POST", epPath+"/rotate-secret", map[string]any{"overlap": "1h"})
	a.want(t, 200, e.admin, "POST", epPath+"/rotate-secret", nil)
	a.want(t, 200, e.admin, "POST", epPath+"/test", nil)
	a.want(t, 200, e.admin, "POST", acme+"/probe", map[string]any{"url": "https://example.com/new"})
	a.want(t, 200, e.admin, "POST", epPath+"/pause", map[string]any{"reason": "Maintenance"})
	a.want(t, 200, e.admin, "POST", epPath+"/resume", nil)
	a.want(t, 200, e.admin, "POST", epPath+"/disable", nil)
	a.want(t, 409, e.admin, "POST", epPath+"/pause", nil)
	a.want(t, 200, e.admin, "POST", epPath+"/enable", map[string]any{"reason": "Fixed"})

	// Events and deliveries, one of them attempted.
	a.want(t, 202, e.admin, "POST", acme+"/events", map[string]any{"type": "invoice.paid", "data": map[string]any{"amount": 42}}, "Idempotency-Key", "k1")
	if r := a.want(t, 202, e.admin, "POST", acme+"/events", map[string]any{"type": "invoice.paid", "data": map[string]any{"amount": 42}}, "Idempotency-Key", "k1"); r.header.Get("Idempotent-Replayed") != "true" {
		t.Errorf("a repeated publish is not marked Idempotent-Replayed")
	}
	a.want(t, 422, e.admin, "POST", acme+"/events", map[string]any{"type": "invoice.paid", "data": map[string]any{"amount": -1}})
	batch := a.want(t, 202, e.admin, "POST", acme+"/events/batch", map[string]any{"events": []any{
		map[string]any{"type": "invoice.voided", "data": "x", "idempotency_key": "b1"},
		map[string]any{"type": "invoice.paid", "data": map[string]any{"amount": 100}, "id": "order-7.paid"},
	}}).body
	evID := batch["data"].([]any)[1].(map[string]any)["id"].(string)
	a.want(t, 200, e.viewer, "GET", acme+"/events/"+evID, nil)
	attempt(t, e, id)
	a.want(t, 200, e.viewer, "GET", acme+"/deliveries", nil)
	ds := a.want(t, 200, e.viewer, "GET", acme+"/deliveries?state=dead&endpoint_id="+id, nil).body["data"].([]any)
	if len(ds) != 1 {
		t.Fatalf("dead deliveries = %v", ds)
	}
	msg := ds[0].(map[string]any)["id"].(string)
	a.want(t, 200, e.viewer, "GET", acme+"/deliveries/"+msg, nil)
	a.want(t, 200, e.viewer, "GET", epPath, nil) // with stats, last status, failing since
	a.want(t, 200, e.viewer, "GET", acme+"/endpoints?state=enabled", nil)
	a.want(t, 202, e.admin, "POST", acme+"/deliveries/"+msg+"/retry", nil)
	since := e.clock.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
	a.want(t, 200, e.admin, "POST", epPath+"/recover", map[string]any{"since": since})
	a.want(t, 200, e.admin, "POST", epPath+"/replay", map[string]any{"since": since, "until": e.clock.Now().Add(time.Minute)})

	// The audit log, with before and after.
	a.want(t, 200, e.admin, "GET", acme+"/audit?action=endpoint.*", nil)
	a.want(t, 200, e.super, "GET", "/v1/audit", nil)

	// Config as code.
	file := "tenants:\n  - id: zeta\n    name: Zeta\n    endpoints:\n      - name: hooks\n        url: https://zeta.example.com/hooks\n        events: [\"*\"]\n"
	a.want(t, 200, e.super, "POST", "/v1/config/apply", map[string]any{"name": "answers.yaml", "yaml": file, "dry_run": true})
	a.want(t, 200, e.super, "POST", "/v1/config/apply", map[string]any{"name": "answers.yaml", "yaml": file})
	a.want(t, 400, e.super, "POST", "/v1/config/apply", map[string]any{"name": "answers.yaml", "yaml": "tenants: [{id: zeta, nme: x}]\n"})
	a.want(t, 200, e.admin, "GET", acme+"/config", nil)

	// Deletions.
	a.want(t, 204, e.admin, "DELETE", acme+"/event-types/invoice.voided", nil)
	a.want(t, 204, e.admin, "DELETE", epPath, nil)

	// An error of each common status.
	a.want(t, 400, e.admin, "POST", acme+"/endpoints", `{"url":`)
	a.want(t, 400, e.admin, "GET", acme+"/deliveries?limit=0", nil)
	a.want(t, 401, "", "GET", acme+"/endpoints", nil)
	a.want(t, 401, "hk_unknown", "GET", acme, nil)
	a.want(t, 403, e.viewer, "POST", acme+"/endpoints", map[string]any{"url": "https://example.com/x", "events": []string{"*"}})
	a.want(t, 403, e.admin, "GET", "/v1/tenants", nil)
	a.want(t, 404, e.admin, "GET", acme+"/endpoints/ep_nope", nil)
	a.want(t, 404, e.other, "GET", acme, nil)
	a.want(t, 413, e.admin, "POST", acme+"/endpoints", `{"name":"`+strings.Repeat("x", 1<<20)+`"}`)
	a.want(t, 415, e.admin, "POST", acme+"/events", `type=a`, "Content-Type", "application/x-www-form-urlencoded")
	a.want(t, 405, e.admin, "PUT", acme+"/endpoints", nil)
	e.spy.fail("FindEndpoints", hookd.Errorf(hookd.EUNAVAILABLE, "down"))
	a.want(t, 503, e.admin, "GET", acme+"/endpoints", nil)
	e.spy.fail("FindTenant", hookd.Errorf(hookd.EUNAVAILABLE, "down"))
	a.want(t, 503, "", "GET", "/readyz", nil)
	e.spy.fail("FindTenant", nil)

	// 429, and 503 from a server that sends no test requests.
	limited := newAnswers(t, newEnv(t, func(c *hookdhttp.Config) { c.ClientRate, c.ClientBurst, c.Tester = 0.001, 2, nil }))
	limited.want(t, 503, limited.admin, "POST", acme+"/probe", map[string]any{"url": "https://example.com/new"})
	limited.want(t, 200, "", "GET", "/v1/openapi.json", nil)
	limited.want(t, 429, limited.admin, "GET", acme, nil)
	limited.want(t, 429, "", "GET", "/v1/openapi.json", nil)

	inboundAnswers(t, a)

	var missing []string
	for name, op := range a.o.operations() {
		ok := false
		for status := range op["responses"].(map[string]any) {
			ok = ok || (strings.HasPrefix(status, "2") && (a.o.checked[name+" "+status] || limited.o.checked[name+" "+status]))
		}
		if !ok {
			missing = append(missing, name)
		}
	}
	sort.Strings(missing)
	t.Logf("operations without a real successful answer checked here: %d of %d %v", len(missing), len(a.o.operations()), missing)
}

// attempt makes one delivery of endpoint id dead after a failed attempt
// and another succeed, as a dispatcher would.
func attempt(t *testing.T, e *env, id string) {
	t.Helper()
	ctx := context.Background()
	claimed, err := e.store.ClaimDeliveries(ctx, hookd.Claim{Owner: "t", Now: time.Now().Add(time.Hour), Limit: 100, Lease: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	var rs []*hookd.DeliveryResult
	for _, c := range claimed {
		if c.EndpointID != id {
			continue
		}
		r := &hookd.DeliveryResult{DeliveryID: c.ID, TenantID: "acme", EndpointID: id, Owner: "t", State: hookd.DeliveryDead,
			Attempt: hookd.Attempt{Number: 1, Trigger: hookd.TriggerScheduled, URL: "https://example.com/hook", StartedAt: e.clock.Now(),
				DurationMS: 12.5, StatusCode: 500, ResponseHeaders: map[string]string{"Content-Type": "text/plain"}, ResponseBody: "boom",
				Error: "HTTP 500", ErrorClass: hookd.ErrClassHTTP}}
		if len(rs) > 0 {
			r.State, r.Attempt.StatusCode, r.Attempt.Error, r.Attempt.ErrorClass, r.Attempt.ResponseBody = hookd.DeliverySucceeded, 200, "", "", ""
		}
		rs = append(rs, r)
	}
	if len(rs) < 2 {
		t.Fatalf("claimed %d deliveries of the endpoint, want 2 or more", len(rs))
	}
	if err := e.store.CompleteDeliveries(ctx, rs[:2]); err != nil {
		t.Fatal(err)
	}
}

// inboundAnswers checks answers of the receiving side: sources, rules,
// webhooks, generic triggers, triggers and runs.
func inboundAnswers(t *testing.T, a *answers) {
	t.Helper()
	const acme = "/v1/tenants/acme"
	secret := "a-github-webhook-secret"
	src := a.want(t, 201, a.admin, "POST", acme+"/sources", map[string]any{"name": "/github/acme-api/", "description": "Pushes",
		"verifier": map[string]any{"type": "github", "secrets": []string{secret}}, "content_types": []string{"json"}}).body
	a.want(t, 201, a.admin, "POST", acme+"/sources", map[string]any{"name": "open/ci", "verifier": map[string]any{"type": "none"},
		"response":   map[string]any{"status": 200, "body": `{"ok":true}`, "content_type": "application/json"},
		"rate_limit": 50, "heartbeat_every": "1h", "dedup_window": 600})
	a.want(t, 201, a.admin, "POST", acme+"/sources", map[string]any{"name": "hmac/x", "verifier": map[string]any{"type": "hmac", "secrets": []string{"k"},
		"header": "X-Sig", "algorithm": "sha512", "encoding": "base64", "prefix": "v1=", "timestamp_header": "X-Ts", "tolerance": "1m"}})
	a.want(t, 409, a.other, "POST", "/v1/tenants/beta/sources", map[string]any{"name": "open/ci", "verifier": map[string]any{"type": "none"}})
	a.want(t, 200, a.viewer, "GET", acme+"/sources", nil)
	a.want(t, 200, a.viewer, "GET", acme+"/sources/"+src["id"].(string), nil)
	a.want(t, 200, a.viewer, "GET", acme+"/sources/open%2Fci", nil)
	a.want(t, 200, a.admin, "PATCH", acme+"/sources/hmac%2Fx", map[string]any{"description": "d", "response": nil, "verifier": map[string]any{"header": "X-Sig", "timestamp_header": "X-Ts", "tolerance": "2m"}})

	// Webhooks: a custom response, a signed request (twice), refusals.
	if r := a.want(t, 200, "", "POST", "/v1/webhooks/open/ci", map[string]any{"status": "passed"}); string(r.raw) != `{"ok":true}` {
		t.Errorf("custom response = %s", r.raw)
	}
	body := `{"ref":"refs/heads/main","after":"9c2d1f0","repository":{"full_name":"acme/api"},"pusher":{"name":"octocat"}}`
	sig := hmacHex(secret, body)
	trg := a.want(t, 202, "", "POST", "/v1/webhooks/github/acme-api", body,
		"X-Hub-Signature-256", sig, "X-GitHub-Event", "push", "X-GitHub-Delivery", "d-1").body["id"].(string)
	if r := a.want(t, 202, "", "POST", "/v1/webhooks/github/acme-api", body,
		"X-Hub-Signature-256", sig, "X-GitHub-Event", "push", "X-GitHub-Delivery", "d-1"); r.header.Get("Idempotent-Replayed") != "true" {
		t.Error("a repeated delivery id is not marked Idempotent-Replayed")
	}
	a.want(t, 401, "", "POST", "/v1/webhooks/github/acme-api", body, "X-Hub-Signature-256", "sha256=00")
	a.want(t, 415, "", "POST", "/v1/webhooks/github/acme-api", "a=1", "X-Hub-Signature-256", hmacHex(secret, "a=1"), "Content-Type", "text/plain")
	a.want(t, 400, "", "POST", "/v1/webhooks/github/acme-api", "{", "X-Hub-Signature-256", hmacHex(secret, "{"))
	a.want(t, 404, "", "POST", "/v1/webhooks/nope", body)
	a.want(t, 405, "", "GET", "/v1/webhooks/open/ci", nil)

	// Generic triggers, StackStorm style too.
	a.want(t, 202, a.admin, "POST", "/v1/triggers", map[string]any{"trigger": "ci.done", "payload": map[string]any{"job": "build"}}, "Idempotency-Key", "g-1")
	a.want(t, 202, a.super, "POST", "/v1/triggers?tenant=acme", map[string]any{"trigger": "ci.done"})
	a.want(t, 400, a.super, "POST", "/v1/triggers", map[string]any{"trigger": "ci.done"})
	a.want(t, 403, a.viewer, "POST", "/v1/triggers", map[string]any{"trigger": "ci.done"})
	a.want(t, 202, "", "POST", "/v1/webhooks/st2?api_key="+a.admin, map[string]any{"trigger": "ci.done", "payload": 1})
	a.want(t, 202, "", "POST", "/v1/webhooks/st2", map[string]any{"trigger": "ci.done"}, "St2-Api-Key", a.admin)
	a.want(t, 401, "", "POST", "/v1/webhooks/st2", map[string]any{"trigger": "ci.done"})

	// Rules, and what they would do.
	rl := a.want(t, 201, a.admin, "POST", acme+"/rules", map[string]any{"name": "deploy-api", "description": "Deploy",
		"git": map[string]any{"event": "push", "repo": "acme/api", "branch": "main"}, "source": "github/acme-api",
		"criteria": map[string]any{"trigger.git.deleted": map[string]any{"type": "equals", "pattern": false}},
		"action":   map[string]any{"type": "publish", "event_type": "invoice.paid", "data": map[string]any{"amount": 1, "sha": "{{ trigger.git.sha }}"}}}).body
	a.want(t, 201, a.admin, "POST", acme+"/rules", map[string]any{"name": "forward-ci", "trigger": "ci.done", "enabled": false,
		"action": map[string]any{"type": "forward", "url": "https://example.com/ci", "forward_headers": []string{"X-Request-Id"},
			"headers": map[string]string{"X-From": "hookd"}, "retry_schedule": []any{"0s", 5}, "timeout": "10s"}})
	a.want(t, 409, a.admin, "POST", acme+"/rules", map[string]any{"name": "forward-ci", "trigger": "ci.done", "action": map[string]any{"type": "publish", "event_type": "x"}})
	a.want(t, 200, a.viewer, "GET", acme+"/rules", nil)
	a.want(t, 200, a.viewer, "GET", acme+"/rules/deploy-api", nil)
	a.want(t, 200, a.admin, "PATCH", acme+"/rules/"+rl["id"].(string), map[string]any{"description": "Deploy the API", "criteria": nil})
	a.want(t, 200, a.admin, "PATCH", acme+"/rules/forward-ci", map[string]any{"enabled": true, "git": nil})
	stored := a.want(t, 200, a.viewer, "GET", acme+"/triggers/"+trg, nil).body
	a.want(t, 200, a.viewer, "POST", acme+"/rules/test", map[string]any{"rule": "deploy-api", "trigger": stored})
	a.want(t, 200, a.viewer, "POST", acme+"/rules/test", map[string]any{
		"criteria": map[string]any{"trigger.body.commits": map[string]any{"type": "search", "condition": "any",
			"pattern": map[string]any{"item.id": map[string]any{"type": "eq", "pattern": "a"}}}},
		"trigger": map[string]any{"body": map[string]any{"commits": []any{map[string]any{"id": "a"}}}, "query": map[string]any{"x": []string{"1", "2"}}}})

	// Triggers and runs, as the rule runner would leave them.
	ctx := context.Background()
	claimed, err := a.store.ClaimTriggers(ctx, "t", a.clock.Now(), time.Minute, 100)
	if err != nil || len(claimed) == 0 {
		t.Fatalf("claim triggers: %v, %d", err, len(claimed))
	}
	for _, c := range claimed {
		var runs []*hookd.Run
		if c.ID == trg {
			runs = []*hookd.Run{{RuleID: rl["id"].(string), RuleName: "deploy-api", Action: hookd.Action{Type: hookd.ActionPublish, EventType: "invoice.paid", Data: json.RawMessage(`{"amount":1}`)}}}
		}
		if err := a.store.ProcessTrigger(ctx, c.ID, "t", runs, a.clock.Now()); err != nil {
			t.Fatal(err)
		}
	}
	leased, err := a.store.ClaimRuns(ctx, "t", a.clock.Now().Add(time.Second), time.Minute, 10)
	if err != nil || len(leased) != 1 {
		t.Fatalf("claim runs: %v, %d", err, len(leased))
	}
	exit := 0
	err = a.store.CompleteRuns(ctx, []*hookd.RunUpdate{{ID: leased[0].ID, Owner: "t", Status: hookd.RunSucceeded, At: a.clock.Now(),
		Result: &hookd.RunResult{EventID: "evt_x", ExitCode: &exit, Output: "ok", DurationMS: 2.5}}})
	if err != nil {
		t.Fatal(err)
	}
	a.want(t, 200, a.viewer, "GET", acme+"/triggers", nil)
	a.want(t, 200, a.viewer, "GET", acme+"/triggers?source=github/acme-api&limit=1", nil)
	a.want(t, 200, a.viewer, "GET", acme+"/triggers?name=ci.done", nil)
	a.want(t, 200, a.viewer, "GET", acme+"/triggers/"+trg, nil)
	a.want(t, 200, a.viewer, "GET", acme+"/runs", nil)
	a.want(t, 200, a.viewer, "GET", acme+"/runs?rule=deploy-api&status=succeeded", nil)
	a.want(t, 200, a.viewer, "GET", acme+"/runs/"+leased[0].ID, nil)
	a.want(t, 400, a.viewer, "GET", acme+"/runs?status=done", nil)
	a.want(t, 404, a.viewer, "GET", acme+"/runs/run_nope", nil)
	a.want(t, 202, a.admin, "POST", acme+"/triggers/"+trg+"/replay", nil)

	// Deletions.
	a.want(t, 204, a.admin, "DELETE", acme+"/rules/forward-ci", nil)
	a.want(t, 204, a.admin, "DELETE", acme+"/sources/hmac%2Fx", nil)
}

// hmacHex is GitHub's signature of body: sha256= and the hex HMAC-SHA256.
func hmacHex(secret, body string) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(body))
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}
