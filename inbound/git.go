// Package inbound receives webhooks: it verifies them, records triggers and
// derives provider-neutral fields from known payloads, such as the git view
// of GitHub, GitLab and Bitbucket events (NormalizeGit).
package inbound

import (
	"cmp"
	"encoding/json"
	"net/http"
	"strings"

	"github.com/hookd/hookd/internal/jsondoc"
)

// Git providers NormalizeGit understands.
const (
	ProviderGitHub    = "github"
	ProviderGitLab    = "gitlab"
	ProviderBitbucket = "bitbucket" // Bitbucket Cloud and Bitbucket Data Center (Server)
)

// Git events, the values of Git.Event.
const (
	GitPush        = "push"         // commits pushed to a branch, or a branch created or deleted
	GitTag         = "tag"          // a tag pushed or deleted
	GitPullRequest = "pull_request" // a pull (merge) request opened, updated, merged, closed...
)

// Git is the provider-neutral view of a git hosting webhook, so that one rule
// can match "push to main of acme/api" whichever host sent it. Every field
// is present in the JSON form; those that do not apply are empty.
type Git struct {
	Provider string `json:"provider"` // github, gitlab or bitbucket
	Event    string `json:"event"`    // push, tag or pull_request
	// Repo is "owner/name": GitHub's and Bitbucket Cloud's full_name,
	// GitLab's path_with_namespace (groups included), Bitbucket Data
	// Center's "PROJECT/slug". For pull requests, the target repository.
	Repo string `json:"repo"`
	// Branch is the pushed branch, or the source branch of a pull request.
	Branch string `json:"branch"`
	// Base is the target branch of a pull request.
	Base string `json:"base"`
	// Tag is the tag name of a tag event.
	Tag string `json:"tag"`
	// Ref is the full ref: refs/heads/<branch> or refs/tags/<tag>; for a
	// pull request, its source branch's.
	Ref string `json:"ref"`
	// SHA is the commit the ref points to after the push (empty when the
	// ref was deleted), or the head commit of a pull request's source.
	// Bitbucket Cloud sends abbreviated hashes for pull requests.
	SHA string `json:"sha"`
	// Action is, for pushes and tags, "created", "deleted" or "" (updated);
	// for pull requests opened, reopened, synchronize (new commits),
	// edited, closed (without merging), merged, approved, unapproved,
	// changes_requested, or GitHub's own action name (labeled, ...).
	Action string `json:"action"`
	// Deleted is true when a push deleted the branch or tag.
	Deleted bool `json:"deleted"`
	// Number is the pull request's number (GitLab: iid).
	Number int `json:"number"`
	// Actor is the login of who caused the event: GitHub's sender.login,
	// GitLab's username, Bitbucket Cloud's nickname, Data Center's user name.
	Actor string `json:"actor"`
}

// NormalizeGit returns the git view of a GitHub, GitLab or Bitbucket webhook
// whose JSON body was decoded into body (with or without UseNumber). When
// provider is empty it is detected from the headers: X-GitHub-Event,
// X-Gitlab-Event, then X-Event-Key. It returns false for other providers and
// for events that are not pushes, tags or pull requests (pings, issues,
// comments...). A Bitbucket push that changes several refs is described by
// its first change.
func NormalizeGit(provider string, header http.Header, body any) (*Git, bool) {
	if provider == "" {
		provider = detectGit(header)
	}
	var g *Git
	switch provider {
	case ProviderGitHub:
		g = fromGitHub(header.Get("X-GitHub-Event"), body)
	case ProviderGitLab:
		g = fromGitLab(header.Get("X-Gitlab-Event"), body)
	case ProviderBitbucket:
		g = fromBitbucket(cmp.Or(header.Get("X-Event-Key"), str(body, "eventKey")), body)
	}
	if g == nil {
		return nil, false
	}
	g.Provider = provider
	return g, true
}

// GitShape is what NormalizeGit reads of a body, for every provider: a
// caller may decode only that (jsondoc.DecodeShape). Of the large objects
// (a GitHub repository or pull request, a GitLab project) it names the few
// members read. Keep in step with NormalizeGit, fromGitHub, fromGitLab and
// fromBitbucket; TestNormalizeGit decodes each fixture with it.
var GitShape = jsondoc.Shape{
	// GitHub
	"repository":   {"full_name": nil, "slug": nil, "project": {"key": nil}}, // and Bitbucket's
	"sender":       {"login": nil},
	"pusher":       {"name": nil},
	"pull_request": {"merged": nil, "number": nil, "head": {"ref": nil, "sha": nil}, "base": {"ref": nil}},
	"action":       nil, "number": nil, "ref": nil, "before": nil, "after": nil, "created": nil, "deleted": nil,
	// GitLab
	"project":           {"path_with_namespace": nil},
	"object_kind":       nil,
	"checkout_sha":      nil,
	"user_name":         nil,
	"user_username":     nil,
	"user":              {"username": nil},
	"object_attributes": {"action": nil, "oldrev": nil, "source_branch": nil, "target_branch": nil, "last_commit": {"id": nil}, "iid": nil},
	// Bitbucket Cloud and Data Center
	"eventKey":    nil,
	"actor":       {"nickname": nil, "username": nil, "display_name": nil, "name": nil, "slug": nil},
	"push":        {"changes": nil},
	"changes":     {"type": nil, "ref": {"id": nil}, "refId": nil, "toHash": nil},
	"pullrequest": nil,
	"pullRequest": nil,
}

