package rule

import (
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"
)

// The examples in docs/CRITERIA.md compile, and the worked ones match the
// fixtures they describe.
func TestDocExamples(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile("../docs/CRITERIA.md")
	if err != nil {
		t.Fatal(err)
	}
	criteriaDoc, templateDoc, ok := strings.Cut(string(doc), "## Parameter templates")
	if !ok {
		t.Fatal("no templates section")
	}
	blocks := regexp.MustCompile("(?s)```json\n(.*?)```")
	github := loadDocs(t, "github_push.json")["json.Number"]
	stripe := loadDocs(t, "stripe_event.json")["json.Number"].(map[string]any)["trigger"].(map[string]any)["body"]
	checked := 0
	for _, m := range blocks.FindAllStringSubmatch(criteriaDoc, -1) {
		raw := m[1]
		if strings.Contains(raw, `"matched"`) {
			continue // an Explain output
		}
		c, err := Compile(json.RawMessage(raw), CaseInsensitive("trigger.headers"))
		if err != nil {
			t.Errorf("%s: %v", raw, err)
			continue
		}
		var want bool
		var against any
		switch {
		case strings.Contains(raw, "X-GitHub-Event"):
			against, want = github, true
		case strings.Contains(raw, "data.object.amount"):
			against, want = stripe, true
		case strings.Contains(raw, "*.go"):
			against, want = github, true
		default:
			continue
		}
		checked++
		if got := c.Match(against, now); got != want {
			t.Errorf("%s: Match = %v, want %v\n%+v", raw, got, want, c.Explain(against, now))
		}
	}
	if checked != 3 {
		t.Errorf("checked %d worked examples, want 3", checked)
	}
	for _, m := range blocks.FindAllStringSubmatch(templateDoc, -1) {
		if _, err := CompileTemplate(json.RawMessage(m[1])); err != nil {
			t.Errorf("%s: %v", m[1], err)
		}
	}
}
