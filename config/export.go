package config

import (
	"bytes"
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/hookd/hookd"
)

// exportComment heads an exported file.
const exportComment = `Exported from hookd: the current state of tenant %s.
Secrets are not exported. Each one is a ${...:-} reference instead:
set the variable to give the secret; left unset (or empty), hookd keeps
the secret the resource has now. API keys are exported by their hash.
adopt: true lets this file take over the resources below that exist
already (they were created through the API); once applied, the file
owns them and the API refuses to change them.`

// Export returns the current state of a tenant as a file: its event
// types, endpoints, sources, rules and keys (not revoked ones), with
// adopt: true so that applying it takes them over. Parsing the file
// (Marshal, then Parse) and planning it against the same store finds
// nothing to change but the adoption of what no file owns yet. Secrets
// are written as ${HOOKD_SECRET_<ENDPOINT>:-} and
// ${HOOKD_SOURCE_SECRET_<SOURCE>:-} references, which keep the current
// secrets while unset; keys as their hashes. A resource without a name,
// or sharing its name with another, is named by its id. ENOTFOUND if the
// tenant does not exist.
func Export(ctx context.Context, st hookd.Store, tenantID string) (*File, error) {
	t, err := st.FindTenant(ctx, tenantID)
	if err != nil {
		return nil, err
	}
	spec := &TenantSpec{ID: t.ID, Name: t.Name, Adopt: true}
	vars := map[string]bool{}

	types, err := all(func(p hookd.Page) ([]*hookd.EventType, string, error) { return st.FindEventTypes(ctx, t.ID, p) })
	if err != nil {
		return nil, fmt.Errorf("export event types: %w", err)
	}
	slices.SortFunc(types, func(a, b *hookd.EventType) int { return strings.Compare(a.Name, b.Name) })
	for _, et := range types {
		if et.Builtin || hookd.IsOperational(et.Name) {
			continue
		}
		spec.EventTypes = append(spec.EventTypes, &EventTypeSpec{Name: et.Name, Description: et.Description,
			Schema: JSON(et.Schema), Example: JSON(et.Example), Deprecated: et.Deprecated, Archived: et.Archived})
	}

	eps, err := all(func(p hookd.Page) ([]*hookd.Endpoint, string, error) {
		return st.FindEndpoints(ctx, hookd.EndpointFilter{TenantID: t.ID, Page: p})
	})
	if err != nil {
		return nil, fmt.Errorf("export endpoints: %w", err)
	}
	slices.SortFunc(eps, func(a, b *hookd.Endpoint) int { return strings.Compare(a.ID, b.ID) })
	names := nameCounts(eps, func(e *hookd.Endpoint) string { return e.Name })
	for _, ep := range eps {
		name := ep.Name
		if name == "" || names[name] > 1 {
			name = ep.ID
		}
		spec.Endpoints = append(spec.Endpoints, exportEndpoint(ep, name, secretVar("HOOKD_SECRET_", name, vars)))
	}

	srcs, err := all(func(p hookd.Page) ([]*hookd.Source, string, error) { return st.FindSources(ctx, t.ID, p) })
	if err != nil {
		return nil, fmt.Errorf("export sources: %w", err)
	}
	slices.SortFunc(srcs, func(a, b *hookd.Source) int { return strings.Compare(a.ID, b.ID) })
	for _, src := range srcs {
		s := exportSource(src)
		for i := range src.Verifier.Secrets {
			base := src.Name
			if i > 0 {
				base = fmt.Sprintf("%s_%d", src.Name, i+1)
			}
			s.Verifier.Secrets = append(s.Verifier.Secrets, secretVar("HOOKD_SOURCE_SECRET_", base, vars))
		}
		spec.Sources = append(spec.Sources, s)
	}

	rules, err := all(func(p hookd.Page) ([]*hookd.Rule, string, error) { return st.FindRules(ctx, t.ID, p) })
	if err != nil {
		return nil, fmt.Errorf("export rules: %w", err)
	}
	slices.SortFunc(rules, func(a, b *hookd.Rule) int { return strings.Compare(a.ID, b.ID) })
	for _, r := range rules {
		spec.Rules = append(spec.Rules, exportRule(r))
	}

	keys, err := all(func(p hookd.Page) ([]*hookd.APIKey, string, error) {
		return st.FindAPIKeys(ctx, hookd.APIKeyFilter{TenantID: t.ID, Page: p})
	})
	if err != nil {
		return nil, fmt.Errorf("export keys: %w", err)
	}
	keys = slices.DeleteFunc(keys, func(k *hookd.APIKey) bool { return k.RevokedAt != nil || k.TenantID != t.ID })
	slices.SortFunc(keys, func(a, b *hookd.APIKey) int { return strings.Compare(a.ID, b.ID) })
	keyNames := nameCounts(keys, func(k *hookd.APIKey) string { return k.Name })
	for _, k := range keys {
		name := k.Name
		if name == "" || keyNames[name] > 1 {
			name = k.ID
		}
		spec.Keys = append(spec.Keys, &KeySpec{Name: name, Role: string(k.Role), Hash: k.Hash})
	}

	return &File{Tenants: []*TenantSpec{spec}, name: "export of tenant " + t.ID, comment: fmt.Sprintf(exportComment, t.ID)}, nil
}

