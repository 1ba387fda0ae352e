package jsondoc

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"reflect"
	"strings"
	"testing"
)

// reference decodes data as encoding/json does for Decode's contract.
func reference(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("more than one value")
	}
	return v, nil
}

func same(t *testing.T, data []byte) {
	t.Helper()
	want, werr := reference(data)
	got, err := Decode(data)
	switch {
	case werr != nil && err == nil:
		t.Fatalf("Decode(%q) = %#v, want an error like encoding/json's %v", data, got, werr)
	case werr == nil && err != nil:
		t.Fatalf("Decode(%q): %v, want %#v", data, err, want)
	case werr == nil && !reflect.DeepEqual(got, want):
		t.Fatalf("Decode(%q) = %#v, want %#v", data, got, want)
	case json.Valid(data) != (err == nil): // callers take a decoded body as valid
		t.Fatalf("Decode(%q): %v, but json.Valid says %t", data, err, json.Valid(data))
	}
}

var cases = []string{
	`{}`, `[]`, `""`, `0`, `-0`, `1.5e+10`, `-12.25E-3`, `true`, `false`, `null`, ` { "a" : [ 1 , 2 ] } `,
	`{"a":1,"a":2}`, `{"a":{"b":[{"c":null}]}}`, `[1,"x",true,null,{},[]]`, `"\u00e9\n\t\"\\\/\b\f\r"`,
	`"\ud83d\ude00"`, `"\ud83d"`, `"\ude00"`, `"\ud83d\u0041"`, `"\ud83dx"`, `"\ud83d\ud83d\ude00"`, "\"caf\xc3\xa9\"", "\"\xff\"",
	"\"\xed\xa0\x80\"", "\"\xef\xbf\xbd\"", `"9007199254740993"`, `9007199254740993`, `1e400`,
	// Invalid.
	``, ` `, `{`, `}`, `[1,]`, `{"a":1,}`, `{"a"}`, `{a:1}`, `01`, `1.`, `.5`, `1e`, `+1`, `-`, `--1`, `tru`, `nul`, `"abc`,
	"\"a\tb\"", `"\x"`, `"\u12"`, `"\u12G4"`, `1 2`, `{} {}`, `[] x`, `nan`, `"\`, "\xff", `[1 2]`, `{"a" 1}`,
}

func TestDecode(t *testing.T) {
	for _, c := range cases {
		same(t, []byte(c))
	}
	push, err := os.ReadFile("../../inbound/testdata/git/github/push.json")
	if err != nil {
		t.Fatal(err)
	}
	same(t, push)
}

// testShape is the shape DecodeShape's tests decode with: members kept
// whole, kept in part, kept empty, and (at every level) left out.
var testShape = Shape{
	"a": nil, "ab": nil, "after": nil, "é": nil,
	"b":   {"c": nil, "d": {}, "e": {"f": nil}},
	"zed": {"x": nil},
}

// prune is what DecodeShape should make of v, a document Decode returned.
func prune(v any, shape Shape) any {
	if shape == nil {
		return v
	}
	switch v := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, sub := range shape {
			if e, ok := v[k]; ok {
				out[k] = prune(e, sub)
			}
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = prune(e, shape)
		}
		return out
	}
	return v
}

// sameShape checks DecodeShape against Decode: the same documents
// refused, and what it builds what the shape selects of Decode's value.
func sameShape(t *testing.T, data []byte) {
	t.Helper()
	want, werr := Decode(data)
	got, err := DecodeShape(data, testShape)
	if (werr == nil) != (err == nil) {
		t.Fatalf("DecodeShape(%q): %v; Decode: %v", data, err, werr)
	}
	if werr != nil {
		return
	}
	if want = prune(want, testShape); !reflect.DeepEqual(got, want) {
		t.Fatalf("DecodeShape(%q) = %#v, want %#v", data, got, want)
	}
}

func TestDecodeShape(t *testing.T) {
	more := []string{
		`{"zed":{"x":[1,2,{"y":"\u00e9"}],"y":2},"after":"abc"}`, `{"z":"\ud83d"}`, `{"z":01}`, `{"z":"a` + "\t" + `b"}`,
		`{"z":"\x"}`, `{"z":[1,]}`, `{"z":{"a"}}`, `{"z":{a:1}}`, `{"z":tru}`, `{"z":"\u12G4"}`, "{\"z\":\"a\tb\"}",
		`{"z":[}`, `{"z":{]}`, `{"z":1.}`, `{"z":-}`, `{"z":"` + "\xff" + `"}`, `{"z":[[[]]],"b":[1]}`, `[{"z":1}]`,
		`{"a\u0062":1,"\u00e9":2,"é":3,"b":{"c":[{"x":1}],"d":{"x":1},"e":[{"f":1,"g":2},3],"z":{}}}`,
		`[{"b":{"c":1,"z":2}},{"a":{"z":1}},"a",[{"ab":1,"z":2}]]`, `{"b":{"e":{"f`, `{"b":{"e":{"f":1,"g":}}}`,
		`{"b":{"e":{"f":1,"g"` + "\x00" + `:1}}}`, `{"b":{"d":{"\ud800":1}}}`, `{"b":{"d":{"` + "\xff" + `":1}}}`,
	}
	for _, c := range append(cases, more...) {
		sameShape(t, []byte(c))
	}
	for _, n := range []int{MaxDepth - 1, MaxDepth} {
		sameShape(t, []byte(`{"z":`+strings.Repeat("[", n)+strings.Repeat("]", n)+"}"))
		sameShape(t, []byte(`{"b":`+strings.Repeat(`{"e":`, n-1)+"1"+strings.Repeat("}", n)))
	}
	push, err := os.ReadFile("../../inbound/testdata/git/github/push.json")
	if err != nil {
		t.Fatal(err)
	}
	sameShape(t, push)
}

func FuzzDecodeShape(f *testing.F) {
	for _, c := range cases {
		f.Add([]byte(c))
	}
	f.Add([]byte(`{"zed":{"x":[1,2,{"y":"\u00e9"}]},"after":"abc"}`))
	f.Add([]byte(`{"a\u0062":1,"b":{"c":[{"x":1}],"d":{"x":1},"e":[{"f":1,"g":2},3]}}`))
	f.Fuzz(func(t *testing.T, data []byte) { sameShape(t, data) })
}

func TestDepth(t *testing.T) {
	for _, n := range []int{MaxDepth, MaxDepth + 1} {
		same(t, []byte(strings.Repeat("[", n)+strings.Repeat("]", n)))
		same(t, []byte(strings.Repeat(`{"a":`, n)+"1"+strings.Repeat("}", n)))
	}
}

func FuzzDecode(f *testing.F) {
	for _, c := range cases {
		f.Add([]byte(c))
	}
	if push, err := os.ReadFile("../../inbound/testdata/git/github/push.json"); err == nil {
		f.Add(push)
	}
	f.Fuzz(func(t *testing.T, data []byte) { same(t, data) })
}

func BenchmarkDecode(b *testing.B) {
	push, err := os.ReadFile("../../inbound/testdata/git/github/push.json")
	if err != nil {
		b.Fatal(err)
	}
	b.Run("jsondoc", func(b *testing.B) {
		b.SetBytes(int64(len(push)))
		for b.Loop() {
			if _, err := Decode(push); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("jsondoc-shape", func(b *testing.B) {
		shape := Shape{"ref": nil, "after": nil, "before": nil, "repository": {"full_name": nil}, "sender": {"login": nil}, "pusher": {"name": nil}}
		b.SetBytes(int64(len(push)))
		for b.Loop() {
			if _, err := DecodeShape(push, shape); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.SetBytes(int64(len(push)))
		for b.Loop() {
			if _, err := reference(push); err != nil {
				b.Fatal(err)
			}
		}
	})
}