func detectGit(h http.Header) string {
	switch {
	case h.Get("X-GitHub-Event") != "":
		return ProviderGitHub
	case h.Get("X-Gitlab-Event") != "":
		return ProviderGitLab
	case h.Get("X-Event-Key") != "":
		return ProviderBitbucket
	}
	return ""
}

func fromGitHub(event string, b any) *Git {
	g := &Git{Repo: str(b, "repository", "full_name"), Actor: cmp.Or(str(b, "sender", "login"), str(b, "pusher", "name"))}
	switch event {
	case "push":
		before, after := str(b, "before"), str(b, "after")
		if !g.push(str(b, "ref"), after, boolean(b, "created") || isZero(before), boolean(b, "deleted") || isZero(after)) {
			return nil
		}
	case "pull_request":
		pr, ok := get(b, "pull_request").(map[string]any)
		if !ok {
			return nil
		}
		action := str(b, "action")
		if action == "closed" && boolean(pr, "merged") {
			action = "merged"
		}
		g.pullRequest(action, str(pr, "head", "ref"), str(pr, "base", "ref"), str(pr, "head", "sha"), cmp.Or(number(b, "number"), number(pr, "number")))
	default:
		return nil
	}
	return g
}

// gitlabKinds maps X-Gitlab-Event to object_kind, for bodies without one.
var gitlabKinds = map[string]string{"Push Hook": "push", "Tag Push Hook": "tag_push", "Merge Request Hook": "merge_request"}

// gitlabActions maps merge request actions to the common names.
var gitlabActions = map[string]string{
	"open": "opened", "reopen": "reopened", "close": "closed", "merge": "merged",
	"approved": "approved", "approval": "approved", "unapproved": "unapproved", "unapproval": "unapproved",
}

func fromGitLab(event string, b any) *Git {
	g := &Git{Repo: str(b, "project", "path_with_namespace")}
	switch cmp.Or(str(b, "object_kind"), gitlabKinds[event]) {
	case "push", "tag_push":
		before, after := str(b, "before"), str(b, "after")
		g.Actor = cmp.Or(str(b, "user_username"), str(b, "user_name"))
		if !g.push(str(b, "ref"), cmp.Or(after, str(b, "checkout_sha")), isZero(before), isZero(after)) {
			return nil
		}
	case "merge_request":
		mr := get(b, "object_attributes")
		action := str(mr, "action")
		switch {
		case action == "update" && str(mr, "oldrev") != "":
			action = "synchronize" // GitLab sends oldrev only when commits changed
		case action == "update":
			action = "edited"
		default:
			action = cmp.Or(gitlabActions[action], action)
		}
		g.Actor = str(b, "user", "username")
		g.pullRequest(action, str(mr, "source_branch"), str(mr, "target_branch"), str(mr, "last_commit", "id"), number(mr, "iid"))
	default:
		return nil
	}
	return g
}

// bitbucketActions maps Bitbucket Cloud (pullrequest:*) and Data Center
// (pr:*) pull request event keys to actions. Bitbucket Cloud's
// pullrequest:updated also fires when only the title or description
// changes; it cannot be told apart from new commits.
var bitbucketActions = map[string]string{
	"pullrequest:created":                 "opened",
	"pullrequest:updated":                 "synchronize",
	"pullrequest:fulfilled":               "merged",
	"pullrequest:rejected":                "closed",
	"pullrequest:approved":                "approved",
	"pullrequest:unapproved":              "unapproved",
	"pullrequest:changes_request_created": "changes_requested",
	"pr:opened":                           "opened",
	"pr:from_ref_updated":                 "synchronize",
	"pr:modified":                         "edited",
	"pr:merged":                           "merged",
	"pr:declined":                         "closed",
	"pr:reviewer:approved":                "approved",
	"pr:reviewer:unapproved":              "unapproved",
	"pr:reviewer:needs_work":              "changes_requested",
}

