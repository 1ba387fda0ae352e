// Package http serves hookd's REST API: the resources of every tenant under
// /v1/tenants/{tenant}/... (event types, endpoints, events, deliveries), and
// /healthz and /readyz for orchestrators.
//
// Every /v1 route authenticates a bearer API key (positive lookups are
// cached for two seconds; last use is recorded at most once a minute, off
// the request path) and resolves it to a hookd.Principal in the request
// context. One helper, Server.tenant, then authorizes the tenant in the
// path: a caller who may not read the tenant gets the same 404 as for a
// tenant that does not exist, so nothing reveals another tenant or its
// resources; a read-only caller who tries to change something gets 403.
//
// Bodies are strict JSON (unknown fields, trailing data and non-JSON media
// types are refused) with size limits. Errors are written by one function,
// Server.writeError, from one code-to-status table as
// {"error":{"code","message"}}: only *hookd.Error messages are shown;
// anything else is logged and answered as "internal", except a cancelled
// context or lost database connection, which is "unavailable" (503).
package http
