package rule

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"regexp"
	"strings"
	"time"
)

// operator is one criteria operator: its names and how it compiles a
// pattern into a test.
type operator struct {
	name     string
	alias    string // short name, "" for none
	optional bool   // the pattern may be left out (and is ignored)
	build    func(c *compiler, s spec) (tester, error)
}

// spec is what a criterion gives its operator.
type spec struct {
	pattern      any             // decoded, numbers as json.Number
	raw          json.RawMessage // nil when no pattern was given
	condition    string
	hasCondition bool
}

// A tester reports whether a criterion holds for the value at its path
// (nil when the path is missing: a missing value counts as null) at time now.
type tester interface {
	test(v any, now time.Time) bool
}

type testFunc func(v any, now time.Time) bool

func (f testFunc) test(v any, now time.Time) bool { return f(v, now) }

// operators is the one table of operators. It is filled in init because
// search compiles nested criteria, which look operators up in this table.
var operators []operator

func init() {
	operators = []operator{
		{name: "equals", alias: "eq", build: equalsOp},
		{name: "nequals", alias: "neq", build: not(equalsOp)},
		{name: "iequals", alias: "ieq", build: foldOp(func(v, p string) bool { return v == p })},
		{name: "contains", build: containsOp},
		{name: "ncontains", build: not(containsOp)},
		{name: "icontains", build: icontainsOp},
		{name: "incontains", build: not(icontainsOp)},
		{name: "startswith", build: stringOp(strings.HasPrefix)},
		{name: "istartswith", build: foldOp(strings.HasPrefix)},
		{name: "endswith", build: stringOp(strings.HasSuffix)},
		{name: "iendswith", build: foldOp(strings.HasSuffix)},
		{name: "lessthan", alias: "lt", build: compareOp(-1)},
		{name: "greaterthan", alias: "gt", build: compareOp(+1)},
		{name: "timediff_lt", alias: "td_lt", build: timediffOp(-1)},
		{name: "timediff_gt", alias: "td_gt", build: timediffOp(+1)},
		{name: "matchwildcard", build: wildcardOp},
		{name: "matchregex", build: regexOp(`\A(?:%s)`)},
		{name: "regex", build: regexOp(`(?:%s)`)},
		{name: "iregex", build: regexOp(`(?i:%s)`)},
		{name: "exists", optional: true, build: existsOp},
		{name: "nexists", optional: true, build: not(existsOp)},
		{name: "inside", alias: "in", build: insideOp},
		{name: "ninside", alias: "nin", build: not(insideOp)},
		{name: "search", build: searchOp},
	}
}

// lookupOperator finds an operator by name or alias, ignoring case.
func lookupOperator(name string) *operator {
	for i := range operators {
		op := &operators[i]
		if strings.EqualFold(name, op.name) || op.alias != "" && strings.EqualFold(name, op.alias) {
			return op
		}
	}
	return nil
}

// operatorList names the operators, for error messages.
func operatorList() string {
	names := make([]string, len(operators))
	for i, op := range operators {
		names[i] = op.name
	}
	return "one of " + strings.Join(names, ", ")
}

// not builds the negation of an operator: it holds exactly when the
// operator does not, so it holds for a missing value whenever the
// operator does not.
func not(build func(*compiler, spec) (tester, error)) func(*compiler, spec) (tester, error) {
	return func(c *compiler, s spec) (tester, error) {
		t, err := build(c, s)
		if err != nil {
			return nil, err
		}
		return testFunc(func(v any, now time.Time) bool { return !t.test(v, now) }), nil
	}
}

func equalsOp(_ *compiler, s spec) (tester, error) {
	return testFunc(func(v any, _ time.Time) bool { return equal(v, s.pattern) }), nil
}

func existsOp(*compiler, spec) (tester, error) {
	return testFunc(func(v any, _ time.Time) bool { return v != nil }), nil
}

