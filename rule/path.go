package rule

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// A path names a value inside a document: trigger.body.commits.0.id. It is
// a list of segments; each is an object key or, when the value it is applied
// to is a list, a decimal index.
type path []segment

type segment struct {
	key  string
	fold bool // match object keys case-insensitively (see CaseInsensitive)
}

// lookup returns the value at p inside v and whether it exists.
func (p path) lookup(v any) (any, bool) {
	for _, s := range p {
		switch c := v.(type) {
		case map[string]any:
			x, ok := c[s.key]
			if !ok && s.fold {
				x, ok = lookupFold(c, s.key)
			}
			if !ok {
				return nil, false
			}
			v = x
		case []any:
			i, ok := index(s.key, len(c))
			if !ok {
				return nil, false
			}
			v = c[i]
		default:
			return nil, false
		}
	}
	return v, true
}

// lookupFold finds key in m ignoring case. When several keys differ from
// key only in case, the smallest in byte order wins, so the answer does not
// depend on map iteration order.
func lookupFold(m map[string]any, key string) (any, bool) {
	var best string
	found := false
	for k := range m {
		if strings.EqualFold(k, key) && (!found || k < best) {
			best, found = k, true
		}
	}
	return m[best], found
}

// index parses key as an index into a list of n elements: a decimal number
// without sign or leading zeros, less than n.
func index(key string, n int) (int, bool) {
	if key == "" || len(key) > 1 && key[0] == '0' {
		return 0, false
	}
	i := 0
	for j := 0; j < len(key); j++ {
		d := key[j]
		if d < '0' || d > '9' {
			return 0, false
		}
		i = i*10 + int(d-'0')
		if i >= n {
			return 0, false
		}
	}
	return i, true
}

// String returns p in its canonical form: bare keys joined by dots and
// ["quoted"] keys where a key holds other characters.
func (p path) String() string {
	var b strings.Builder
	for i, s := range p {
		if isBareKey(s.key) {
			if i > 0 {
				b.WriteByte('.')
			}
			b.WriteString(s.key)
			continue
		}
		q, _ := json.Marshal(s.key) // a string always marshals
		b.WriteByte('[')
		b.Write(q)
		b.WriteByte(']')
	}
	return b.String()
}

// isBare reports whether r may appear in a key written without brackets.
func isBare(r rune) bool {
	if unicode.IsSpace(r) || unicode.IsControl(r) {
		return false
	}
	return !strings.ContainsRune(`.[]|(){}"',`, r)
}

// bareLen returns the length of the run of bare characters at s[i:].
func bareLen(s string, i int) int {
	j := i
	for j < len(s) {
		r, n := utf8.DecodeRuneInString(s[j:])
		if !isBare(r) {
			break
		}
		j += n
	}
	return j - i
}

func isBareKey(k string) bool { return k != "" && bareLen(k, 0) == len(k) }

// parsePath parses the path at s[i:] and returns it with the offset just
// after it. The path ends before the first character that cannot continue
// it; the caller decides whether that character may follow.
//
//	path    = segment { "." bare | bracket }
//	segment = bare | bracket
//	bracket = "[" ( digits | string ) "]"
//
// A string is double-quoted with JSON escapes, or single-quoted with the
// same escapes plus \'.
func parsePath(s string, i int) (path, int, *syntaxError) {
	var p path
	for {
		switch {
		case i < len(s) && s[i] == '[':
			key, end, err := parseBracket(s, i)
			if err != nil {
				return nil, 0, err
			}
			p, i = append(p, segment{key: key}), end
		case len(p) == 0 || i < len(s) && s[i] == '.':
			if len(p) > 0 {
				i++ // the dot
			}
			n := bareLen(s, i)
			if n == 0 {
				if len(p) == 0 {
					return nil, 0, &syntaxError{i, "expected a path"}
				}
				return nil, 0, &syntaxError{i, `expected a key after "."`}
			}
			p, i = append(p, segment{key: s[i : i+n]}), i+n
		default:
			return p, i, nil
		}
	}
}

