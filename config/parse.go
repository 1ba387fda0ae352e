package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/hookd/hookd"
	"github.com/hookd/hookd/action"
	"github.com/hookd/hookd/filter"
	"github.com/hookd/hookd/schema"
	"github.com/hookd/hookd/signature"
)

// MaxFileSize is the largest configuration file Parse reads.
const MaxFileSize = 8 << 20

// Options are the server's policies a file is checked against; the zero
// value is the server's default (https only, no command actions).
type Options struct {
	// AllowInsecure accepts http:// endpoint URLs (the server's --dev).
	AllowInsecure bool
	// AllowCommands accepts command actions (the server's --allow-commands).
	AllowCommands bool
}

// Load reads, expands and validates the file at path with the default
// Options; see Parse.
func Load(path string, getenv func(string) string) (*File, error) {
	return LoadWith(path, getenv, Options{})
}

// LoadWith is Load with the server's policies.
func LoadWith(path string, getenv func(string) string, opts Options) (*File, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, hookd.Errorf(hookd.EINVALID, "Cannot read the configuration file %s: %v", path, errors.Unwrap(err))
	}
	defer fh.Close()
	data, err := io.ReadAll(io.LimitReader(fh, MaxFileSize+1))
	if err != nil {
		return nil, hookd.Errorf(hookd.EINVALID, "Cannot read the configuration file %s.", path)
	}
	return ParseWith(path, data, getenv, opts)
}

// Parse decodes a configuration file with the default Options. name is
// the file's name in messages. References ${VAR} and ${VAR:-default} in
// values expand from getenv (nil: no variables); "$${" is a literal "${".
// Decoding is strict (an unknown key is an error) and every resource is
// validated as the API would validate it. Any problem gives an *Error
// listing each one as "name:line: resource: message"; a file with no
// document at all is an error too (write "tenants: []" to manage nothing).
func Parse(name string, data []byte, getenv func(string) string) (*File, error) {
	return ParseWith(name, data, getenv, Options{})
}

// ParseWith is Parse with the server's policies.
func ParseWith(name string, data []byte, getenv func(string) string, opts Options) (*File, error) {
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	p := &parser{getenv: getenv, opts: opts, probs: problems{file: name}}
	f := p.parse(data)
	if err := p.probs.err(); err != nil {
		return nil, err
	}
	f.name, f.checked = name, true
	return f, nil
}

// maxNodes bounds the values of a file with its aliases expanded, so that
// a few lines of aliases to aliases cannot make a parse run for hours.
const maxNodes = 1_000_000

// expandedSize counts the nodes under n with aliases followed; false for
// an alias inside what it refers to. memo holds finished counts, -1 for
// nodes being counted.
func expandedSize(n *yaml.Node, memo map[*yaml.Node]int, depth int) (int, bool) {
	if c, ok := memo[n]; ok {
		return c, c >= 0
	}
	if depth > 10000 {
		return 0, false
	}
	memo[n] = -1
	total := 1
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		c, ok := expandedSize(n.Alias, memo, depth+1)
		if !ok {
			return 0, false
		}
		total += c
	}
	for _, c := range n.Content {
		k, ok := expandedSize(c, memo, depth+1)
		if !ok {
			return 0, false
		}
		total += k
		if total > maxNodes {
			break
		}
	}
	memo[n] = total
	return total, true
}

// parser holds the state of one Parse.
type parser struct {
	getenv func(string) string
	opts   Options
	probs  problems
}

