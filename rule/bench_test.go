package rule

import (
	"encoding/json"
	"testing"
)

func BenchmarkMatch(b *testing.B) {
	c := mustCompile(b, `{
		"trigger.headers.x-github-event": {"type": "eq", "pattern": "push"},
		"trigger.body.ref": {"type": "matchwildcard", "pattern": "refs/heads/*"},
		"trigger.body.repository.full_name": {"type": "inside", "pattern": ["acme/api", "acme/web"]},
		"trigger.body.commits": {"type": "search", "condition": "any",
			"pattern": {"item.message": {"type": "iregex", "pattern": "^fix"}}}
	}`, CaseInsensitive("trigger.headers"))
	doc := loadDocs(b, "github_push.json")["float64"]
	if !c.Match(doc, now) {
		b.Fatal("no match")
	}
	for b.Loop() {
		c.Match(doc, now)
	}
}

func BenchmarkRender(b *testing.B) {
	tmpl, err := CompileTemplate(json.RawMessage(`{
		"url": "https://ci.example.com/{{ trigger.body.repository.full_name | urlencode }}",
		"ref": "{{ trigger.body.ref }}",
		"commits": "{{ trigger.body.commits }}",
		"args": ["--sha={{ trigger.body.head_commit.id }}", "--by={{ trigger.body.pusher.name | default('?') }}"]
	}`))
	if err != nil {
		b.Fatal(err)
	}
	doc := loadDocs(b, "github_push.json")["float64"]
	for b.Loop() {
		if _, err := tmpl.Render(doc); err != nil {
			b.Fatal(err)
		}
	}
}
