// Package http serves hookd's REST API: tenants, their API keys and audit
// log, and the resources of every tenant under /v1/tenants/{tenant}/...
// (event types, endpoints, events, deliveries); superadmin keys, tokens
// and the whole audit log under /v1; and /healthz and /readyz for
// orchestrators. apiRoutes in server.go is the one list of routes.
//
// Every /v1 route authenticates a bearer API key or token (positive
// lookups are cached for two seconds, and dropped at once when a key is
// revoked or a tenant deleted through this server; last use is recorded
// at most once a minute, off the request path) and resolves it to a
// hookd.Principal in the request context, which also makes the store
// audit every change the request makes. Server.tenant then authorizes the
// tenant in the path: a caller who may not read the tenant gets the same
// 404 as for a tenant that does not exist, so nothing reveals another
// tenant or its resources; a caller who may read but needs more gets 403.
// Server.superadmin guards the routes outside tenants.
//
// Bodies are strict JSON (unknown fields, trailing data and non-JSON media
// types are refused) with size limits. Errors are written by one function,
// Server.writeError, from one code-to-status table as
// {"error":{"code","message"}}: only *hookd.Error messages are shown;
// anything else is logged and answered as "internal", except a cancelled
// context or lost database connection, which is "unavailable" (503).
package http
