// Command hookd is the webhook gateway server and its command-line client.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/hookd/hookd"
)

// version is stamped at build time with -ldflags "-X main.version=...".
var version = "dev"

// Env is what a command may touch of the outside world, so tests can run
// commands in-process with their own output and environment.
type Env struct {
	Stdout io.Writer
	Stderr io.Writer
	Getenv func(string) string
}

// command is one subcommand of the binary.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string, env Env) error
}

func commands() []command {
	return []command{
		{"serve", "run the gateway (API, dispatcher)", runServe},
		{"migrate", "apply database migrations (PostgreSQL nodes run with --no-migrate)", runMigrate},
		{"listen", "run a local receiver that verifies and prints webhooks", runListen},
		{"bench", "measure publish-to-receipt throughput and latency (--inbound: receiving webhooks)", runBench},
		{"endpoints", "manage endpoints: create|list|get|update|delete|enable|disable|pause|resume|rotate-secret|test|recover|replay", runEndpoints},
		{"probe", "send a signed test event to a URL that is not an endpoint", runProbe},
		{"events", "publish events: publish TYPE --data JSON", runEvents},
		{"trigger", "publish a sample event of a type (its example payload)", runTrigger},
		{"sources", "manage inbound sources: create|list|get|update|delete", runSources},
		{"webhooks", "list inbound webhook URLs: list", runWebhooks},
		{"rules", "manage rules: create|list|get|enable|disable|delete|test", runRules},
		{"triggers", "inspect received triggers: list|get|replay", runTriggers},
		{"runs", "inspect rule runs: list|get", runRuns},
		{"send", "send a request to a source signed as a provider would (for testing rules)", runSend},
		{"apply", "reconcile a config file through the API: apply -f FILE [--dry-run]", runApply},
		{"validate", "check a config file offline: validate FILE", runValidate},
		{"export", "print a tenant as a config file: export [--tenant ID]", runExport},
		{"deliveries", "inspect deliveries: list|get|retry", runDeliveries},
		{"tenants", "manage tenants: create|list|get|update|delete", runTenants},
		{"keys", "manage API keys: create|list|revoke", runKeys},
		{"tokens", "mint a short-lived token from your key: create", runTokens},
		{"audit", "show the audit log of changes", runAudit},
		{"rotate-master-key", "re-encrypt stored secrets with a new master key (offline)", runRotateMasterKey},
		{"version", "print the version", func(_ context.Context, _ []string, env Env) error {
			fmt.Fprintln(env.Stdout, "hookd", version)
			return nil
		}},
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	env := Env{Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv}
	if err := Run(ctx, os.Args[1:], env); err != nil {
		var he *hookd.Error
		switch {
		case errors.Is(err, flag.ErrHelp):
		case errors.As(err, &he):
			fmt.Fprintf(os.Stderr, "hookd: %s (%s)\n", he.Message, he.Code)
		default:
			fmt.Fprintln(os.Stderr, "hookd:", err)
		}
		os.Exit(exitCode(err))
	}
}

// usageError marks errors in how a command was called (exit status 2).
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func exitCode(err error) int {
	var u usageError
	if errors.As(err, &u) || errors.Is(err, flag.ErrHelp) {
		return 2
	}
	return 1
}

// Run runs the subcommand named by args[0].
func Run(ctx context.Context, args []string, env Env) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(env.Stderr)
		if len(args) == 0 {
			return usageError{"missing command"}
		}
		return nil
	}
	for _, c := range commands() {
		if c.name == args[0] {
			return c.run(ctx, args[1:], env)
		}
	}
	usage(env.Stderr)
	return usageError{fmt.Sprintf("unknown command %q", args[0])}
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: hookd COMMAND [flags]")
	fmt.Fprintln(w, "\ncommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-12s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nRun 'hookd COMMAND -h' for a command's flags.")
}

// envOr returns the value of the environment variable name, or def.
func envOr(env Env, name, def string) string {
	if v := env.Getenv(name); v != "" {
		return v
	}
	return def
}

// envBool reports whether the environment variable name is "1" or "true".
func envBool(env Env, name string) bool {
	v := env.Getenv(name)
	return v == "1" || strings.EqualFold(v, "true")
}
