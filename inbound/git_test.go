package inbound

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/hookd/hookd/internal/jsondoc"
)

// decode reads testdata/git/<file> the ways callers decode bodies: plain
// (numbers as float64), with UseNumber, and (the receiving path) only the
// members GitShape names, so every case of TestNormalizeGit also checks
// that GitShape names all the members NormalizeGit reads.
func decode(t *testing.T, file string) []any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "git", file))
	if err != nil {
		t.Fatal(err)
	}
	var plain, numbers any
	if err := json.Unmarshal(b, &plain); err != nil {
		t.Fatal(err)
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	if err := d.Decode(&numbers); err != nil {
		t.Fatal(err)
	}
	top, err := jsondoc.DecodeShape(b, GitShape)
	if err != nil {
		t.Fatal(err)
	}
	return []any{plain, numbers, top}
}

func header(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i < len(kv); i += 2 {
		h.Set(kv[i], kv[i+1])
	}
	return h
}

func TestNormalizeGit(t *testing.T) {
	t.Parallel()
	const (
		ghRepo = "acme/api"
		glRepo = "acme/platform/api"
	)
	tests := []struct {
		file     string
		provider string // "" to detect from the header
		header   http.Header
		want     Git
	}{
		{"github/push.json", "", header("X-GitHub-Event", "push"), Git{
			Provider: "github", Event: "push", Repo: ghRepo, Branch: "main", Ref: "refs/heads/main",
			SHA: "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c", Actor: "octocat"}},
		{"github/push-tag.json", "", header("X-GitHub-Event", "push"), Git{
			Provider: "github", Event: "tag", Repo: ghRepo, Tag: "v1.4.0", Ref: "refs/tags/v1.4.0",
			SHA: "9c3b4f1e5a2d7b8c0e1f2a3b4c5d6e7f8091a2b3", Action: "created", Actor: "release-bot[bot]"}},
		{"github/push-delete.json", "", header("X-GitHub-Event", "push"), Git{
			Provider: "github", Event: "push", Repo: ghRepo, Branch: "feature/old-login", Ref: "refs/heads/feature/old-login",
			Action: "deleted", Deleted: true, Actor: "hubot"}},
		{"github/pull_request-opened.json", "", header("X-GitHub-Event", "pull_request"), Git{
			Provider: "github", Event: "pull_request", Repo: ghRepo, Branch: "feature/passkeys", Base: "main",
			Ref: "refs/heads/feature/passkeys", SHA: "ec26c3e57ca3a959ca5aad62de7213c562f8c821", Action: "opened", Number: 42, Actor: "monalisa"}},
		{"github/pull_request-closed-merged.json", "", header("X-GitHub-Event", "pull_request"), Git{
			Provider: "github", Event: "pull_request", Repo: ghRepo, Branch: "feature/passkeys", Base: "main",
			Ref: "refs/heads/feature/passkeys", SHA: "aa2c3e57ca3a959ca5aad62de7213c562f8c8299", Action: "merged", Number: 42, Actor: "octocat"}},
		// Gitea and Forgejo send X-GitHub-Event with GitHub-shaped payloads.
		{"github/push.json", "github", header("X-GitHub-Event", "push", "X-Gitea-Event", "push"), Git{
			Provider: "github", Event: "push", Repo: ghRepo, Branch: "main", Ref: "refs/heads/main",
			SHA: "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c", Actor: "octocat"}},

		{"gitlab/push.json", "", header("X-Gitlab-Event", "Push Hook"), Git{
			Provider: "gitlab", Event: "push", Repo: glRepo, Branch: "main", Ref: "refs/heads/main",
			SHA: "da1560886d4f094c3e6c9ef40349f7d38b5d27d7", Actor: "jsmith"}},
		{"gitlab/push-delete.json", "", header("X-Gitlab-Event", "Push Hook"), Git{
			Provider: "gitlab", Event: "push", Repo: glRepo, Branch: "feature/old-login", Ref: "refs/heads/feature/old-login",
			Action: "deleted", Deleted: true, Actor: "jsmith"}},
		{"gitlab/tag_push.json", "", header("X-Gitlab-Event", "Tag Push Hook"), Git{
			Provider: "gitlab", Event: "tag", Repo: glRepo, Tag: "v1.0.0", Ref: "refs/tags/v1.0.0",
			SHA: "82b3d5ae55f7080f1e6022629cdb57bfae7cccc7", Action: "created", Actor: "jsmith"}},
		// System hooks carry the same object_kind under another header value.
		{"gitlab/tag_push.json", "", header("X-Gitlab-Event", "System Hook"), Git{
			Provider: "gitlab", Event: "tag", Repo: glRepo, Tag: "v1.0.0", Ref: "refs/tags/v1.0.0",
			SHA: "82b3d5ae55f7080f1e6022629cdb57bfae7cccc7", Action: "created", Actor: "jsmith"}},
		{"gitlab/merge_request-open.json", "", header("X-Gitlab-Event", "Merge Request Hook"), Git{
			Provider: "gitlab", Event: "pull_request", Repo: glRepo, Branch: "ms-viewport", Base: "main", Ref: "refs/heads/ms-viewport",
			SHA: "da1560886d4f094c3e6c9ef40349f7d38b5d27d7", Action: "opened", Number: 7, Actor: "root"}},
		{"gitlab/merge_request-update.json", "", header("X-Gitlab-Event", "Merge Request Hook"), Git{
			Provider: "gitlab", Event: "pull_request", Repo: glRepo, Branch: "ms-viewport", Base: "main", Ref: "refs/heads/ms-viewport",
			SHA: "f8b1b3a1e9c04a1d3e5f7a9b1c3d5e7f9a1b3c5d", Action: "synchronize", Number: 7, Actor: "jsmith"}},
		{"gitlab/merge_request-merge.json", "", header("X-Gitlab-Event", "Merge Request Hook"), Git{
			Provider: "gitlab", Event: "pull_request", Repo: glRepo, Branch: "ms-viewport", Base: "main", Ref: "refs/heads/ms-viewport",
			SHA: "f8b1b3a1e9c04a1d3e5f7a9b1c3d5e7f9a1b3c5d", Action: "merged", Number: 7, Actor: "root"}},

		{"bitbucket/repo-push.json", "", header("X-Event-Key", "repo:push"), Git{
			Provider: "bitbucket", Event: "push", Repo: ghRepo, Branch: "main", Ref: "refs/heads/main",
			SHA: "4c1b03e075d808b9241ec760087e114d6d0ccf21", Actor: "emmap1"}},
		{"bitbucket/repo-push-tag-delete.json", "", header("X-Event-Key", "repo:push"), Git{
			Provider: "bitbucket", Event: "tag", Repo: ghRepo, Tag: "v0.9.0-rc1", Ref: "refs/tags/v0.9.0-rc1",
			Action: "deleted", Deleted: true, Actor: "emmap1"}},
		{"bitbucket/pullrequest-created.json", "", header("X-Event-Key", "pullrequest:created"), Git{
			Provider: "bitbucket", Event: "pull_request", Repo: ghRepo, Branch: "feature/passkeys", Base: "main",
			Ref: "refs/heads/feature/passkeys", SHA: "d3022fc0ca3d", Action: "opened", Number: 7, Actor: "emmap1"}},
		{"bitbucket/pullrequest-fulfilled.json", "", header("X-Event-Key", "pullrequest:fulfilled"), Git{
			Provider: "bitbucket", Event: "pull_request", Repo: ghRepo, Branch: "feature/passkeys", Base: "main",
			Ref: "refs/heads/feature/passkeys", SHA: "e4b2a1c9f7d3", Action: "merged", Number: 7, Actor: "tom"}},
		{"bitbucket/server-refs-changed.json", "", header("X-Event-Key", "repo:refs_changed"), Git{
			Provider: "bitbucket", Event: "tag", Repo: "PLAT/api", Tag: "v2.0.0", Ref: "refs/tags/v2.0.0",
			SHA: "32a0b8a740c2963c6f56bd8baf3dc05683d299e0", Action: "created", Actor: "gopher"}},
		// Data Center also names the event in the body.
		{"bitbucket/server-pr-merged.json", "bitbucket", header(), Git{
			Provider: "bitbucket", Event: "pull_request", Repo: "PLAT/api", Branch: "feature/readme", Base: "main",
			Ref: "refs/heads/feature/readme", SHA: "32a0b8a740c2963c6f56bd8baf3dc05683d299e0", Action: "merged", Number: 5, Actor: "tux"}},
	}
	for _, tt := range tests {
		for i, body := range decode(t, tt.file) {
			got, ok := NormalizeGit(tt.provider, tt.header, body)
			if !ok {
				t.Errorf("%s (decoding %d): not recognised", tt.file, i)
				continue
			}
			if *got != tt.want {
				t.Errorf("%s (decoding %d):\n got %+v\nwant %+v", tt.file, i, *got, tt.want)
			}
		}
	}
}