// WithoutKeys drops the API keys from an exported file and says so in its
// heading: the API never shows key hashes, so the export it serves
// leaves keys out (declare them with hash: or key: ${ENV}). Applying such
// a file leaves the tenant's keys alone unless the file owns them.
func (f *File) WithoutKeys() *File {
	for _, t := range f.Tenants {
		t.Keys = nil
	}
	f.Keys = nil
	f.comment = strings.Replace(f.comment, "API keys are exported by their hash.",
		"API keys are not exported (the API never shows\ntheir hashes): declare them with hash: or key: ${ENV}.", 1)
	return f
}

func nameCounts[T any](list []T, name func(T) string) map[string]int {
	out := map[string]int{}
	for _, x := range list {
		out[name(x)]++
	}
	return out
}

var nonVarRE = regexp.MustCompile(`[^A-Z0-9]+`)

// secretVar returns a ${PREFIX<NAME>:-} reference whose variable no other
// reference of the export uses.
func secretVar(prefix, name string, used map[string]bool) string {
	base := prefix + strings.Trim(nonVarRE.ReplaceAllString(strings.ToUpper(name), "_"), "_")
	v := base
	for i := 2; used[v]; i++ {
		v = fmt.Sprintf("%s_%d", base, i)
	}
	used[v] = true
	return "${" + v + ":-}"
}

func exportEndpoint(ep *hookd.Endpoint, name, secret string) *EndpointSpec {
	s := &EndpointSpec{Name: name, Description: ep.Description, URL: ep.URL, Events: ep.Events, Filter: JSON(ep.Filter),
		RateLimit: ep.RateLimit, Secret: secret}
	if len(ep.Headers) > 0 {
		s.Headers = ep.Headers
	}
	if !(len(ep.Signatures) == 1 && ep.Signatures[0] == hookd.Signature{Scheme: hookd.SchemeStandard}) {
		for _, sig := range ep.Signatures {
			h := sig.Header
			if sig.Scheme == hookd.SchemeTimestamped && h == hookd.DefaultTimestampedHeader || sig.Scheme == hookd.SchemeHMAC && h == hookd.DefaultHMACHeader {
				h = ""
			}
			s.Signatures = append(s.Signatures, SignatureSpec{Scheme: string(sig.Scheme), Header: h})
		}
	}
	if !slices.Equal(ep.RetrySchedule, hookd.DefaultRetrySchedule) {
		s.RetrySchedule = fromDurations(ep.RetrySchedule)
	}
	if ep.Timeout != hookd.Duration(hookd.DefaultTimeout) {
		s.Timeout = Duration(ep.Timeout)
	}
	if ep.MaxInFlight != hookd.DefaultMaxInFlight {
		s.MaxInFlight = ep.MaxInFlight
	}
	if ep.Mode != hookd.ModeAtLeastOnce {
		s.Mode = string(ep.Mode)
	}
	return s
}

