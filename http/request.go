package http

import (
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/hookd/hookd"
)

// maxSmallBody bounds request bodies other than events: 1 MiB.
const maxSmallBody = 1 << 20

// list is the shape of every list response.
type list[T any] struct {
	Data       []T    `json:"data"`
	NextCursor string `json:"next_cursor"`
}

// writeList answers one page: data is never null.
func writeList[T any](w http.ResponseWriter, items []T, next string) {
	if items == nil {
		items = []T{}
	}
	writeJSON(w, http.StatusOK, list[T]{Data: items, NextCursor: next})
}

// pageOf reads ?cursor= and ?limit= (1..hookd.MaxPageSize).
func pageOf(r *http.Request) (hookd.Page, error) {
	q := r.URL.Query()
	p := hookd.Page{Cursor: q.Get("cursor")}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > hookd.MaxPageSize {
			return p, hookd.Errorf(hookd.EINVALID, "limit must be a number from 1 to %d.", hookd.MaxPageSize)
		}
		p.Limit = n
	}
	return p, nil
}

// bodyDecoder checks that a request body is JSON and returns a strict
// decoder that reads at most limit bytes of it. A missing Content-Type is
// accepted (curl -d without -H is common); any other media type than
// application/json or */*+json is EUNSUPPORTED.
func bodyDecoder(w http.ResponseWriter, r *http.Request, limit int64) (*json.Decoder, error) {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
			return nil, hookd.Errorf(hookd.EUNSUPPORTED, "Request bodies must be application/json.")
		}
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, limit))
	dec.DisallowUnknownFields()
	return dec, nil
}

// decode reads one JSON value of at most limit bytes into v, strictly:
// unknown fields and trailing data are EINVALID, a body over the limit is
// ETOOLARGE.
func decode(w http.ResponseWriter, r *http.Request, limit int64, v any) error {
	dec, err := bodyDecoder(w, r, limit)
	if err != nil {
		return err
	}
	if err := dec.Decode(v); err != nil {
		return decodeError(err, limit)
	}
	return finish(dec, limit)
}

// finish checks that nothing but white space follows the decoded value.
func finish(dec *json.Decoder, limit int64) error {
	_, err := dec.Token()
	switch {
	case errors.Is(err, io.EOF):
		return nil
	case err != nil:
		if mbe := (*http.MaxBytesError)(nil); errors.As(err, &mbe) {
			return decodeError(err, limit)
		}
	}
	return hookd.Errorf(hookd.EINVALID, "The request body must hold exactly one JSON value.")
}

// decodeError turns a decoding error into a user-safe *hookd.Error.
func decodeError(err error, limit int64) error {
	var (
		mbe *http.MaxBytesError
		he  *hookd.Error
		syn *json.SyntaxError
		typ *json.UnmarshalTypeError
	)
	switch {
	case errors.As(err, &mbe):
		return hookd.Errorf(hookd.ETOOLARGE, "The request body is over %d bytes.", limit)
	case errors.As(err, &he):
		return he
	case errors.Is(err, io.EOF):
		return hookd.Errorf(hookd.EINVALID, "The request body is empty; send a JSON object.")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return hookd.Errorf(hookd.EINVALID, "Malformed JSON in the request body: it ends too early.")
	case errors.As(err, &syn):
		return hookd.Errorf(hookd.EINVALID, "Malformed JSON in the request body at byte %d.", syn.Offset)
	case errors.As(err, &typ):
		if typ.Field == "" {
			return hookd.Errorf(hookd.EINVALID, "The request body must be a JSON object, not %s.", typ.Value)
		}
		return hookd.Errorf(hookd.EINVALID, "Field %q has the wrong type (got a JSON %s).", typ.Field, typ.Value)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return hookd.Errorf(hookd.EINVALID, "Unknown field %s.", strings.TrimPrefix(err.Error(), "json: unknown field "))
	}
	return hookd.Errorf(hookd.EINVALID, "Invalid request body.")
}

// rawJSON is an optional JSON value of a request; null counts as absent.
type rawJSON []byte

// UnmarshalJSON keeps the value byte for byte.
func (j *rawJSON) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*j = nil
		return nil
	}
	*j = append((*j)[:0], b...)
	return nil
}

func (j rawJSON) value() json.RawMessage {
	if len(j) == 0 {
		return nil
	}
	return json.RawMessage(j)
}
