// Package rule holds the criteria language and the parameter templates that
// inbound rules and outbound endpoint filters share. The user-facing
// reference, with examples, is docs/CRITERIA.md.
//
// # Criteria
//
// Criteria are a JSON object mapping a path to an operator and a pattern;
// a document matches when every criterion holds (StackStorm's form):
//
//	{"trigger.body.ref": {"type": "equals", "pattern": "refs/heads/main"},
//	 "trigger.body.commits": {"type": "search", "condition": "any",
//	   "pattern": {"item.message": {"type": "startswith", "pattern": "fix:"}}}}
//
// Compile checks criteria once (operators, pattern types, regular
// expressions, MaxPatternLen, MaxDepth); Match and Explain then test
// documents decoded by encoding/json, with float64 or json.Number numbers.
// Operator names are case-insensitive and some have short aliases (eq, neq,
// lt, in, ...); one table in operator.go defines them all. Wildcards
// (matchwildcard) are shell globs whose "*" also matches "/"; regular
// expressions are RE2, matchregex anchored at the start only.
//
// Paths are keys joined by dots, trigger.body.commits.0.id; a key that is a
// decimal number indexes a list. Keys holding dots, spaces, brackets or
// quotes are written in brackets: trigger.headers["X-GitHub-Event"] or
// ['...'] (JSON escapes inside). CaseInsensitive makes keys below a prefix,
// such as trigger.headers, match regardless of case.
//
// A missing value counts as null. Each negative operator (nequals,
// ncontains, incontains, nexists, ninside) holds exactly when its positive
// does not, so it holds for a missing value; the positive operators are
// false for one, except equals null and inside a list holding null.
// Equality is JSON equality with numbers compared by value (1 == 1.0,
// integers exactly up to int64), and "1" is not 1; lessthan, greaterthan
// and the timediff operators also read strings that hold a JSON number.
//
// # Templates
//
// A template is a JSON value whose strings may hold {{ path }} placeholders
// (Jinja's form, spaces optional), with filters: {{ path | default("x") }},
// tojson, lower, upper and urlencode. A string that is exactly one
// placeholder keeps the value's JSON type; a placeholder inside text is
// replaced by the value's text. CompileTemplate checks a template once,
// (*Template).Render fills it in, and RenderString renders a single string.
//
// Errors from compiling are *Error values whose text names the path or
// position and holds only what the user wrote, so they are safe to show.
// Compiled criteria and templates are immutable and safe for concurrent use.
package rule