func TestNormalizeGitUnknown(t *testing.T) {
	t.Parallel()
	push := decode(t, "github/push.json")[0]
	tests := []struct {
		name     string
		provider string
		header   http.Header
		body     any
	}{
		{"github ping", "", header("X-GitHub-Event", "ping"), decode(t, "github/ping.json")[0]},
		{"github issues", "", header("X-GitHub-Event", "issues"), push},
		{"github push without ref", "", header("X-GitHub-Event", "push"), map[string]any{"after": "abc"}},
		{"github pull_request without pull_request", "", header("X-GitHub-Event", "pull_request"), map[string]any{"action": "opened"}},
		{"github without event header", "github", header(), push},
		{"gitlab note", "", header("X-Gitlab-Event", "Note Hook"), decode(t, "gitlab/note.json")[0]},
		{"gitlab pipeline", "", header("X-Gitlab-Event", "Pipeline Hook"), map[string]any{"object_kind": "pipeline"}},
		{"bitbucket issue", "", header("X-Event-Key", "issue:created"), decode(t, "bitbucket/issue-created.json")[0]},
		{"bitbucket comment", "", header("X-Event-Key", "pullrequest:comment_created"), decode(t, "bitbucket/pullrequest-created.json")[0]},
		{"bitbucket push without changes", "", header("X-Event-Key", "repo:push"), map[string]any{"push": map[string]any{"changes": []any{}}}},
		{"bitbucket pr without pullrequest", "", header("X-Event-Key", "pullrequest:created"), map[string]any{}},
		{"no headers", "", header(), push},
		{"unknown provider", "gitea", header("X-GitHub-Event", "push"), push},
		{"body not an object", "", header("X-GitHub-Event", "push"), []any{push}},
		{"nil body", "", header("X-Gitlab-Event", "Push Hook"), nil},
		{"string body", "", header("X-Event-Key", "repo:push"), "refs/heads/main"},
	}
	for _, tt := range tests {
		if g, ok := NormalizeGit(tt.provider, tt.header, tt.body); ok || g != nil {
			t.Errorf("%s: got %+v, %v; want nil, false", tt.name, g, ok)
		}
	}
}

