package rule

import (
	"strconv"
	"strings"
)

// Error reports invalid criteria or an invalid template. Its text names
// where the problem is and holds only what the user wrote, so it is safe to
// show to the user (callers translate it to hookd.EINVALID).
type Error struct {
	// Path is the criterion's path as written, or, for a template, where the
	// bad string sits in the parameters (e.g. args.2 or headers["X-Id"]).
	// It is empty for a problem with the document as a whole or with a
	// template string at its root.
	Path string
	// Column is the 1-based byte column of the problem in a template string
	// or a path; 0 when the problem has no column.
	Column int
	// Msg says what is wrong.
	Msg string
}

// Error implements the error interface: "path: column N: message", leaving
// out the parts that are not set.
func (e *Error) Error() string {
	var b strings.Builder
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	if e.Column > 0 {
		b.WriteString("column ")
		b.WriteString(strconv.Itoa(e.Column))
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// syntaxError is a problem at a byte offset of a string being parsed; the
// caller turns it into an *Error that says which string.
type syntaxError struct {
	off int
	msg string
}

func (e *syntaxError) Error() string { return e.msg }

// at returns an *Error for a syntax error found in the string at path.
func (e *syntaxError) at(path string) *Error {
	return &Error{Path: path, Column: e.off + 1, Msg: e.msg}
}