func exportSource(src *hookd.Source) *SourceSpec {
	v := src.Verifier
	s := &SourceSpec{Name: src.Name, Description: src.Description, RateLimit: src.RateLimit, HeartbeatEvery: Duration(src.HeartbeatEvery),
		Verifier: VerifierSpec{Type: v.Type, Header: v.Header, Algorithm: v.Algorithm, Encoding: v.Encoding, Prefix: v.Prefix,
			TimestampHeader: v.TimestampHeader, Tolerance: Duration(v.Tolerance), Username: v.Username}}
	if !slices.Equal(src.ContentTypes, []string{hookd.ContentJSON, hookd.ContentForm, hookd.ContentText}) {
		s.ContentTypes = src.ContentTypes
	}
	if src.MaxBodyBytes != hookd.DefaultSourceMaxBody {
		s.MaxBodyBytes = src.MaxBodyBytes
	}
	if src.DedupWindow != hookd.Duration(hookd.DefaultDedupWindow) {
		s.DedupWindow = Duration(src.DedupWindow)
	}
	if r := src.Response; r != nil {
		s.Response = &ResponseSpec{Status: r.Status, Body: r.Body, ContentType: r.ContentType}
	}
	return s
}

func exportRule(r *hookd.Rule) *RuleSpec {
	a := r.Action
	s := &RuleSpec{Name: r.Name, Description: r.Description, Source: r.Source, Trigger: r.Trigger, Criteria: JSON(r.Criteria),
		Action: ActionSpec{Type: a.Type, EventType: a.EventType, Data: JSON(a.Data), URL: a.URL, ForwardHeaders: a.ForwardHeaders,
			Headers: a.Headers, RetrySchedule: fromDurations(a.RetrySchedule), Command: a.Command, Env: a.Env, Stdin: a.Stdin,
			Shell: a.Shell, Dir: a.Dir, Concurrency: a.Concurrency, Timeout: Duration(a.Timeout)}}
	if !r.Enabled {
		off := false
		s.Enabled = &off
	}
	if g := r.Git; g != nil {
		s.Git = &GitSpec{Event: g.Event, Repo: g.Repo, Branch: g.Branch, Provider: g.Provider}
	}
	return s
}

// Marshal writes the file as YAML that Parse reads back to the same file:
// a "${" in a value is written "$${", and secret fields keep their ${...}
// references (a File never holds secret values). An exported file starts
// with a comment saying how its secrets are written.
func (f *File) Marshal() ([]byte, error) {
	var n yaml.Node
	if err := n.Encode(f); err != nil {
		return nil, fmt.Errorf("marshal config: %w", err)
	}
	escapeTree(&n, "")
	var buf bytes.Buffer
	if f.comment != "" {
		for _, line := range strings.Split(f.comment, "\n") {
			buf.WriteString(strings.TrimRight("# "+line, " "))
			buf.WriteByte('\n')
		}
	}
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&n); err != nil {
		return nil, fmt.Errorf("marshal config: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("marshal config: %w", err)
	}
	return buf.Bytes(), nil
}

// escapeTree writes "${" as "$${" in every string value but the secret
// fields' references, so that Parse does not expand them.
func escapeTree(n *yaml.Node, path string) {
	switch n.Kind {
	case yaml.DocumentNode, yaml.SequenceNode:
		for _, c := range n.Content {
			escapeTree(c, path)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			sub := n.Content[i].Value
			if path != "" {
				sub = path + "." + sub
			}
			escapeTree(n.Content[i+1], sub)
		}
	case yaml.ScalarNode:
		switch path {
		case pathEndpointSecret, pathSourceSecrets, pathTenantKey, pathSuperKey:
			return
		}
		if strings.Contains(n.Value, "${") {
			n.Value = strings.ReplaceAll(n.Value, "${", "$${")
		}
	}
}
