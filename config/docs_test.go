package config_test

import (
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/hookd/hookd/config"
)

// schemaFields walks the schema from t: every path ("" for the top level,
// "tenants[]", "tenants[].endpoints[].signatures[]"...) with the YAML
// fields of the struct found there.
func schemaFields(t reflect.Type, path string, out map[string][]string) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	var fields []string
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "" || name == "-" {
			continue
		}
		fields = append(fields, name)
		sub := name
		if path != "" {
			sub = path + "." + name
		}
		ft := f.Type
		for ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		switch {
		case ft.Kind() == reflect.Slice && structType(ft.Elem()):
			schemaFields(ft.Elem(), sub+"[]", out)
		case ft.Kind() == reflect.Struct:
			schemaFields(ft, sub, out)
		}
	}
	slices.Sort(fields)
	out[path] = fields
}

func structType(t reflect.Type) bool {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t.Kind() == reflect.Struct
}

// docFields reads the reference of docs/CONFIG.md: for every "### "
// heading of its Reference part, the paths it names in backticks ("Top
// level" is the top level) and the fields of the table under it.
func docFields(t *testing.T, doc string) map[string][]string {
	t.Helper()
	_, ref, ok := strings.Cut(doc, "\n## Reference\n")
	if !ok {
		t.Fatal("CONFIG.md has no Reference section")
	}
	out := map[string][]string{}
	pathRE := regexp.MustCompile("`([^`]+)`")
	rowRE := regexp.MustCompile("^\\| `([a-z_]+)` \\|")
	var paths []string
	for _, line := range strings.Split(ref, "\n") {
		if h, ok := strings.CutPrefix(line, "### "); ok {
			paths = nil
			for _, m := range pathRE.FindAllStringSubmatch(h, -1) {
				paths = append(paths, m[1])
			}
			if h == "Top level" {
				paths = []string{""}
			}
			if len(paths) == 0 {
				t.Errorf("heading %q names no path", h)
			}
			for _, p := range paths {
				if _, dup := out[p]; dup {
					t.Errorf("path %q documented twice", p)
				}
				out[p] = []string{}
			}
			continue
		}
		if m := rowRE.FindStringSubmatch(line); m != nil {
			if paths == nil {
				t.Errorf("table row %q under no path", line)
			}
			for _, p := range paths {
				out[p] = append(out[p], m[1])
			}
		}
	}
	for p := range out {
		slices.Sort(out[p])
	}
	return out
}

// docs/CONFIG.md documents every field of the schema, and nothing else.
func TestConfigDocMatchesSchema(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile("../docs/CONFIG.md")
	if err != nil {
		t.Fatal(err)
	}
	code := map[string][]string{}
	schemaFields(reflect.TypeOf(config.File{}), "", code)
	doc := docFields(t, string(raw))
	for path, fields := range code {
		got, ok := doc[path]
		if !ok {
			t.Errorf("CONFIG.md has no section for %q (fields %v)", path, fields)
			continue
		}
		if !slices.Equal(got, fields) {
			t.Errorf("%q: CONFIG.md documents %v, the code has %v", path, got, fields)
		}
	}
	for path := range doc {
		if _, ok := code[path]; !ok {
			t.Errorf("CONFIG.md documents %q, which the schema does not have", path)
		}
	}
	if len(code) < 12 {
		t.Fatalf("walked only %d paths: %v", len(code), code)
	}
}
