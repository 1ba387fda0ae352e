package config

import (
	"fmt"
	"sort"
	"strings"

	"github.com/hookd/hookd"
)

// Problem is one mistake in a file, or one reason a plan cannot be made.
type Problem struct {
	File     string `json:"file"`
	Line     int    `json:"line,omitempty"`     // 1-based; 0 when no line applies
	Resource string `json:"resource,omitempty"` // e.g. "endpoint acme/billing"
	Message  string `json:"message"`
}

// String is "file:line: resource: message".
func (p Problem) String() string {
	var b strings.Builder
	b.WriteString(p.File)
	if p.Line > 0 {
		fmt.Fprintf(&b, ":%d", p.Line)
	}
	b.WriteString(": ")
	if p.Resource != "" {
		b.WriteString(p.Resource)
		b.WriteString(": ")
	}
	b.WriteString(p.Message)
	return b.String()
}

// maxProblems bounds how many problems one Error reports.
const maxProblems = 50

// Error is an invalid file (or a plan that cannot be made): every problem
// found, in line order. It unwraps to a *hookd.Error with code EINVALID
// whose message is the same text, so hookd.ErrorCode and the HTTP layer
// treat it as a validation error.
type Error struct {
	Problems []Problem
}

// Error returns one problem per line.
func (e *Error) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// Unwrap returns the error as an EINVALID *hookd.Error.
func (e *Error) Unwrap() error {
	return &hookd.Error{Code: hookd.EINVALID, Message: e.Error()}
}

// problems collects the problems of one file.
type problems struct {
	file string
	list []Problem
}

func (ps *problems) add(line int, resource, format string, args ...any) {
	ps.list = append(ps.list, Problem{File: ps.file, Line: line, Resource: resource, Message: fmt.Sprintf(format, args...)})
}

// addErr adds err: its user-safe message for hookd errors.
func (ps *problems) addErr(line int, resource string, err error) {
	ps.add(line, resource, "%s", message(err))
}

func (ps *problems) empty() bool { return len(ps.list) == 0 }

// err returns the collected problems as an *Error sorted by line, nil if
// there are none.
func (ps *problems) err() error {
	if len(ps.list) == 0 {
		return nil
	}
	list := append([]Problem(nil), ps.list...)
	sort.SliceStable(list, func(i, j int) bool { return list[i].Line < list[j].Line })
	if len(list) > maxProblems {
		more := len(list) - maxProblems
		list = append(list[:maxProblems], Problem{File: ps.file, Message: fmt.Sprintf("and %d more problems", more)})
	}
	return &Error{Problems: list}
}

// message is the text of err to show: the message of a hookd error, the
// text of any other.
func message(err error) string {
	if hookd.ErrorCode(err) == hookd.EINTERNAL {
		return err.Error()
	}
	return hookd.ErrorMessage(err)
}
