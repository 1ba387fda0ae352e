package rule_test

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/hookd/hookd/rule"
)

func decodeDoc(s string) any {
	var doc any
	if err := json.Unmarshal([]byte(s), &doc); err != nil {
		panic(err)
	}
	return doc
}

// A rule that fires on pushes to main of acme/api.
func ExampleCompile_githubPush() {
	c, err := rule.Compile(json.RawMessage(`{
		"trigger.headers.x-github-event": {"type": "equals", "pattern": "push"},
		"trigger.body.ref": {"type": "equals", "pattern": "refs/heads/main"},
		"trigger.body.repository.full_name": {"type": "equals", "pattern": "acme/api"}
	}`), rule.CaseInsensitive("trigger.headers"))
	if err != nil {
		panic(err)
	}
	doc := decodeDoc(`{"trigger": {
		"headers": {"X-Github-Event": "push"},
		"body": {"ref": "refs/heads/main", "repository": {"full_name": "acme/api"}}}}`)
	fmt.Println(c.Match(doc, time.Now()))
	// Output: true
}

// An endpoint filter that passes Stripe charges over 10.00 USD (amounts are
// in cents).
func ExampleCompile_stripeAmount() {
	c, err := rule.Compile(json.RawMessage(`{
		"type": {"type": "startswith", "pattern": "charge."},
		"data.object.amount": {"type": "gt", "pattern": 1000}
	}`))
	if err != nil {
		panic(err)
	}
	fmt.Println(c.Match(decodeDoc(`{"type": "charge.succeeded", "data": {"object": {"amount": 2500}}}`), time.Now()))
	fmt.Println(c.Match(decodeDoc(`{"type": "charge.succeeded", "data": {"object": {"amount": 900}}}`), time.Now()))
	// Output:
	// true
	// false
}

// Fire when any pushed commit is a fix that touches Go code.
func ExampleCompile_search() {
	c, err := rule.Compile(json.RawMessage(`{
		"trigger.body.commits": {"type": "search", "condition": "any", "pattern": {
			"item.message": {"type": "matchregex", "pattern": "fix(\\(.*\\))?:"},
			"item.modified": {"type": "search", "condition": "any", "pattern": {
				"item": {"type": "matchwildcard", "pattern": "*.go"}}}}}
	}`))
	if err != nil {
		panic(err)
	}
	doc := decodeDoc(`{"trigger": {"body": {"commits": [
		{"message": "docs: readme", "modified": ["README.md"]},
		{"message": "fix(http): nil map", "modified": ["http/handler.go"]}]}}}`)
	fmt.Println(c.Match(doc, time.Now()))
	// Output: true
}

func ExampleCompile_error() {
	_, err := rule.Compile(json.RawMessage(`{"trigger.body.amount": {"type": "lt", "pattern": "1000"}}`))
	fmt.Println(err)
	// Output: trigger.body.amount: lessthan: pattern must be a number, not a string
}

func ExampleCriteria_Explain() {
	c, _ := rule.Compile(json.RawMessage(`{
		"trigger.body.ref": {"type": "eq", "pattern": "refs/heads/main"},
		"trigger.body.deleted": {"type": "neq", "pattern": true}
	}`))
	e := c.Explain(decodeDoc(`{"trigger": {"body": {"ref": "refs/heads/dev"}}}`), time.Now())
	out, _ := json.MarshalIndent(e, "", "  ")
	fmt.Println(string(out))
	// Output:
	// {
	//   "matched": false,
	//   "criteria": [
	//     {
	//       "path": "trigger.body.deleted",
	//       "type": "nequals",
	//       "pattern": true,
	//       "held": true,
	//       "found": false,
	//       "value": null
	//     },
	//     {
	//       "path": "trigger.body.ref",
	//       "type": "equals",
	//       "pattern": "refs/heads/main",
	//       "held": false,
	//       "found": true,
	//       "value": "refs/heads/dev"
	//     }
	//   ]
	// }
}

func ExampleRender() {
	params := json.RawMessage(`{
		"url": "https://ci.example.com/build/{{ trigger.body.repository.name | urlencode }}",
		"commit": "{{ trigger.body.after }}",
		"size": "{{ trigger.body.size }}",
		"labels": "{{ trigger.body.labels | default([]) }}",
		"note": "pushed by {{ trigger.body.pusher.name | default('someone') }}"
	}`)
	doc := decodeDoc(`{"trigger": {"body": {"repository": {"name": "my api"}, "after": "6dcb09b5", "size": 3}}}`)
	out, err := rule.Render(params, doc)
	fmt.Println(string(out), err)
	// Output:
	// {"url":"https://ci.example.com/build/my%20api","commit":"6dcb09b5","size":3,"labels":[],"note":"pushed by someone"} <nil>
}

func ExampleCompileTemplate_error() {
	_, err := rule.CompileTemplate(json.RawMessage(`{"args": ["--ref", "{{ trigger.body.ref | lowercase }}"]}`))
	fmt.Println(err)
	// Output: args.1: column 23: unknown filter "lowercase": one of default, tojson, lower, upper, urlencode
}

func ExampleRenderString() {
	doc := decodeDoc(`{"trigger": {"body": {"ref": "refs/heads/main", "commits": [{"id": "0d1a26e6"}]}}}`)
	s, err := rule.RenderString("deploy.sh --ref={{ trigger.body.ref }} --commit={{ trigger.body.commits.0.id }}", doc)
	fmt.Println(s, err)
	// Output: deploy.sh --ref=refs/heads/main --commit=0d1a26e6 <nil>
}
