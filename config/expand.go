package config

import (
	"fmt"
	"regexp"
	"strings"

	"go.yaml.in/yaml/v3"
)

// ref is one ${NAME} or ${NAME:-default} in a value.
type ref struct {
	name       string
	def        string
	hasDefault bool
}

// expandError is a malformed or unresolvable reference.
type expandError struct{ msg string }

func (e *expandError) Error() string { return e.msg }

// expand replaces the references in s with values from getenv. A variable
// that is unset or empty takes its default; without one it is an error.
// "$${" is a literal "${"; any other "$" is itself. Values are not
// expanded again.
func expand(s string, getenv func(string) string) (string, []ref, error) {
	if !strings.Contains(s, "$") {
		return s, nil, nil
	}
	var b strings.Builder
	var refs []ref
	for i := 0; i < len(s); {
		if s[i] != '$' {
			j := strings.IndexByte(s[i:], '$')
			if j < 0 {
				j = len(s) - i
			}
			b.WriteString(s[i : i+j])
			i += j
			continue
		}
		switch {
		case strings.HasPrefix(s[i:], "$${"):
			b.WriteString("${")
			i += 3
		case strings.HasPrefix(s[i:], "${"):
			end := strings.IndexByte(s[i+2:], '}')
			if end < 0 {
				return "", nil, &expandError{"unclosed ${: close it with }, or write $${ for a literal ${"}
			}
			r, err := parseRef(s[i+2 : i+2+end])
			if err != nil {
				return "", nil, err
			}
			v := getenv(r.name)
			if v == "" {
				if !r.hasDefault {
					return "", nil, &expandError{fmt.Sprintf("variable %s is not set (give it a default with ${%s:-default})", r.name, r.name)}
				}
				v = r.def
			}
			b.WriteString(v)
			refs = append(refs, r)
			i += 2 + end + 1
		default:
			b.WriteByte('$')
			i++
		}
	}
	return b.String(), refs, nil
}

var varNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// parseRef parses the inside of ${...}.
func parseRef(inner string) (ref, error) {
	name, def, hasDefault := strings.Cut(inner, ":-")
	if !varNameRE.MatchString(name) {
		return ref{}, &expandError{fmt.Sprintf("${%s} is not a variable reference: use ${NAME} or ${NAME:-default} (NAME: letters, digits and _), or $${ for a literal ${", clipText(name, 40))}
	}
	return ref{name: name, def: def, hasDefault: hasDefault}, nil
}

// soleRef returns the reference when s is exactly one ${...} and nothing else.
func soleRef(s string) (ref, bool) {
	if !strings.HasPrefix(s, "${") || !strings.HasSuffix(s, "}") || strings.Count(s, "${") != 1 || strings.Count(s, "}") != 1 {
		return ref{}, false
	}
	r, err := parseRef(s[2 : len(s)-1])
	return r, err == nil
}

// plainKeyRE matches a hookd API key or token as hookd generates them.
var plainKeyRE = regexp.MustCompile(`(^|[^0-9A-Za-z_])hkt?_[0-9A-Za-z]{43}($|[^0-9A-Za-z])`)

// Paths (mapping keys from the root, list indexes left out) of the fields
// that hold secrets. Their values must be references: they are checked and
// resolved here but left as written in the tree, so that a File never holds
// a secret in an exported field; validation resolves them again.
const (
	pathEndpointSecret = "tenants.endpoints.secret"
	pathSourceSecrets  = "tenants.sources.verifier.secrets"
	pathTenantKey      = "tenants.keys.key"
	pathSuperKey       = "keys.key"
)

// expandTree expands references in every scalar value of the tree rooted
// at n, in place, and checks that no plain API key is written in the file.
// Mapping keys are not expanded. A plain scalar whose value came (partly)
// from a variable is resolved again, so "max_in_flight: ${N}" is a number.
func (p *parser) expandTree(n *yaml.Node, path string) {
	switch n.Kind {
	case yaml.DocumentNode, yaml.SequenceNode:
		for _, c := range n.Content {
			p.expandTree(c, path)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			p.checkPlainKey(k)
			sub := k.Value
			if path != "" {
				sub = path + "." + k.Value
			}
			p.expandTree(v, sub)
		}
	case yaml.ScalarNode:
		p.checkPlainKey(n)
		switch path {
		case pathEndpointSecret, pathSourceSecrets:
			p.checkSecretRef(n, true)
			return
		case pathTenantKey, pathSuperKey:
			p.checkSecretRef(n, false)
			return
		}
		out, refs, err := expand(n.Value, p.getenv)
		if err != nil {
			p.probs.add(n.Line, "", "%s", err.Error())
			return
		}
		if len(refs) == 0 && out == n.Value {
			return
		}
		n.Value = out
		if n.Style == 0 { // plain, untagged: resolve the new text as YAML would
			n.Tag = ""
		}
	}
}

