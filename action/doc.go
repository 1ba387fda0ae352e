// Package action runs what inbound rules do. Validate checks an action
// before it is stored, Listens says which triggers a rule hears, and
// Render fills an action's templates in from a trigger; the HTTP API uses
// them, and so does the Runner, which matches stored triggers to rules and
// executes the resulting runs: publish an event, forward the request, or
// run a command. The user-facing reference is docs/ACTIONS.md.
package action