// Every field is present in the JSON form, so criteria see "" rather than a
// missing value.
func TestGitJSON(t *testing.T) {
	t.Parallel()
	b, err := json.Marshal(Git{Provider: "github", Event: "push"})
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"provider":"github","event":"push","repo":"","branch":"","base":"","tag":"","ref":"","sha":"","action":"","deleted":false,"number":0,"actor":""}`
	if string(b) != want {
		t.Errorf("got  %s\nwant %s", b, want)
	}
}

// Arbitrary JSON bodies under every provider's events must not panic, and
// what is recognised is one of the three events.
func FuzzNormalizeGit(f *testing.F) {
	for _, file := range []string{"github/push.json", "gitlab/merge_request-open.json", "bitbucket/repo-push.json", "bitbucket/server-pr-merged.json"} {
		b, err := os.ReadFile(filepath.Join("testdata", "git", file))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(uint8(0), "", b)
	}
	f.Add(uint8(1), "push", []byte(`{"ref":"refs/tags/","after":"000","created":1}`))
	f.Add(uint8(4), "Tag Push Hook", []byte(`{"object_attributes":[],"iid":1e400}`))
	f.Add(uint8(7), "repo:push", []byte(`{"push":{"changes":[{"new":{"type":"tag","name":""},"old":null}]}}`))
	headers := [][2]string{
		{"", ""}, {"X-GitHub-Event", "push"}, {"X-GitHub-Event", "pull_request"},
		{"X-Gitlab-Event", "Push Hook"}, {"X-Gitlab-Event", ""}, {"X-Gitlab-Event", "Merge Request Hook"},
		{"X-Event-Key", "pullrequest:fulfilled"}, {"X-Event-Key", ""}, {"X-Event-Key", "pr:opened"},
	}
	f.Fuzz(func(t *testing.T, which uint8, event string, body []byte) {
		var v any
		if json.Unmarshal(body, &v) != nil {
			return
		}
		hk := headers[int(which)%len(headers)]
		h := header()
		if hk[0] != "" {
			h.Set(hk[0], hk[1]+event)
		}
		g, ok := NormalizeGit("", h, v)
		if ok != (g != nil) {
			t.Fatalf("NormalizeGit = %v, %v", g, ok)
		}
		if ok && g.Event != GitPush && g.Event != GitTag && g.Event != GitPullRequest {
			t.Fatalf("event %q", g.Event)
		}
	})
}
