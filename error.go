package hookd

import (
	"errors"
	"fmt"
)

// Error codes. Each maps to one HTTP status in the http package; the string
// value is what API clients see in {"error":{"code":...}}.
const (
	ECONFLICT      = "conflict"      // the resource exists or is in the wrong state
	EINTERNAL      = "internal"      // a bug or unexpected failure; details are logged, not shown
	EINVALID       = "invalid"       // the request is malformed or fails validation
	ENOTFOUND      = "not_found"     // the resource does not exist (or is not visible to the caller)
	EUNAUTHORIZED  = "unauthorized"  // missing, wrong, expired or revoked credentials
	EFORBIDDEN     = "forbidden"     // valid credentials without the needed role
	ETOOLARGE      = "too_large"     // a body or batch over its limit
	EUNPROCESSABLE = "unprocessable" // well-formed but rejected, e.g. a payload failing its schema
	EUNAVAILABLE   = "unavailable"   // the store or a dependency is failing; safe to retry
	ERATELIMITED   = "rate_limited"  // too many requests
	EUNSUPPORTED   = "unsupported"   // an unsupported media type
)

// Error is hookd's one error type. Message is safe to show a user; anything
// that is not an *Error is treated as EINTERNAL and its text is never shown.
type Error struct {
	Code    string
	Message string
}

// Error implements the error interface.
func (e *Error) Error() string {
	return fmt.Sprintf("hookd error: code=%s message=%s", e.Code, e.Message)
}

// Errorf returns an *Error with the given code and a formatted message.
func Errorf(code string, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of the first *Error in err's chain, "" for nil,
// and EINTERNAL for any other error.
func ErrorCode(err error) string {
	var e *Error
	if err == nil {
		return ""
	} else if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the user-safe message of the first *Error in err's
// chain, "" for nil, and a generic text for any other error.
func ErrorMessage(err error) string {
	var e *Error
	if err == nil {
		return ""
	} else if errors.As(err, &e) {
		return e.Message
	}
	return "Internal error."
}
