// Package jsondoc decodes a JSON document into the values encoding/json
// gives an `any` with UseNumber — map[string]any, []any, string,
// json.Number, bool and nil — in one pass and about three times faster.
//
// It exists for the receiving path, which decodes every webhook body
// twice (to check and read it when it arrives, and to match rules against
// it); the profile in docs/PERFORMANCE.md ("Receiving") showed
// encoding/json's decoding of a 6 KB GitHub push as the largest single
// cost. The fuzz test checks that Decode accepts exactly what
// encoding/json accepts and returns the same value.
package jsondoc

import (
	"encoding/json"
	"errors"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// MaxDepth is the deepest nesting of arrays and objects Decode takes, as
// encoding/json.
const MaxDepth = 10000

// ErrSyntax is returned for anything encoding/json would not decode: not
// one JSON value (surrounded by white space only), or nested deeper than
// MaxDepth. It does not say where; callers that show a message decode
// again with encoding/json for its error.
var ErrSyntax = errors.New("jsondoc: invalid JSON")

// Decode returns the value of the JSON document data, as
// json.NewDecoder(bytes.NewReader(data)) with UseNumber decodes it into an
// `any`: objects as map[string]any (a repeated key keeps its last value),
// arrays as []any, numbers as json.Number (their text), strings with
// invalid UTF-8 and unpaired surrogates replaced by U+FFFD. Unlike one
// Decode of a json.Decoder, data must hold exactly one value.
func Decode(data []byte) (any, error) { return DecodeShape(data, nil) }

// A Shape says what of a JSON value DecodeShape builds. Of an object, the
// members it names, each decoded with the Shape it maps the key to; of an
// array, each element with the Shape itself; any other value whole. A nil
// Shape is the whole value; an empty one, of an object, no member.
type Shape map[string]Shape

// DecodeShape is Decode for a caller that reads only some members of the
// objects in a document: what shape leaves out is checked as Decode
// checks it (so exactly the same documents are refused) but not built.
// The receiving path reads a few of a webhook's members when it arrives
// (the git fields, Stripe's id); building the rest, such as the hundred
// members of a GitHub repository object, cost most of its decoding
// (docs/PERFORMANCE.md, "Receiving").
func DecodeShape(data []byte, shape Shape) (any, error) {
	d := decoder{data: data}
	d.space()
	v, ok := d.value(0, shape)
	if !ok {
		return nil, ErrSyntax
	}
	d.space()
	if d.i != len(d.data) {
		return nil, ErrSyntax
	}
	return v, nil
}

type decoder struct {
	data []byte
	i    int
}

func (d *decoder) space() {
	for d.i < len(d.data) {
		switch d.data[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

// value decodes the value at d.i (after white space), nested depth deep,
// building what shape selects.
func (d *decoder) value(depth int, shape Shape) (any, bool) {
	if d.i >= len(d.data) {
		return nil, false
	}
	switch c := d.data[d.i]; {
	case c == '{':
		return d.object(depth+1, shape)
	case c == '[':
		return d.array(depth+1, shape)
	case c == '"':
		s, ok := d.string()
		return s, ok
	case c == '-' || c >= '0' && c <= '9':
		return d.number()
	case c == 't':
		return true, d.literal("true")
	case c == 'f':
		return false, d.literal("false")
	case c == 'n':
		return nil, d.literal("null")
	}
	return nil, false
}

func (d *decoder) literal(word string) bool {
	if len(d.data)-d.i < len(word) || string(d.data[d.i:d.i+len(word)]) != word {
		return false
	}
	d.i += len(word)
	return true
}

func (d *decoder) object(depth int, shape Shape) (any, bool) {
	if depth > MaxDepth {
		return nil, false
	}
	d.i++ // {
	m := map[string]any{}
	d.space()
	if d.i < len(d.data) && d.data[d.i] == '}' {
		d.i++
		return m, true
	}
	for {
		if d.i >= len(d.data) || d.data[d.i] != '"' {
			return nil, false
		}
		k, sub, keep, ok := d.key(shape)
		if !ok {
			return nil, false
		}
		d.space()
		if d.i >= len(d.data) || d.data[d.i] != ':' {
			return nil, false
		}
		d.i++
		d.space()
		if !keep {
			if !d.skip(depth) {
				return nil, false
			}
		} else {
			v, ok := d.value(depth, sub)
			if !ok {
				return nil, false
			}
			m[k] = v
		}
		d.space()
		if d.i >= len(d.data) {
			return nil, false
		}
		switch d.data[d.i] {
		case ',':
			d.i++
			d.space()
		case '}':
			d.i++
			return m, true
		default:
			return nil, false
		}
	}
}

func (d *decoder) array(depth int, shape Shape) (any, bool) {
	if depth > MaxDepth {
		return nil, false
	}
	d.i++ // [
	a := []any{}
	d.space()
	if d.i < len(d.data) && d.data[d.i] == ']' {
		d.i++
		return a, true
	}
	for {
		v, ok := d.value(depth, shape)
		if !ok {
			return nil, false
		}
		a = append(a, v)
		d.space()
		if d.i >= len(d.data) {
			return nil, false
		}
		switch d.data[d.i] {
		case ',':
			d.i++
			d.space()
		case ']':
			d.i++
			return a, true
		default:
			return nil, false
		}
	}
}

// number checks the JSON number grammar and returns its text.
func (d *decoder) number() (any, bool) {
	start := d.i
	if !d.scanNumber() {
		return nil, false
	}
	return json.Number(d.data[start:d.i]), true
}

// scanNumber moves past the number at d.i if it follows the grammar.
func (d *decoder) scanNumber() bool {
	b, i := d.data, d.i
	if b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		for i++; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
		}
	default:
		return false
	}
	if i < len(b) && b[i] == '.' {
		i++
		if i >= len(b) || b[i] < '0' || b[i] > '9' {
			return false
		}
		for ; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i >= len(b) || b[i] < '0' || b[i] > '9' {
			return false
		}
		for ; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
		}
	}
	d.i = i
	return true
}

// key decodes the member name at d.i (its opening quote) and looks it up
// in shape: keep reports whether the member is built, with sub as its
// shape. A plain name that shape leaves out is not copied.
func (d *decoder) key(shape Shape) (k string, sub Shape, keep, ok bool) {
	if shape == nil {
		k, ok = d.string()
		return k, nil, true, ok
	}
	start, i := d.plain()
	switch {
	case i == len(d.data):
		return "", nil, false, false
	case d.data[i] == '"':
		d.i = i + 1
		if sub, keep = shape[string(d.data[start:i])]; keep {
			k = string(d.data[start:i])
		}
		return k, sub, keep, true
	}
	if k, ok = d.slowString(start, i); !ok {
		return "", nil, false, false
	}
	sub, keep = shape[k]
	return k, sub, keep, true
}

// string decodes the string at d.i (its opening quote).
func (d *decoder) string() (string, bool) {
	start, i := d.plain()
	switch {
	case i == len(d.data):
		return "", false
	case d.data[i] == '"':
		d.i = i + 1
		return string(d.data[start:i]), true
	}
	return d.slowString(start, i)
}

// plain scans the string opening at d.i for its plain start (printable
// ASCII without escapes, as most strings are): it stops at i, the closing
// quote, the first byte that needs slowString, or the end of the data.
func (d *decoder) plain() (start, i int) {
	b := d.data
	start = d.i + 1
	for i = start; i < len(b); i++ {
		if c := b[i]; c == '"' || c == '\\' || c < 0x20 || c >= utf8.RuneSelf {
			return start, i
		}
	}
	return start, len(b)
}

// slowString decodes a string with escapes or non-ASCII bytes from i on;
// b[start:i] is plain.
func (d *decoder) slowString(start, i int) (string, bool) {
	b := d.data
	out := make([]byte, 0, i-start+16)
	out = append(out, b[start:i]...)
	for i < len(b) {
		switch c := b[i]; {
		case c == '"':
			d.i = i + 1
			return string(out), true
		case c < 0x20:
			return "", false
		case c == '\\':
			if i+1 >= len(b) {
				return "", false
			}
			switch e := b[i+1]; e {
			case '"', '\\', '/':
				out = append(out, e)
			case 'b':
				out = append(out, '\b')
			case 'f':
				out = append(out, '\f')
			case 'n':
				out = append(out, '\n')
			case 'r':
				out = append(out, '\r')
			case 't':
				out = append(out, '\t')
			case 'u':
				r, ok := hex4(b[i+2:])
				if !ok {
					return "", false
				}
				i += 6
				if utf16.IsSurrogate(r) {
					// A pair makes one rune; anything else, U+FFFD (and
					// the next escape is read on its own).
					if len(b) >= i+6 && b[i] == '\\' && b[i+1] == 'u' {
						if r2, ok := hex4(b[i+2:]); ok {
							if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
								out = utf8.AppendRune(out, dec)
								i += 6
								continue
							}
						}
					}
					r = utf8.RuneError
				}
				out = utf8.AppendRune(out, r)
				continue
			default:
				return "", false
			}
			i += 2
		case c < utf8.RuneSelf:
			out = append(out, c)
			i++
		default:
			r, size := utf8.DecodeRune(b[i:])
			if r == utf8.RuneError && size == 1 {
				out = utf8.AppendRune(out, utf8.RuneError)
			} else {
				out = append(out, b[i:i+size]...)
			}
			i += size
		}
	}
	return "", false
}

