package action

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"net/textproto"
	"slices"
	"strings"

	"github.com/hookd/hookd"
	"github.com/hookd/hookd/internal/jsondoc"
	"github.com/hookd/hookd/rule"
)

// Render fills in an action's templates with doc, the trigger document
// ({"trigger": {...}}, as Trigger.Doc returns): EventType, Data (a JSON
// template whose lone placeholders keep their type; when Data is empty the
// trigger's body, doc's trigger.body), URL, the values of Headers, the
// elements of Command, the values of Env, Stdin and Dir. Other fields are
// copied. It also checks what rendering produced: a valid event type not
// under "hookd.", data within the payload limit, an absolute http(s) URL,
// header values without line breaks, no NUL bytes in command arguments or
// the environment. Errors are EINVALID hookd errors naming the field.
func Render(a hookd.Action, doc any) (hookd.Action, error) {
	return render(a, doc, nil)
}

// render is Render; body, when not nil, is the trigger's body as stored,
// used byte for byte as the default data of a publish action.
func render(a hookd.Action, doc any, body json.RawMessage) (hookd.Action, error) {
	return renderWith(a, nil, doc, body)
}

// renderWith is render with a publish action's data template compiled
// already (data; nil compiles a.Data here).
func renderWith(a hookd.Action, data *rule.Template, doc any, body json.RawMessage) (hookd.Action, error) {
	out := a
	str := func(field, s string) (string, error) {
		if !templated(s) {
			return s, nil
		}
		v, err := rule.RenderString(s, doc, headerKeys)
		if err != nil {
			return "", invalid(field, err)
		}
		return v, nil
	}
	var err error
	switch a.Type {
	case hookd.ActionPublish:
		if out.EventType, err = str("action.event_type", a.EventType); err != nil {
			return a, err
		}
		if err := checkEventType(out.EventType); err != nil {
			return a, err
		}
		if len(a.Data) > 0 {
			t := data
			if t == nil {
				if t, err = rule.CompileTemplate(a.Data, headerKeys); err != nil {
					return a, invalid("action.data", err)
				}
			}
			if out.Data, err = t.Render(doc); err != nil {
				return a, invalid("action.data", err)
			}
		} else if body != nil {
			out.Data = append(json.RawMessage(nil), body...)
		} else if out.Data, err = json.Marshal(lookupBody(doc)); err != nil {
			return a, invalid("action.data", err)
		}
		if len(bytes.TrimSpace(out.Data)) == 0 {
			out.Data = json.RawMessage("null")
		}
		if len(out.Data) > hookd.MaxPayloadSize {
			return a, hookd.Errorf(hookd.EINVALID, "action.data: the rendered data is over %d bytes.", hookd.MaxPayloadSize)
		}
	case hookd.ActionForward:
		if out.URL, err = str("action.url", a.URL); err != nil {
			return a, err
		}
		if err := checkURL(out.URL); err != nil {
			return a, err
		}
		if len(a.Headers) > 0 {
			out.Headers = make(map[string]string, len(a.Headers))
			for _, k := range sortedKeys(a.Headers) {
				field := fmt.Sprintf("action.headers[%q]", k)
				v, err := str(field, a.Headers[k])
				if err != nil {
					return a, err
				}
				if strings.ContainsAny(v, "\r\n\x00") {
					return a, hookd.Errorf(hookd.EINVALID, "%s: the rendered value holds a line break.", field)
				}
				out.Headers[k] = v
			}
		}
		out.ForwardHeaders = slices.Clone(a.ForwardHeaders)
		out.RetrySchedule = slices.Clone(a.RetrySchedule)
	case hookd.ActionCommand:
		out.Command = make([]string, len(a.Command))
		for i, arg := range a.Command {
			field := fmt.Sprintf("action.command[%d]", i)
			if out.Command[i], err = str(field, arg); err != nil {
				return a, err
			}
			if strings.IndexByte(out.Command[i], 0) >= 0 {
				return a, hookd.Errorf(hookd.EINVALID, "%s: the rendered argument holds a NUL byte.", field)
			}
		}
		if len(a.Env) > 0 {
			out.Env = make(map[string]string, len(a.Env))
			for _, k := range sortedKeys(a.Env) {
				field := fmt.Sprintf("action.env[%q]", k)
				v, err := str(field, a.Env[k])
				if err != nil {
					return a, err
				}
				if strings.IndexByte(v, 0) >= 0 {
					return a, hookd.Errorf(hookd.EINVALID, "%s: the rendered value holds a NUL byte.", field)
				}
				out.Env[k] = v
			}
		}
		if out.Stdin, err = str("action.stdin", a.Stdin); err != nil {
			return a, err
		}
		if out.Dir, err = str("action.dir", a.Dir); err != nil {
			return a, err
		}
		if strings.IndexByte(out.Dir, 0) >= 0 {
			return a, hookd.Errorf(hookd.EINVALID, "action.dir: the rendered directory holds a NUL byte.")
		}
	default:
		return a, hookd.Errorf(hookd.EINVALID, "action.type: unknown type %q: use publish, forward or command.", a.Type)
	}
	return out, nil
}

