// Package schema compiles the JSON Schemas of event types and checks
// values against them, with user-safe EINVALID messages that say where a
// schema or a value is wrong. The API checks event types with it before
// storing them and validates published events against their type's
// schema; a configuration file's event types are checked the same way.
// The user-facing reference is docs/CATALOG.md.
package schema