// stringOp applies f to a string value and a string pattern.
func stringOp(f func(v, p string) bool) func(*compiler, spec) (tester, error) {
	return func(_ *compiler, s spec) (tester, error) {
		p, err := stringPattern(s)
		if err != nil {
			return nil, err
		}
		return testFunc(func(v any, _ time.Time) bool {
			sv, ok := v.(string)
			return ok && f(sv, p)
		}), nil
	}
}

// foldOp is stringOp ignoring case.
func foldOp(f func(v, p string) bool) func(*compiler, spec) (tester, error) {
	return func(_ *compiler, s spec) (tester, error) {
		p, err := stringPattern(s)
		if err != nil {
			return nil, err
		}
		p = fold(p)
		return testFunc(func(v any, _ time.Time) bool {
			sv, ok := v.(string)
			return ok && f(fold(sv), p)
		}), nil
	}
}

// containsOp: a string value contains the pattern string, or a list value
// has an element equal to the pattern.
func containsOp(_ *compiler, s spec) (tester, error) {
	return testFunc(func(v any, _ time.Time) bool {
		switch v := v.(type) {
		case string:
			p, ok := s.pattern.(string)
			return ok && strings.Contains(v, p)
		case []any:
			for _, e := range v {
				if equal(e, s.pattern) {
					return true
				}
			}
		}
		return false
	}), nil
}

// icontainsOp is containsOp ignoring case; the pattern must be a string.
func icontainsOp(_ *compiler, s spec) (tester, error) {
	p, err := stringPattern(s)
	if err != nil {
		return nil, err
	}
	p = fold(p)
	return testFunc(func(v any, _ time.Time) bool {
		switch v := v.(type) {
		case string:
			return strings.Contains(fold(v), p)
		case []any:
			for _, e := range v {
				if es, ok := e.(string); ok && fold(es) == p {
					return true
				}
			}
		}
		return false
	}), nil
}

// insideOp: the value equals an element of the pattern list, or a string
// value is a substring of the pattern string.
func insideOp(_ *compiler, s spec) (tester, error) {
	switch p := s.pattern.(type) {
	case []any:
		return testFunc(func(v any, _ time.Time) bool {
			for _, e := range p {
				if equal(v, e) {
					return true
				}
			}
			return false
		}), nil
	case string:
		return testFunc(func(v any, _ time.Time) bool {
			sv, ok := v.(string)
			return ok && strings.Contains(p, sv)
		}), nil
	}
	return nil, fmt.Errorf("pattern must be a list or a string, not %s", typeName(s.pattern))
}

// compareOp compares a number, or a string holding a JSON number, with a
// number pattern: want is -1 for lessthan, +1 for greaterthan.
func compareOp(want int) func(*compiler, spec) (tester, error) {
	return func(_ *compiler, s spec) (tester, error) {
		p, ok := toNumber(s.pattern)
		if !ok {
			return nil, fmt.Errorf("pattern must be a number, not %s", typeName(s.pattern))
		}
		return testFunc(func(v any, _ time.Time) bool {
			n, ok := numeric(v)
			if !ok {
				return false
			}
			c, ok := n.cmp(p)
			return ok && c == want
		}), nil
	}
}

// timediffOp compares the age of a timestamp (now minus the value, in
// seconds; negative for a time in the future) with a number of seconds:
// want is -1 for timediff_lt, +1 for timediff_gt.
func timediffOp(want int) func(*compiler, spec) (tester, error) {
	return func(_ *compiler, s spec) (tester, error) {
		p, ok := toNumber(s.pattern)
		if !ok || math.IsInf(p.f, 0) {
			return nil, fmt.Errorf("pattern must be a number of seconds, not %s", typeName(s.pattern))
		}
		return testFunc(func(v any, now time.Time) bool {
			ts, ok := timestamp(v)
			if !ok {
				return false
			}
			age := seconds(now) - ts
			if want < 0 {
				return age < p.f
			}
			return age > p.f
		}), nil
	}
}

// timestamp reads a time as seconds since the Unix epoch from an RFC 3339
// string or from a number (or numeric string) of Unix seconds.
func timestamp(v any) (float64, bool) {
	if s, ok := v.(string); ok {
		if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
			return seconds(t), true
		}
	}
	n, ok := numeric(v)
	if !ok || math.IsInf(n.f, 0) {
		return 0, false
	}
	return n.f, true
}