// skip moves past the value at d.i (after white space), nested depth
// deep, if value would decode it, building nothing.
func (d *decoder) skip(depth int) bool {
	if d.i >= len(d.data) {
		return false
	}
	switch c := d.data[d.i]; {
	case c == '{' || c == '[':
		return d.skipContainer(depth+1, c)
	case c == '"':
		return d.skipString()
	case c == '-' || c >= '0' && c <= '9':
		return d.scanNumber()
	case c == 't':
		return d.literal("true")
	case c == 'f':
		return d.literal("false")
	case c == 'n':
		return d.literal("null")
	}
	return false
}

// skipContainer moves past the object or array opened by open at d.i.
func (d *decoder) skipContainer(depth int, open byte) bool {
	if depth > MaxDepth {
		return false
	}
	closing := byte(']')
	if open == '{' {
		closing = '}'
	}
	d.i++
	d.space()
	if d.i < len(d.data) && d.data[d.i] == closing {
		d.i++
		return true
	}
	for {
		if open == '{' {
			if d.i >= len(d.data) || d.data[d.i] != '"' || !d.skipString() {
				return false
			}
			d.space()
			if d.i >= len(d.data) || d.data[d.i] != ':' {
				return false
			}
			d.i++
			d.space()
		}
		if !d.skip(depth) {
			return false
		}
		d.space()
		if d.i >= len(d.data) {
			return false
		}
		switch d.data[d.i] {
		case ',':
			d.i++
			d.space()
		case closing:
			d.i++
			return true
		default:
			return false
		}
	}
}

// skipString moves past the string at d.i (its opening quote) if string
// would decode it: no control characters, only valid escapes. Any other
// byte is taken (string replaces invalid UTF-8).
func (d *decoder) skipString() bool {
	b := d.data
	for i := d.i + 1; i < len(b); {
		switch c := b[i]; {
		case c == '"':
			d.i = i + 1
			return true
		case c < 0x20:
			return false
		case c == '\\':
			if i+1 >= len(b) {
				return false
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if _, ok := hex4(b[i+2:]); !ok {
					return false
				}
				i += 6
			default:
				return false
			}
		default:
			i++
		}
	}
	return false
}

// hex4 reads the four hex digits of a \u escape.
func hex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	for _, c := range b[:4] {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return 0, false
		}
	}
	n, err := strconv.ParseUint(string(b[:4]), 16, 32)
	return rune(n), err == nil
}
