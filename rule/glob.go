package rule

import (
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"
)

// globRegexp translates a shell wildcard into an equivalent regular
// expression that must match the whole value. A star matches any run of
// characters, "/" included (unlike path.Match); "?" matches one character;
// [abc] and [a-z0-9] match one character of a set, [!a-z] or [^a-z] one
// character outside it; a backslash makes the next character stand for
// itself. A "]" right after "[" or "[!" belongs to the set. RE2 runs the
// result in time linear in the value, whatever the pattern.
func globRegexp(g string) (string, error) {
	var b strings.Builder
	b.WriteString(`(?s)\A`)
	for i := 0; i < len(g); {
		r, n := utf8.DecodeRuneInString(g[i:])
		switch r {
		case '*':
			b.WriteString(`.*`)
		case '?':
			b.WriteString(`.`)
		case '\\':
			if i+n >= len(g) {
				return "", fmt.Errorf(`column %d: "\" at the end escapes nothing`, i+1)
			}
			r, m := utf8.DecodeRuneInString(g[i+n:])
			b.WriteString(regexp.QuoteMeta(string(r)))
			n += m
		case '[':
			class, end, err := globClass(g, i)
			if err != nil {
				return "", err
			}
			b.WriteString(class)
			n = end - i
		default:
			b.WriteString(regexp.QuoteMeta(string(r)))
		}
		i += n
	}
	b.WriteString(`\z`)
	return b.String(), nil
}

// globClass translates the set that starts at g[i] == '[' and returns the
// offset after its closing "]".
func globClass(g string, i int) (string, int, error) {
	var b strings.Builder
	b.WriteByte('[')
	j := i + 1
	if j < len(g) && (g[j] == '!' || g[j] == '^') {
		b.WriteByte('^')
		j++
	}
	// char reads one member character at g[j:], which may be escaped.
	char := func() (rune, bool) {
		if j >= len(g) {
			return 0, false
		}
		if g[j] == '\\' {
			j++
			if j >= len(g) {
				return 0, false
			}
		}
		r, n := utf8.DecodeRuneInString(g[j:])
		j += n
		return r, true
	}
	for first := true; ; first = false {
		if j >= len(g) {
			return "", 0, fmt.Errorf(`column %d: "[" without a closing "]"`, i+1)
		}
		if g[j] == ']' && !first {
			break
		}
		start := j
		lo, ok := char()
		if !ok {
			return "", 0, fmt.Errorf(`column %d: "[" without a closing "]"`, i+1)
		}
		writeClassRune(&b, lo)
		if j+1 < len(g) && g[j] == '-' && g[j+1] != ']' {
			j++
			hi, ok := char()
			if !ok {
				return "", 0, fmt.Errorf(`column %d: "[" without a closing "]"`, i+1)
			}
			if hi < lo {
				return "", 0, fmt.Errorf("column %d: range %c-%c is backwards", start+1, lo, hi)
			}
			b.WriteByte('-')
			writeClassRune(&b, hi)
		}
	}
	b.WriteByte(']')
	return b.String(), j + 1, nil
}

// writeClassRune writes r so that it stands for itself inside a regular
// expression's character class.
func writeClassRune(b *strings.Builder, r rune) {
	if strings.ContainsRune(`\]-^[`, r) {
		b.WriteByte('\\')
	}
	b.WriteRune(r)
}
