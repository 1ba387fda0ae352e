package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/hookd/hookd"
	"github.com/hookd/hookd/client"
)

// clientFlags are the flags every API client command takes.
type clientFlags struct {
	server, key, tenant string
	json                bool
}

func (c *clientFlags) register(fs *flag.FlagSet, env Env) {
	fs.StringVar(&c.server, "server", envOr(env, "HOOKD_SERVER", "http://127.0.0.1:8080"), "API base URL (HOOKD_SERVER)")
	fs.StringVar(&c.key, "key", envOr(env, "HOOKD_KEY", env.Getenv("HOOKD_ADMIN_KEY")), "API key (HOOKD_KEY)")
	fs.StringVar(&c.tenant, "tenant", envOr(env, "HOOKD_TENANT", hookd.DefaultTenant), "tenant (HOOKD_TENANT)")
	fs.BoolVar(&c.json, "json", false, "print JSON instead of a table")
}

func (c *clientFlags) client() (*client.Client, error) {
	if c.key == "" {
		return nil, usageError{"no API key: pass --key or set HOOKD_KEY"}
	}
	return client.New(c.server, c.key), nil
}

// parseArgs parses flags that may come before or after positional arguments.
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// repeated is a flag that may be given several times.
type repeated []string

func (r *repeated) String() string     { return strings.Join(*r, ",") }
func (r *repeated) Set(v string) error { *r = append(*r, v); return nil }

func newFlagSet(name string, env Env) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	return fs
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func table(w io.Writer, header string, rows [][]string) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, header)
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	tw.Flush()
}

func ago(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.Local().Format("2006-01-02 15:04:05")
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func reason(s string) string {
	if s == "" {
		return ""
	}
	return " (" + s + ")"
}

// readData reads --data: inline JSON, @file, or - for stdin.
func readData(v string) (json.RawMessage, error) {
	var b []byte
	var err error
	switch {
	case v == "-":
		b, err = io.ReadAll(os.Stdin)
	case strings.HasPrefix(v, "@"):
		b, err = os.ReadFile(v[1:])
	default:
		b = []byte(v)
	}
	if err != nil {
		return nil, err
	}
	if !json.Valid(b) {
		return nil, usageError{"--data must be valid JSON"}
	}
	return json.RawMessage(strings.TrimSpace(string(b))), nil
}

func runEvents(ctx context.Context, args []string, env Env) error {
	if len(args) == 0 || args[0] != "publish" {
		return usageError{"usage: hookd events publish TYPE --data JSON"}
	}
	var cf clientFlags
	fs := newFlagSet("events publish", env)
	cf.register(fs, env)
	data := fs.String("data", "", "event data: JSON, @file or - for stdin (required)")
	key := fs.String("idempotency-key", "", "a repeat with the same key returns the first result")
	pos, err := parseArgs(fs, args[1:])
	if err != nil {
		return err
	}
	if len(pos) != 1 || *data == "" {
		return usageError{"usage: hookd events publish TYPE --data JSON"}
	}
	payload, err := readData(*data)
	if err != nil {
		return err
	}
	c, err := cf.client()
	if err != nil {
		return err
	}
	res, err := c.Publish(ctx, cf.tenant, pos[0], payload, *key)
	if err != nil {
		return err
	}
	if cf.json {
		return printJSON(env.Stdout, res)
	}
	fmt.Fprintf(env.Stdout, "Published %s (%s): %d deliveries\n", res.ID, res.Type, res.Deliveries)
	return nil
}

func runDeliveries(ctx context.Context, args []string, env Env) error {
	if len(args) == 0 {
		return usageError{"usage: hookd deliveries list|get|retry"}
	}
	var cf clientFlags
	fs := newFlagSet("deliveries "+args[0], env)
	cf.register(fs, env)
	switch args[0] {
	case "list":
		endpoint := fs.String("endpoint", "", "only deliveries to this endpoint id")
		event := fs.String("event", "", "only deliveries of this event id")
		state := fs.String("state", "", "only deliveries in this state")
		limit := fs.Int("limit", 50, "how many")
		if _, err := parseArgs(fs, args[1:]); err != nil {
			return err
		}
		c, err := cf.client()
		if err != nil {
			return err
		}
		page, err := c.ListDeliveries(ctx, cf.tenant, hookd.DeliveryFilter{EndpointID: *endpoint, EventID: *event,
			State: hookd.DeliveryState(*state), Page: hookd.Page{Limit: *limit}})
		if err != nil {
			return err
		}
		if cf.json {
			return printJSON(env.Stdout, page)
		}
		rows := make([][]string, len(page.Data))
		for i, d := range page.Data {
			rows[i] = []string{d.ID, d.EventType, d.EndpointID, string(d.State), fmt.Sprint(d.Attempts), ago(d.NextAttemptAt)}
		}
		table(env.Stdout, "ID\tEVENT TYPE\tENDPOINT\tSTATE\tATTEMPTS\tNEXT ATTEMPT", rows)
		return nil
	case "get", "retry":
		pos, err := parseArgs(fs, args[1:])
		if err != nil {
			return err
		}
		if len(pos) != 1 {
			return usageError{fmt.Sprintf("usage: hookd deliveries %s ID", args[0])}
		}
		c, err := cf.client()
		if err != nil {
			return err
		}
		if args[0] == "retry" {
			d, err := c.RetryDelivery(ctx, cf.tenant, pos[0])
			if err != nil {
				return err
			}
			if cf.json {
				return printJSON(env.Stdout, d)
			}
			fmt.Fprintf(env.Stdout, "Delivery %s queued for a manual attempt\n", d.ID)
			return nil
		}
		d, err := c.GetDelivery(ctx, cf.tenant, pos[0])
		if err != nil {
			return err
		}
		if cf.json {
			return printJSON(env.Stdout, d)
		}
		fmt.Fprintf(env.Stdout, "delivery %s  event %s (%s)  endpoint %s\nstate %s  attempts %d  next attempt %s\n\n",
			d.ID, d.EventID, d.EventType, d.EndpointID, d.State, d.Attempts, ago(d.NextAttemptAt))
		rows := make([][]string, len(d.AttemptLog))
		for i, a := range d.AttemptLog {
			status := "-"
			if a.StatusCode != 0 {
				status = fmt.Sprint(a.StatusCode)
			}
			errText := a.Error
			if a.ErrorClass != "" && a.ErrorClass != hookd.ErrClassHTTP {
				errText = a.ErrorClass + ": " + errText
			}
			rows[i] = []string{fmt.Sprint(a.Number), a.Trigger, a.StartedAt.Local().Format("2006-01-02 15:04:05"), status,
				fmt.Sprintf("%.1fms", a.DurationMS), orDash(errText)}
		}
		table(env.Stdout, "#\tTRIGGER\tSTARTED\tSTATUS\tDURATION\tERROR", rows)
		return nil
	}
	return usageError{fmt.Sprintf("unknown deliveries command %q: use list, get or retry", args[0])}
}