func fromBitbucket(key string, b any) *Git {
	g := &Git{}
	switch action, isPR := bitbucketActions[key]; {
	case key == "repo:push": // Cloud
		change := first(get(b, "push", "changes"))
		newRef, oldRef := get(change, "new"), get(change, "old")
		ref := newRef
		if ref == nil {
			ref = oldRef // a deletion describes the ref as it was
		}
		var full string
		switch name := str(ref, "name"); str(ref, "type") {
		case "branch", "named_branch":
			full = "refs/heads/" + name
		case "tag":
			full = "refs/tags/" + name
		}
		deleted := newRef == nil || boolean(change, "closed")
		created := oldRef == nil || boolean(change, "created")
		if full == "" || !g.push(full, str(newRef, "target", "hash"), created, deleted) {
			return nil
		}
		g.Repo, g.Actor = str(b, "repository", "full_name"), cloudActor(get(b, "actor"))
	case key == "repo:refs_changed": // Data Center
		change := first(get(b, "changes"))
		typ := str(change, "type")
		if !g.push(cmp.Or(str(change, "ref", "id"), str(change, "refId")), str(change, "toHash"), typ == "ADD", typ == "DELETE") {
			return nil
		}
		g.Repo, g.Actor = serverRepo(get(b, "repository")), serverActor(get(b, "actor"))
	case isPR && strings.HasPrefix(key, "pullrequest:"): // Cloud
		pr := get(b, "pullrequest")
		if pr == nil {
			return nil
		}
		g.pullRequest(action, str(pr, "source", "branch", "name"), str(pr, "destination", "branch", "name"), str(pr, "source", "commit", "hash"), number(pr, "id"))
		g.Repo = cmp.Or(str(b, "repository", "full_name"), str(pr, "destination", "repository", "full_name"))
		g.Actor = cloudActor(get(b, "actor"))
	case isPR: // Data Center
		pr := get(b, "pullRequest")
		if pr == nil {
			return nil
		}
		g.pullRequest(action, str(pr, "fromRef", "displayId"), str(pr, "toRef", "displayId"), str(pr, "fromRef", "latestCommit"), number(pr, "id"))
		g.Ref = cmp.Or(str(pr, "fromRef", "id"), g.Ref)
		g.Repo, g.Actor = serverRepo(get(pr, "toRef", "repository")), serverActor(get(b, "actor"))
	default:
		return nil
	}
	return g
}

func cloudActor(a any) string {
	return cmp.Or(str(a, "nickname"), str(a, "username"), str(a, "display_name"))
}

func serverActor(a any) string { return cmp.Or(str(a, "name"), str(a, "slug")) }

func serverRepo(r any) string {
	project, slug := str(r, "project", "key"), str(r, "slug")
	if project == "" || slug == "" {
		return slug
	}
	return project + "/" + slug
}

// push fills the fields of a push of ref to sha; it returns false when ref
// is empty.
func (g *Git) push(ref, sha string, created, deleted bool) bool {
	if ref == "" {
		return false
	}
	g.Ref, g.Event = ref, GitPush
	if tag, ok := strings.CutPrefix(ref, "refs/tags/"); ok {
		g.Event, g.Tag = GitTag, tag
	} else {
		g.Branch, _ = strings.CutPrefix(ref, "refs/heads/")
	}
	switch g.Deleted = deleted; {
	case deleted:
		g.Action = "deleted"
	case created:
		g.Action = "created"
	}
	if !deleted && !isZero(sha) {
		g.SHA = sha
	}
	return true
}

func (g *Git) pullRequest(action, branch, base, sha string, num int) {
	g.Event, g.Action, g.Branch, g.Base, g.SHA, g.Number = GitPullRequest, action, branch, base, sha, num
	if branch != "" {
		g.Ref = "refs/heads/" + branch
	}
}

// isZero reports whether sha is git's null object id (all zeros).
func isZero(sha string) bool { return sha != "" && strings.Trim(sha, "0") == "" }

// get walks v through object keys; nil when a step is missing or v is not an
// object there.
func get(v any, keys ...string) any {
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

func str(v any, keys ...string) string {
	s, _ := get(v, keys...).(string)
	return s
}

func boolean(v any, keys ...string) bool {
	b, _ := get(v, keys...).(bool)
	return b
}

// number returns an integer decoded as float64 or json.Number; 0 otherwise.
func number(v any, keys ...string) int {
	switch n := get(v, keys...).(type) {
	case float64:
		if n >= -1<<53 && n <= 1<<53 {
			return int(n)
		}
	case json.Number:
		i, _ := n.Int64()
		return int(i)
	}
	return 0
}

func first(v any) any {
	if l, ok := v.([]any); ok && len(l) > 0 {
		return l[0]
	}
	return nil
}
