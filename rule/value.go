package rule

import (
	"bytes"
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Values are what encoding/json decodes into an any: map[string]any, []any,
// string, bool, nil, and float64 or json.Number for numbers. Go integer types
// are accepted as numbers too, for callers that build documents by hand.

// number is a JSON number: exact when it is an integer that fits an int64,
// a float64 otherwise. Comparing through int64 keeps large ids exact
// (9007199254740993 != 9007199254740992), which float64 alone would not.
type number struct {
	isInt bool
	i     int64
	f     float64
}

func intNumber(i int64) number { return number{isInt: true, i: i, f: float64(i)} }

func floatNumber(f float64) number {
	if f == math.Trunc(f) && f >= -(1<<63) && f < 1<<63 {
		return intNumber(int64(f))
	}
	return number{f: f}
}

// toNumber returns v as a number when v is one.
func toNumber(v any) (number, bool) {
	switch n := v.(type) {
	case float64:
		return floatNumber(n), true
	case json.Number:
		return parseNumber(string(n))
	case int:
		return intNumber(int64(n)), true
	case int64:
		return intNumber(n), true
	case int32:
		return intNumber(int64(n)), true
	case float32:
		return floatNumber(float64(n)), true
	}
	return number{}, false
}

// parseNumber parses s when it is a number in JSON's grammar. Numbers too
// large for a float64 become ±Inf, too small ones 0.
func parseNumber(s string) (number, bool) {
	if !isJSONNumber(s) {
		return number{}, false
	}
	if i, err := strconv.ParseInt(s, 10, 64); err == nil {
		return intNumber(i), true
	}
	f, _ := strconv.ParseFloat(s, 64) // the grammar is checked: only range errors remain
	return floatNumber(f), true
}

// numeric returns v as a number when it is one or when it is a string that
// holds a JSON number (such as "1500"), as headers and form fields do.
func numeric(v any) (number, bool) {
	if s, ok := v.(string); ok {
		return parseNumber(s)
	}
	return toNumber(v)
}

// isJSONNumber reports whether s is exactly a number in JSON's grammar.
func isJSONNumber(s string) bool {
	i := 0
	digits := func() bool {
		start := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		return i > start
	}
	if i < len(s) && s[i] == '-' {
		i++
	}
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case !digits():
		return false
	}
	if i < len(s) && s[i] == '.' {
		i++
		if !digits() {
			return false
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if !digits() {
			return false
		}
	}
	return i == len(s)
}

// cmp compares a and b: -1, 0 or +1, and false when they are unordered (NaN).
func (a number) cmp(b number) (int, bool) {
	if a.isInt && b.isInt {
		switch {
		case a.i < b.i:
			return -1, true
		case a.i > b.i:
			return 1, true
		}
		return 0, true
	}
	switch {
	case a.f < b.f:
		return -1, true
	case a.f > b.f:
		return 1, true
	case a.f == b.f:
		return 0, true
	}
	return 0, false
}

// equal reports whether two JSON values are equal: same type and value,
// numbers compared numerically (1 == 1.0, but "1" != 1), lists element by
// element, objects key by key.
func equal(a, b any) bool {
	switch a := a.(type) {
	case nil:
		return b == nil
	case bool:
		b, ok := b.(bool)
		return ok && a == b
	case string:
		b, ok := b.(string)
		return ok && a == b
	case []any:
		b, ok := b.([]any)
		if !ok || len(a) != len(b) {
			return false
		}
		for i := range a {
			if !equal(a[i], b[i]) {
				return false
			}
		}
		return true
	case map[string]any:
		b, ok := b.(map[string]any)
		if !ok || len(a) != len(b) {
			return false
		}
		for k, av := range a {
			bv, ok := b[k]
			if !ok || !equal(av, bv) {
				return false
			}
		}
		return true
	}
	na, ok := toNumber(a)
	if !ok {
		return false
	}
	nb, ok := toNumber(b)
	if !ok {
		return false
	}
	c, ok := na.cmp(nb)
	return ok && c == 0
}

// fold maps s to a case-folded form: two strings are equal ignoring case
// (Unicode simple folding, as strings.EqualFold) exactly when their folded
// forms are equal, and the same holds for substrings, prefixes and suffixes.
func fold(s string) string { return strings.Map(foldRune, s) }

// foldRune maps r to the smallest rune that folds to it.
func foldRune(r rune) rune {
	if r < utf8.RuneSelf {
		if 'a' <= r && r <= 'z' {
			return r - 'a' + 'A'
		}
		return r
	}
	m := r
	for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
		m = min(m, f)
	}
	return m
}

// marshal encodes v as compact JSON without escaping <, > and &.
func marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// text is how a value reads inside a string: strings as they are, null as
// nothing, everything else as compact JSON.
func text(v any) (string, error) {
	switch v := v.(type) {
	case nil:
		return "", nil
	case string:
		return v, nil
	}
	b, err := marshal(v)
	return string(b), err
}