func (p *parser) parse(data []byte) *File {
	if len(data) > MaxFileSize {
		p.probs.add(0, "", "the file is larger than %d bytes", MaxFileSize)
		return nil
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if err == io.EOF {
			p.probs.add(0, "", "the file is empty; write \"tenants: []\" to manage nothing")
		} else {
			p.yamlError(err)
		}
		return nil
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err != io.EOF {
		line := 0
		if err == nil {
			line = extra.Line
		}
		p.probs.add(line, "", "a configuration file holds one YAML document; remove the second (after ---)")
		return nil
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	if root.Kind != yaml.MappingNode {
		if root.ShortTag() == "!!null" {
			p.probs.add(root.Line, "", "the file is empty; write \"tenants: []\" to manage nothing")
		} else {
			p.probs.add(root.Line, "", "the file must be a mapping with tenants: (and keys:), not %s", describeNode(root))
		}
		return nil
	}
	if n, ok := expandedSize(root, map[*yaml.Node]int{}, 0); !ok || n > maxNodes {
		p.probs.add(0, "", "the file is too large once its aliases are expanded (at most %d values), or an alias refers to itself", maxNodes)
		return nil
	}
	p.expandTree(root, "")
	if !p.probs.empty() {
		return nil
	}
	f := &File{}
	if err := f.UnmarshalYAML(root); err != nil {
		p.yamlError(err)
		return nil
	}
	p.validate(f)
	return f
}

// yamlError records a yaml library error with its line.
func (p *parser) yamlError(err error) {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		for _, msg := range te.Errors {
			line, text := lineProblem(msg)
			p.probs.add(line, "", "%s", text)
		}
		return
	}
	line, text := lineProblem(err.Error())
	p.probs.add(line, "", "%s", text)
}

// validate checks every resource of f and prepares its domain form.
func (p *parser) validate(f *File) {
	tenants := map[string]int{}
	sources := map[string]string{} // name -> tenant, across the file
	for _, t := range f.Tenants {
		if t == nil {
			p.probs.add(f.loc.at("tenants"), "", "a tenant entry is empty")
			continue
		}
		tenant := &hookd.Tenant{ID: t.ID, Name: t.Name}
		res := resourceName(hookd.KindTenant, "", t.ID)
		switch err := tenant.Validate(); {
		case t.ID == "":
			p.probs.add(t.loc.line, "tenant", "id is required")
		case err != nil:
			p.probs.addErr(t.loc.at("id"), res, err)
		}
		if first, dup := tenants[t.ID]; dup && t.ID != "" {
			p.probs.add(t.loc.at("id"), res, "declared twice (first on line %d)", first)
		}
		tenants[t.ID] = t.loc.at("id")
		for _, src := range t.Sources {
			if src != nil {
				name := hookd.NormalizeSourceName(src.Name)
				if other, dup := sources[name]; dup && other != t.ID && name != "" {
					p.probs.add(src.loc.at("name"), resourceName(hookd.KindSource, t.ID, name), "source names are unique across tenants; tenant %s declares it too", other)
				}
				sources[name] = t.ID
			}
		}
		p.validateTenant(t)
	}
	p.validateKeys(f.Keys, "", f.loc.at("keys"))
}

// validateTenant checks the resources of one tenant.
func (p *parser) validateTenant(t *TenantSpec) {
	types := map[string]int{}
	for _, et := range t.EventTypes {
		if et == nil {
			p.probs.add(t.loc.at("event_types"), "", "an event type entry is empty")
			continue
		}
		res := resourceName(hookd.KindEventType, t.ID, et.Name)
		if first, dup := types[et.Name]; dup {
			p.probs.add(et.loc.at("name"), res, "declared twice in this tenant (first on line %d)", first)
		}
		types[et.Name] = et.loc.at("name")
		p.validateEventType(t.ID, et, res)
	}
	endpoints := map[string]int{}
	for _, ep := range t.Endpoints {
		if ep == nil {
			p.probs.add(t.loc.at("endpoints"), "", "an endpoint entry is empty")
			continue
		}
		res := resourceName(hookd.KindEndpoint, t.ID, ep.Name)
		if first, dup := endpoints[ep.Name]; dup && ep.Name != "" {
			p.probs.add(ep.loc.at("name"), res, "declared twice in this tenant (first on line %d); endpoint names are unique within a tenant", first)
		}
		endpoints[ep.Name] = ep.loc.at("name")
		p.validateEndpoint(t.ID, ep, res)
	}
	sources := map[string]int{}
	for _, src := range t.Sources {
		if src == nil {
			p.probs.add(t.loc.at("sources"), "", "a source entry is empty")
			continue
		}
		name := hookd.NormalizeSourceName(src.Name)
		res := resourceName(hookd.KindSource, t.ID, name)
		if first, dup := sources[name]; dup && name != "" {
			p.probs.add(src.loc.at("name"), res, "declared twice (first on line %d)", first)
		}
		sources[name] = src.loc.at("name")
		p.validateSource(t.ID, src, res)
	}
	rules := map[string]int{}
	for _, r := range t.Rules {
		if r == nil {
			p.probs.add(t.loc.at("rules"), "", "a rule entry is empty")
			continue
		}
		res := resourceName(hookd.KindRule, t.ID, r.Name)
		if first, dup := rules[r.Name]; dup && r.Name != "" {
			p.probs.add(r.loc.at("name"), res, "declared twice in this tenant (first on line %d)", first)
		}
		rules[r.Name] = r.loc.at("name")
		p.validateRule(t.ID, r, res)
	}
	p.validateKeys(t.Keys, t.ID, t.loc.at("keys"))
}

func (p *parser) validateEventType(tenant string, s *EventTypeSpec, res string) {
	if s.Name == "" {
		p.probs.add(s.loc.line, "event type", "name is required")
		return
	}
	et := &hookd.EventType{TenantID: tenant, Name: s.Name, Description: s.Description, Schema: s.Schema.raw(),
		Example: s.Example.raw(), Deprecated: s.Deprecated, Archived: s.Archived}
	if err := et.Validate(); err != nil {
		p.probs.addErr(s.loc.at("name"), res, err)
		return
	}
	if err := schema.CheckEventType(et); err != nil {
		line := s.loc.at("schema")
		if strings.HasPrefix(message(err), "The example") {
			line = s.loc.at("example")
		}
		p.probs.addErr(line, res, err)
		return
	}
	s.typ = et
}

func (p *parser) validateEndpoint(tenant string, s *EndpointSpec, res string) {
	switch {
	case s.Name == "":
		p.probs.add(s.loc.line, "endpoint", "name is required: it identifies the endpoint from one load of the file to the next")
		return
	case len(s.Name) > 200 || strings.ContainsAny(s.Name, "\x00\r\n"):
		p.probs.add(s.loc.at("name"), res, "name must be one line of at most 200 characters")
		return
	}
	ep := &hookd.Endpoint{
		TenantID: tenant, Name: s.Name, Description: s.Description, URL: s.URL, Events: s.Events, Headers: s.Headers,
		Filter: s.Filter.raw(), Timeout: hookd.Duration(s.Timeout), RetrySchedule: durations(s.RetrySchedule),
		MaxInFlight: s.MaxInFlight, RateLimit: s.RateLimit, Mode: hookd.DeliveryMode(s.Mode),
	}
	for _, sig := range s.Signatures {
		ep.Signatures = append(ep.Signatures, hookd.Signature{Scheme: hookd.SignatureScheme(sig.Scheme), Header: sig.Header})
	}
	ep.SetDefaults()
	ok := true
	check := func(field string, err error) {
		if err != nil && ok {
			p.probs.addErr(s.loc.at(field), res, err)
			ok = false
		}
	}
	if s.URL == "" {
		check("url", hookd.Errorf(hookd.EINVALID, "url is required"))
	}
	check("url", hookd.ValidateEndpointURL(ep.URL, p.opts.AllowInsecure))
	if len(ep.Events) == 0 {
		check("events", hookd.Errorf(hookd.EINVALID, "events is required: list event patterns such as \"*\", \"invoice.*\" or \"invoice.paid\""))
	}
	for _, e := range ep.Events {
		check("events", hookd.ValidateEventPattern(e))
		check("events", hookd.ValidateOperationalPattern(e))
	}
	check("filter", filter.Validate(ep.Filter))
	check("", ep.Validate(p.opts.AllowInsecure))
	var isRef bool
	if s.secret, isRef = p.resolveSecret(s.Secret); !isRef {
		check("secret", hookd.Errorf(hookd.EINVALID, "secret: write a ${VAR} reference"))
	}
	if s.secret != "" {
		check("secret", validateSecret(s.secret))
	}
	if ok {
		s.ep = ep
	}
}

func (p *parser) validateSource(tenant string, s *SourceSpec, res string) {
	if s.Name == "" {
		p.probs.add(s.loc.line, "source", "name is required")
		return
	}
	v := &s.Verifier
	v.secrets = nil
	for _, ref := range v.Secrets {
		val, isRef := p.resolveSecret(ref)
		if !isRef {
			p.probs.add(s.loc.at("verifier"), res, "verifier.secrets: write ${VAR} references")
			return
		}
		if val != "" {
			v.secrets = append(v.secrets, val)
		}
	}
	src := &hookd.Source{
		TenantID: tenant, Name: s.Name, Description: s.Description, ContentTypes: s.ContentTypes, MaxBodyBytes: s.MaxBodyBytes,
		RateLimit: s.RateLimit, DedupWindow: hookd.Duration(s.DedupWindow), HeartbeatEvery: hookd.Duration(s.HeartbeatEvery),
		Verifier: hookd.SourceVerifier{
			Type: v.Type, Secrets: v.secrets, Header: v.Header, Algorithm: v.Algorithm, Encoding: v.Encoding, Prefix: v.Prefix,
			TimestampHeader: v.TimestampHeader, Tolerance: hookd.Duration(v.Tolerance), Username: v.Username,
		},
	}
	if r := s.Response; r != nil {
		src.Response = &hookd.SourceResponse{Status: r.Status, Body: r.Body, ContentType: r.ContentType}
	}
	src.SetDefaults()
	if err := src.Validate(); err != nil {
		field := ""
		switch msg := message(err); {
		case strings.Contains(msg, "source name"):
			field = "name"
		case strings.Contains(msg, "verifier"):
			field = "verifier"
		}
		p.probs.addErr(s.loc.at(field), res, err)
		return
	}
	if strings.EqualFold(src.Name, hookd.ST2SourceName) {
		p.probs.add(s.loc.at("name"), res, "the source name %q is reserved for StackStorm's generic webhook (POST /v1/webhooks/st2)", src.Name)
		return
	}
	keep := len(v.Secrets) > 0 && len(v.secrets) == 0
	check := src.Verifier
	if keep {
		// Every secret is empty, so the source keeps its current ones:
		// check the other settings with a stand-in of the right form.
		check.Secrets = []string{placeholderSecret}
		src.Verifier.Secrets = nil
	}
	if err := signature.ValidateSourceVerifier(check); err != nil {
		p.probs.addErr(s.loc.at("verifier"), res, err)
		return
	}
	s.src = src
}

func (p *parser) validateRule(tenant string, s *RuleSpec, res string) {
	r := &hookd.Rule{
		TenantID: tenant, Name: s.Name, Description: s.Description, Enabled: s.Enabled == nil || *s.Enabled,
		Source: hookd.NormalizeSourceName(s.Source), Trigger: s.Trigger, Criteria: s.Criteria.raw(), Action: s.Action.action(),
	}
	if g := s.Git; g != nil {
		r.Git = &hookd.GitMatch{Event: g.Event, Repo: g.Repo, Branch: g.Branch, Provider: g.Provider}
	}
	if err := action.ValidateRule(r, p.opts.AllowCommands, nil); err != nil {
		msg := message(err)
		if strings.HasPrefix(msg, "action") {
			field, _, _ := strings.Cut(strings.TrimPrefix(msg, "action."), ":")
			line := s.Action.loc.at(strings.TrimRight(strings.SplitN(field, "[", 2)[0], " "))
			if line == 0 {
				line = s.loc.at("action")
			}
			p.probs.addErr(line, res, err)
			return
		}
		field := ""
		switch {
		case strings.HasPrefix(msg, "Invalid rule name"):
			field = "name"
		case strings.HasPrefix(msg, "Invalid trigger name"):
			field = "trigger"
		case strings.HasPrefix(msg, "git"):
			field = "git"
		case strings.HasPrefix(msg, "source"):
			field = "source"
		case strings.HasPrefix(msg, "criteria"):
			field = "criteria"
		}
		p.probs.addErr(s.loc.at(field), res, err)
		return
	}
	s.rule = r
}

// action returns the domain form of a.
func (a *ActionSpec) action() hookd.Action {
	return hookd.Action{
		Type: a.Type, EventType: a.EventType, Data: a.Data.raw(), URL: a.URL, ForwardHeaders: a.ForwardHeaders,
		Headers: a.Headers, RetrySchedule: durations(a.RetrySchedule), Command: a.Command, Env: a.Env, Stdin: a.Stdin,
		Shell: a.Shell, Dir: a.Dir, Concurrency: a.Concurrency, Timeout: hookd.Duration(a.Timeout),
	}
}

// validateKeys checks the keys of one tenant ("" for superadmin keys).
func (p *parser) validateKeys(keys []*KeySpec, tenant string, line int) {
	names := map[string]int{}
	for _, k := range keys {
		if k == nil {
			p.probs.add(line, "", "a key entry is empty")
			continue
		}
		res := resourceName(hookd.KindKey, tenant, k.Name)
		if k.Name == "" {
			p.probs.add(k.loc.line, "key", "name is required: it identifies the key from one load of the file to the next")
			continue
		}
		if first, dup := names[k.Name]; dup {
			p.probs.add(k.loc.at("name"), res, "declared twice (first on line %d)", first)
		}
		names[k.Name] = k.loc.at("name")
		role := hookd.Role(k.Role)
		switch {
		case tenant == "" && role == "":
			role = hookd.RoleSuperadmin
		case tenant == "" && role != hookd.RoleSuperadmin:
			p.probs.add(k.loc.at("role"), res, "top-level keys are superadmin keys; put %s keys under their tenant", k.Role)
			continue
		case tenant != "" && role == hookd.RoleSuperadmin:
			p.probs.add(k.loc.at("role"), res, "a superadmin key belongs to no tenant: put it under the top-level keys:")
			continue
		case tenant != "" && role != hookd.RoleAdmin && role != hookd.RoleViewer:
			p.probs.add(k.loc.at("role"), res, "role must be admin or viewer")
			continue
		}
		key := &hookd.APIKey{TenantID: tenant, Role: role, Name: k.Name}
		if err := key.Validate(); err != nil {
			p.probs.addErr(k.loc.at("name"), res, err)
			continue
		}
		switch {
		case k.Hash != "" && k.Key != "":
			p.probs.add(k.loc.at("key"), res, "give either hash or key, not both")
		case k.Hash != "":
			h := strings.ToLower(k.Hash)
			if !isHexHash(h) {
				p.probs.add(k.loc.at("hash"), res, "hash must be the hex SHA-256 of the key (64 hex digits), as hookd stores it")
				continue
			}
			k.hash = h
		case k.Key != "":
			val, isRef := p.resolveSecret(k.Key)
			switch {
			case !isRef:
				p.probs.add(k.loc.at("key"), res, "key: write a ${VAR} holding the key: give a hash or ${ENV}")
			case val == "":
				p.probs.add(k.loc.at("key"), res, "key: the variable is empty")
			case strings.HasPrefix(val, hookd.TokenPrefix):
				p.probs.add(k.loc.at("key"), res, "key: the variable holds a token (%s...), not an API key", hookd.TokenPrefix)
			case len(val) < 16:
				p.probs.add(k.loc.at("key"), res, "key: an API key must be at least 16 characters")
			default:
				k.hash = hookd.HashAPIKey(val)
			}
		default:
			p.probs.add(k.loc.line, res, "give a hash or ${ENV}: hash: <hex SHA-256> or key: ${VAR}")
		}
	}
}

// role returns the key's effective role.
func (k *KeySpec) role(tenant string) hookd.Role {
	if tenant == "" {
		return hookd.RoleSuperadmin
	}
	return hookd.Role(k.Role)
}

func isHexHash(s string) bool {
	if len(s) != 64 {
		return false
	}
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// String is the file's name and how many tenants it declares.
func (f *File) String() string {
	return fmt.Sprintf("%s (%d tenants)", f.name, len(f.Tenants))
}