// parseBracket parses ["key"], ['key'] or [digits] at s[i:].
func parseBracket(s string, i int) (string, int, *syntaxError) {
	j := i + 1
	var key string
	switch {
	case j < len(s) && (s[j] == '"' || s[j] == '\''):
		k, end, err := parseString(s, j)
		if err != nil {
			return "", 0, err
		}
		key, j = k, end
	case j < len(s) && s[j] >= '0' && s[j] <= '9':
		for j < len(s) && s[j] >= '0' && s[j] <= '9' {
			j++
		}
		key = s[i+1 : j]
	default:
		return "", 0, &syntaxError{j, `expected a quoted key or an index after "["`}
	}
	if j >= len(s) || s[j] != ']' {
		return "", 0, &syntaxError{j, `missing "]"`}
	}
	return key, j + 1, nil
}

// parseString parses the quoted string at s[i:] (s[i] is " or ') and
// returns its value and the offset after the closing quote.
func parseString(s string, i int) (string, int, *syntaxError) {
	q := s[i]
	j := i + 1
	for ; j < len(s) && s[j] != q; j++ {
		if s[j] == '\\' {
			j++
		}
	}
	if j >= len(s) {
		return "", 0, &syntaxError{i, "unterminated string"}
	}
	lit := s[i : j+1]
	if q == '\'' {
		// Rewrite as a JSON string: \' becomes ', a bare " is escaped.
		var b strings.Builder
		b.WriteByte('"')
		for k := i + 1; k < j; k++ {
			switch c := s[k]; {
			case c == '\\' && s[k+1] == '\'':
				b.WriteByte('\'')
				k++
			case c == '\\':
				b.WriteString(s[k : k+2])
				k++
			case c == '"':
				b.WriteString(`\"`)
			default:
				b.WriteByte(c)
			}
		}
		b.WriteByte('"')
		lit = b.String()
	}
	var v string
	if err := json.Unmarshal([]byte(lit), &v); err != nil {
		return "", 0, &syntaxError{i, "invalid string " + s[i:j+1] + " (escapes are as in JSON)"}
	}
	return v, j + 1, nil
}

// parseFullPath parses s as one path with nothing after it.
func parseFullPath(s string) (path, *syntaxError) {
	p, end, err := parsePath(s, 0)
	if err != nil {
		return nil, err
	}
	if end < len(s) {
		r, _ := utf8.DecodeRuneInString(s[end:])
		return nil, &syntaxError{end, fmt.Sprintf(`unexpected %q (quote keys holding such characters: a["b c"])`, r)}
	}
	return p, nil
}

// Option changes how Compile, CompileTemplate, Render and RenderString
// resolve paths.
type Option func(*options)

type options struct {
	fold []string
}

// CaseInsensitive makes object keys below each prefix match regardless of
// case. With CaseInsensitive("trigger.headers"), the path
// trigger.headers.x-github-event finds the key "X-Github-Event". A key that
// matches exactly wins; among keys that differ only in case, the smallest in
// byte order is used. The prefix itself is matched exactly. A prefix that is
// not a valid path makes the compiling function return an *Error.
func CaseInsensitive(prefixes ...string) Option {
	return func(o *options) { o.fold = append(o.fold, prefixes...) }
}

// config is the resolved form of a list of options.
type config struct {
	fold []path
}

func newConfig(opts []Option) (*config, error) {
	var o options
	for _, opt := range opts {
		if opt != nil {
			opt(&o)
		}
	}
	c := &config{}
	for _, s := range o.fold {
		p, err := parseFullPath(s)
		if err != nil {
			e := err.at(s)
			e.Msg = "CaseInsensitive prefix: " + e.Msg
			return nil, e
		}
		c.fold = append(c.fold, p)
	}
	return c, nil
}

// resolve marks the segments of p that lie below a case-insensitive prefix.
func (c *config) resolve(p path) path {
	for _, pre := range c.fold {
		if len(p) > len(pre) && slices.EqualFunc(p[:len(pre)], pre, func(a, b segment) bool { return a.key == b.key }) {
			for i := len(pre); i < len(p); i++ {
				p[i].fold = true
			}
		}
	}
	return p
}
