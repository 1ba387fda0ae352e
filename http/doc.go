// Package http serves hookd's REST API under /v1 plus /healthz and /readyz.
//
// Every /v1 route authenticates a bearer API key, resolves the caller to a
// hookd.Principal, and authorizes the tenant in the path in one place
// (Server.tenant): a caller who may not read a tenant gets the same 404 as
// for a tenant that does not exist, so nothing reveals another tenant's
// resources; a read-only caller who tries to change something gets 403.
// Errors are written by one function from one code-to-status table.
package http
