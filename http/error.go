package http

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"

	"github.com/hookd/hookd"
)

// codeMethodNotAllowed is the error code of a 405. It is not a hookd.Error
// code of the domain: only routing produces it.
const codeMethodNotAllowed = "method_not_allowed"

// statuses maps error codes to HTTP statuses: the one table of the API.
var statuses = map[string]int{
	hookd.EINVALID:       http.StatusBadRequest,
	hookd.EUNAUTHORIZED:  http.StatusUnauthorized,
	hookd.EFORBIDDEN:     http.StatusForbidden,
	hookd.ENOTFOUND:      http.StatusNotFound,
	codeMethodNotAllowed: http.StatusMethodNotAllowed,
	hookd.ECONFLICT:      http.StatusConflict,
	hookd.ETOOLARGE:      http.StatusRequestEntityTooLarge,
	hookd.EUNSUPPORTED:   http.StatusUnsupportedMediaType,
	hookd.EUNPROCESSABLE: http.StatusUnprocessableEntity,
	hookd.ERATELIMITED:   http.StatusTooManyRequests,
	hookd.EUNAVAILABLE:   http.StatusServiceUnavailable,
	hookd.EINTERNAL:      http.StatusInternalServerError,
}

// ErrorStatus returns the HTTP status of an error code; 500 for unknown codes.
func ErrorStatus(code string) int {
	if st, ok := statuses[code]; ok {
		return st
	}
	return http.StatusInternalServerError
}

const (
	internalMessage    = "Internal error."
	unavailableMessage = "The service is temporarily unavailable; nothing was written. Try again."
)

// classify returns the code and user-safe message of err. A *hookd.Error
// speaks for itself; a cancelled or timed-out context or a lost database
// connection that a store failed to translate is EUNAVAILABLE; anything
// else is EINTERNAL, whose text is never shown.
func classify(err error) (code, msg string) {
	var he *hookd.Error
	switch {
	case errors.As(err, &he):
		return he.Code, he.Message
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, sql.ErrConnDone), errors.Is(err, driver.ErrBadConn):
		return hookd.EUNAVAILABLE, unavailableMessage
	}
	return hookd.EINTERNAL, internalMessage
}

// writeError writes err as {"error":{"code","message"}} with the status of
// its code. Internal errors are logged (never shown), unavailable ones
// logged as warnings and answered with Retry-After, and a 401 carries
// WWW-Authenticate.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	code, msg := classify(err)
	switch code {
	case hookd.EINTERNAL:
		s.log.Error("internal error", slog.String("method", r.Method), slog.String("path", r.URL.Path), slog.Any("err", err))
	case hookd.EUNAVAILABLE:
		s.log.Warn("store unavailable", slog.String("method", r.Method), slog.String("path", r.URL.Path), slog.Any("err", err))
		w.Header().Set("Retry-After", "1")
	case hookd.EUNAUTHORIZED:
		w.Header().Set("WWW-Authenticate", `Bearer realm="hookd"`)
	}
	writeJSON(w, ErrorStatus(code), errorBody(code, msg))
}

type errorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func errorBody(code, msg string) any {
	return struct {
		Error errorDetail `json:"error"`
	}{errorDetail{code, msg}}
}

// writeJSON writes v as the JSON body of a response with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false) // event data comes back as it was sent
	_ = enc.Encode(v)        // the client may be gone; nothing to do
}
