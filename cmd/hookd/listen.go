package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/hookd/hookd/signature"
)

// listenLine is one received webhook, as printed with --json.
type listenLine struct {
	Time      time.Time       `json:"time"`
	Method    string          `json:"method"`
	Path      string          `json:"path"`
	WebhookID string          `json:"webhook_id,omitempty"`
	Type      string          `json:"type,omitempty"`
	Size      int             `json:"size"`
	Verified  bool            `json:"verified"`
	Scheme    string          `json:"scheme,omitempty"`
	Error     string          `json:"error,omitempty"`
	Status    int             `json:"status"`
	Body      json.RawMessage `json:"body,omitempty"`
}

func runListen(ctx context.Context, args []string, env Env) error {
	fs := flag.NewFlagSet("listen", flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	addr := fs.String("addr", "127.0.0.1:9000", "address to listen on")
	secret := fs.String("secret", env.Getenv("HOOKD_LISTEN_SECRET"), "endpoint secret to verify with (HOOKD_LISTEN_SECRET); without it requests are printed unverified")
	status := fs.Int("status", http.StatusOK, "status to answer verified requests with (e.g. 500 to watch retries)")
	asJSON := fs.Bool("json", false, "print one JSON object per request")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError{"listen takes no arguments"}
	}
	if *status < 100 || *status > 599 {
		return usageError{"--status must be an HTTP status code"}
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	fmt.Fprintf(env.Stderr, "hookd listen: receiving on http://%s/", ln.Addr())
	if *secret == "" {
		fmt.Fprint(env.Stderr, " (no --secret: signatures are NOT verified)")
	}
	fmt.Fprintln(env.Stderr)

	srv := &http.Server{Handler: listenHandler(env.Stdout, *secret, *status, *asJSON), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shut)
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// listenHandler verifies each request with secret (when set), answers
// status (401 for a bad signature) and prints one line per request to out.
func listenHandler(out io.Writer, secret string, status int, asJSON bool) http.Handler {
	var mu sync.Mutex // one line at a time
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 16<<20))
		if err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		line := listenLine{Time: time.Now(), Method: r.Method, Path: r.URL.Path, Size: len(body),
			WebhookID: r.Header.Get("webhook-id"), Status: status}
		var envelope struct {
			Type string `json:"type"`
		}
		if json.Unmarshal(body, &envelope) == nil {
			line.Type = envelope.Type
		}
		if json.Valid(body) {
			line.Body = body
		}
		if secret != "" {
			scheme, err := signature.VerifyRequest(secret, r.Header, body, time.Now())
			if err != nil {
				line.Error, line.Status = err.Error(), http.StatusUnauthorized
			} else {
				line.Verified, line.Scheme = true, string(scheme)
			}
		}
		w.WriteHeader(line.Status)

		mu.Lock()
		defer mu.Unlock()
		if asJSON {
			_ = json.NewEncoder(out).Encode(line)
			return
		}
		verdict := "unverified"
		switch {
		case line.Verified:
			verdict = "verified (" + line.Scheme + ")"
		case line.Error != "":
			verdict = "INVALID: " + line.Error
		}
		fmt.Fprintf(out, "%s %s %s id=%s type=%s %dB %s -> %d\n", line.Time.Format("15:04:05.000"), line.Method, line.Path,
			orDash(line.WebhookID), orDash(line.Type), line.Size, verdict, line.Status)
	})
}