func seconds(t time.Time) float64 {
	return float64(t.Unix()) + float64(t.Nanosecond())/1e9
}

func wildcardOp(_ *compiler, s spec) (tester, error) {
	p, err := stringPattern(s)
	if err != nil {
		return nil, err
	}
	if len(p) > MaxPatternLen {
		return nil, fmt.Errorf("pattern is longer than %d bytes", MaxPatternLen)
	}
	expr, err := globRegexp(p)
	if err != nil {
		return nil, fmt.Errorf("invalid wildcard: %w", err)
	}
	return regexTest(regexp.MustCompile(expr)), nil
}

// regexOp compiles the pattern as an RE2 regular expression placed into
// wrap, which anchors it or sets flags.
func regexOp(wrap string) func(*compiler, spec) (tester, error) {
	return func(_ *compiler, s spec) (tester, error) {
		p, err := stringPattern(s)
		if err != nil {
			return nil, err
		}
		if len(p) > MaxPatternLen {
			return nil, fmt.Errorf("pattern is longer than %d bytes", MaxPatternLen)
		}
		// Compiling p alone first checks that its parentheses balance, so
		// it cannot escape the wrapping group.
		if _, err := regexp.Compile(p); err != nil {
			return nil, errors.New(strings.TrimPrefix(err.Error(), "error parsing regexp: "))
		}
		re, err := regexp.Compile(fmt.Sprintf(wrap, p))
		if err != nil {
			return nil, errors.New(strings.TrimPrefix(err.Error(), "error parsing regexp: "))
		}
		return regexTest(re), nil
	}
}

func regexTest(re *regexp.Regexp) tester {
	return testFunc(func(v any, _ time.Time) bool {
		s, ok := v.(string)
		return ok && re.MatchString(s)
	})
}

// search holds when the value is a list and its elements satisfy the
// nested criteria: at least one of them (any) or every one (all, which
// holds for an empty list).
type search struct {
	all   bool
	inner *Criteria
}

func searchOp(c *compiler, s spec) (tester, error) {
	var all bool
	switch strings.ToLower(s.condition) {
	case "any":
	case "all":
		all = true
	default:
		if !s.hasCondition {
			return nil, errors.New(`condition is required: "any" or "all"`)
		}
		return nil, fmt.Errorf(`condition must be "any" or "all", not %q`, s.condition)
	}
	if _, ok := s.pattern.(map[string]any); !ok {
		return nil, fmt.Errorf(`pattern must be criteria on the list's elements, as in {"item.name": {"type": "equals", "pattern": "x"}}, not %s`, typeName(s.pattern))
	}
	nested := compiler{cfg: c.cfg, depth: c.depth + 1, item: true}
	inner, err := nested.criteria(s.raw)
	if err != nil {
		return nil, err
	}
	if len(inner.list) == 0 {
		return nil, errors.New("pattern has no criteria")
	}
	return &search{all: all, inner: inner}, nil
}

func (s *search) test(v any, now time.Time) bool {
	list, ok := v.([]any)
	if !ok {
		return false
	}
	for _, e := range list {
		if s.inner.Match(e, now) != s.all {
			return !s.all
		}
	}
	return s.all
}

// matches returns the indexes of the elements that satisfy the pattern.
func (s *search) matches(v any, now time.Time) []int {
	list, _ := v.([]any)
	var idx []int
	for i, e := range list {
		if s.inner.Match(e, now) {
			idx = append(idx, i)
		}
	}
	return idx
}

func stringPattern(s spec) (string, error) {
	p, ok := s.pattern.(string)
	if !ok {
		return "", fmt.Errorf("pattern must be a string, not %s", typeName(s.pattern))
	}
	return p, nil
}

// typeName names the JSON type of v, for error messages.
func typeName(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case string:
		return "a string"
	case []any:
		return "a list"
	case map[string]any:
		return "an object"
	}
	return "a number"
}
