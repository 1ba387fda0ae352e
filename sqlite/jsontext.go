package sqlite

import (
	"maps"
	"slices"
	"unicode/utf8"
)

// The maps every accepted webhook stores (its headers, its query) encoded
// without reflection: encoding/json spent 5% of the server's CPU on them
// while receiving (docs/PERFORMANCE.md, "Receiving, session 5"). The output
// is byte for byte marshalText's, which FuzzStringMapJSON checks.

// stringMapJSON is marshalText(m) for a map of strings.
func stringMapJSON(m map[string]string) string { return mapJSON(m, appendJSONString) }

// stringListMapJSON is marshalText(m) for a map of string lists.
func stringListMapJSON(m map[string][]string) string { return mapJSON(m, appendJSONStrings) }

// mapJSON is marshalText(m), each value appended by value: an object with
// its keys sorted.
func mapJSON[V any](m map[string]V, value func([]byte, V) []byte) string {
	keys := slices.Sorted(maps.Keys(m))
	b := make([]byte, 0, 64*len(keys)+2)
	b = append(b, '{')
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, k)
		b = append(b, ':')
		b = value(b, m[k])
	}
	return string(append(b, '}'))
}

// appendJSONStrings appends list as encoding/json writes a []string (nil
// as null).
func appendJSONStrings(b []byte, list []string) []byte {
	if list == nil {
		return append(b, "null"...)
	}
	b = append(b, '[')
	for i, v := range list {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, v)
	}
	return append(b, ']')
}

// appendJSONString appends s as encoding/json writes a string with HTML
// escaping off: quotes, backslashes and control characters escaped, U+2028
// and U+2029 escaped, invalid UTF-8 replaced by U+FFFD.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