// checkPlainKey refuses a hookd API key written in the file.
func (p *parser) checkPlainKey(n *yaml.Node) {
	if n.Kind == yaml.ScalarNode && plainKeyRE.MatchString(n.Value) {
		p.probs.add(n.Line, "", "a plain API key is written in the file: give a hash or ${ENV}")
	}
}

// checkSecretRef checks a secret field: a single reference whose variable
// is set, or (when mayKeep) ${NAME:-} which may be empty. An empty field is
// left to validation.
func (p *parser) checkSecretRef(n *yaml.Node, mayKeep bool) {
	if n.Value == "" || n.Tag == "!!null" {
		return
	}
	r, ok := soleRef(n.Value)
	switch {
	case !ok && !mayKeep:
		p.probs.add(n.Line, "", "key: write a ${VAR} holding the key, not the key itself: give a hash or ${ENV}")
	case !ok:
		p.probs.add(n.Line, "", "a secret must come from the environment: write ${VAR} (or ${VAR:-} to keep the current secret when VAR is empty), not the secret itself")
	case r.hasDefault && (!mayKeep || r.def != ""):
		p.probs.add(n.Line, "", "${%s:-...}: a secret field takes no default value (only ${%s:-}, which keeps the current secret)", r.name, r.name)
	case !r.hasDefault && p.getenv(r.name) == "":
		p.probs.add(n.Line, "", "variable %s is not set", r.name)
	}
}

// resolveSecret is the value of a checked secret field ("" to keep);
// false when the field is not a reference (a value brought in by a YAML
// alias escapes the check of expandTree).
func (p *parser) resolveSecret(s string) (string, bool) {
	if s == "" {
		return "", true
	}
	if r, ok := soleRef(s); ok {
		return p.getenv(r.name), true
	}
	return "", false
}

// clipText shortens s for a message.
func clipText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n] + "..."
}

// Variables returns the values getenv has for the variables the values of
// data reference (the ones set and not empty): what a client such as
// hookd apply sends along with the file, so that the server expands it as
// the client's environment would, and never with its own. References in
// comments and keys, and escaped ones ($${...}), are not included; a file
// that is not YAML gives none (Parse reports why).
func Variables(data []byte, getenv func(string) string) map[string]string {
	out := map[string]string{}
	var doc yaml.Node
	if len(data) > MaxFileSize || yaml.Unmarshal(data, &doc) != nil {
		return out
	}
	var walk func(n *yaml.Node, depth int)
	walk = func(n *yaml.Node, depth int) {
		if depth > 1000 {
			return
		}
		switch n.Kind {
		case yaml.DocumentNode, yaml.SequenceNode:
			for _, c := range n.Content {
				walk(c, depth+1)
			}
		case yaml.MappingNode:
			for i := 1; i < len(n.Content); i += 2 {
				walk(n.Content[i], depth+1)
			}
		case yaml.ScalarNode:
			for _, name := range refNames(n.Value) {
				if v := getenv(name); v != "" {
					out[name] = v
				}
			}
		}
	}
	walk(&doc, 0)
	return out
}

// refNames lists the variables s references, scanning as expand does.
func refNames(s string) []string {
	var out []string
	for i := 0; i < len(s); {
		switch {
		case strings.HasPrefix(s[i:], "$${"):
			i += 3
		case strings.HasPrefix(s[i:], "${"):
			end := strings.IndexByte(s[i+2:], '}')
			if end < 0 {
				return out
			}
			if r, err := parseRef(s[i+2 : i+2+end]); err == nil {
				out = append(out, r.name)
			}
			i += 2 + end + 1
		default:
			i++
		}
	}
	return out
}
