package storetest

import (
	"encoding/json"
	"fmt"
	"slices"
	"testing"

	"github.com/hookd/hookd"
)

// testCatalog checks what the API's catalog cache relies on: paging
// through FindEventTypes yields a tenant's whole catalog once, by name
// descending; schemas and examples come back byte for byte; an update with
// an empty schema or example removes it, a nil one leaves it; the flags are
// kept independently; Builtin is never stored.
func testCatalog(t *testing.T, s hookd.Store) {
	tenant(t, s, "acme")
	tenant(t, s, "beta")
	var want []string
	for i := range 7 {
		name := fmt.Sprintf("type.t%d", i)
		must(t, s.CreateEventType(ctx, &hookd.EventType{TenantID: "acme", Name: name}))
		want = append(want, name)
	}
	must(t, s.CreateEventType(ctx, &hookd.EventType{TenantID: "beta", Name: "type.beta"}))
	slices.Reverse(want)
	var got []string
	p := hookd.Page{Limit: 3}
	for pages := 0; ; pages++ {
		if pages > 3 {
			t.Fatal("FindEventTypes does not end")
		}
		list, next, err := s.FindEventTypes(ctx, "acme", p)
		must(t, err)
		if len(list) > 3 {
			t.Fatalf("page of %d types with limit 3", len(list))
		}
		for _, et := range list {
			got = append(got, et.Name)
		}
		if next == "" {
			break
		}
		p.Cursor = next
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("pages hold %v, want %v", got, want)
	}

	schema := json.RawMessage("{\n  \"type\": \"object\",\n  \"properties\": {\"n\": {\"type\": \"number\", \"maximum\": 1.50}}\n}")
	example := json.RawMessage(`{"n" : 1.0, "é": "<&>"}`)
	et := &hookd.EventType{TenantID: "acme", Name: "invoice.paid", Schema: schema, Example: example, Deprecated: true, Builtin: true}
	must(t, s.CreateEventType(ctx, et))
	stored, err := s.FindEventType(ctx, "acme", "invoice.paid")
	must(t, err)
	if string(stored.Schema) != string(schema) || string(stored.Example) != string(example) || !stored.Deprecated || stored.Archived || stored.Builtin {
		t.Fatalf("stored = %+v", stored)
	}
	yes, no := true, false
	desc := "paid"
	up, err := s.UpdateEventType(ctx, "acme", "invoice.paid", hookd.EventTypeUpdate{Description: &desc, Archived: &yes})
	must(t, err)
	if string(up.Schema) != string(schema) || string(up.Example) != string(example) || !up.Deprecated || !up.Archived || up.Description != "paid" {
		t.Fatalf("after changing flags = %+v", up)
	}
	empty := json.RawMessage{}
	up, err = s.UpdateEventType(ctx, "acme", "invoice.paid", hookd.EventTypeUpdate{Schema: &empty, Deprecated: &no})
	must(t, err)
	if len(up.Schema) != 0 || string(up.Example) != string(example) || up.Deprecated || !up.Archived {
		t.Fatalf("after removing the schema = %+v", up)
	}
	stored, err = s.FindEventType(ctx, "acme", "invoice.paid")
	must(t, err)
	if len(stored.Schema) != 0 || string(stored.Example) != string(example) {
		t.Fatalf("stored after removing the schema = %+v", stored)
	}
	up, err = s.UpdateEventType(ctx, "acme", "invoice.paid", hookd.EventTypeUpdate{Schema: &schema, Example: &empty})
	must(t, err)
	if string(up.Schema) != string(schema) || len(up.Example) != 0 {
		t.Fatalf("after setting the schema and removing the example = %+v", up)
	}
	list, _, err := s.FindEventTypes(ctx, "acme", hookd.Page{Limit: hookd.MaxPageSize})
	must(t, err)
	for _, et := range list {
		if et.Name == "invoice.paid" && (string(et.Schema) != string(schema) || len(et.Example) != 0 || !et.Archived) {
			t.Fatalf("listed = %+v", et)
		}
	}
}