// lookupBody returns doc's trigger.body, nil when there is none.
func lookupBody(doc any) any {
	m, _ := doc.(map[string]any)
	t, _ := m["trigger"].(map[string]any)
	return t["body"]
}

// Listens reports whether rule r listens to trigger t (its criteria are
// another matter):
//   - Source set and Git not: t came to the source of that name;
//   - Trigger set: t is the generic trigger of that name;
//   - Git set: t has git fields, and they match every field GitMatch sets
//     (event, repo ignoring case, branch, provider), and if Source is set
//     too, t came to that source.
//
// Source and Trigger listen independently: a rule with both hears either.
// A rule with none of the three set listens to nothing.
func Listens(r *hookd.Rule, t *hookd.Trigger) bool {
	if r == nil || t == nil {
		return false
	}
	if r.Trigger != "" && t.Source == "" && t.Name == r.Trigger {
		return true
	}
	source := hookd.NormalizeSourceName(r.Source)
	if r.Git == nil {
		return source != "" && t.Source == source
	}
	if source != "" && t.Source != source {
		return false
	}
	g, m := t.Git, r.Git
	if g == nil {
		return false
	}
	return (m.Event == "" || strings.EqualFold(m.Event, g.Event)) &&
		(m.Repo == "" || strings.EqualFold(m.Repo, g.Repo)) &&
		(m.Branch == "" || m.Branch == g.Branch) &&
		(m.Provider == "" || strings.EqualFold(m.Provider, g.Provider))
}

// docOf is t.Doc() with the body's numbers decoded as json.Number, so that
// integers beyond 2^53 (Discord or Twitter ids) keep every digit in
// criteria and templates. The body is decoded once, here: Doc is given
// the trigger without it.
func DocOf(t *hookd.Trigger) map[string]any {
	doc, _ := docOf(t)
	return doc
}

// docOf is DocOf, also reporting whether the body is valid JSON (exactly
// one value, as json.Valid): the decoder has checked it.
func docOf(t *hookd.Trigger) (doc map[string]any, valid bool) {
	bare := *t
	bare.Body = nil
	doc = bare.Doc()
	body, err := jsondoc.Decode(t.Body)
	valid = err == nil
	if err != nil { // not exactly one value: take the first, if any, as before
		dec := json.NewDecoder(bytes.NewReader(t.Body))
		dec.UseNumber()
		if dec.Decode(&body) != nil {
			body = nil
		}
	}
	if body != nil {
		doc["trigger"].(map[string]any)["body"] = body
	}
	return doc, valid
}

func canonicalHeader(name string) string { return textproto.CanonicalMIMEHeaderKey(name) }

func sortedKeys(m map[string]string) []string { return slices.Sorted(maps.Keys(m)) }
