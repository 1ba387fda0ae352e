package http

import (
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"net/http"
	"strings"
)

// openAPIRoute serves the OpenAPI document; it needs no credential.
const openAPIRoute = "GET /v1/openapi.json"

// openAPIDocument is the OpenAPI 3.1 document of the API: every route of
// Routes() with its parameters, bodies, answers and examples. It is
// written by hand; openapi_test.go fails when a route is missing from it
// or it names a route that does not exist, when a reference, schema or
// example in it is broken, and when a real answer does not match it.
//
//go:embed openapi.json
var openAPIDocument []byte

// openAPIETag is the strong validator of openAPIDocument.
var openAPIETag = func() string {
	sum := sha256.Sum256(openAPIDocument)
	return `"` + hex.EncodeToString(sum[:16]) + `"`
}()

// handleOpenAPI answers the OpenAPI document byte for byte as it is in the
// source, with an ETag; 304 when If-None-Match names it.
func (s *Server) handleOpenAPI(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("ETag", openAPIETag)
	h.Set("Cache-Control", "no-cache") // revalidate: the document changes with the server
	if etagMatch(r.Header.Get("If-None-Match"), openAPIETag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(openAPIDocument) // the client may be gone; nothing to do
}

// etagMatch reports whether an If-None-Match header names etag (or is
// "*"). Weak validators match their strong form, as RFC 9110 asks for
// If-None-Match.
func etagMatch(header, etag string) bool {
	for _, v := range strings.Split(header, ",") {
		v = strings.TrimPrefix(strings.TrimSpace(v), "W/")
		if v == etag || v == "*" {
			return true
		}
	}
	return false
}
