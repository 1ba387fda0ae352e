package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hookd/hookd"
	"github.com/hookd/hookd/signature"
)

// runCLI runs the binary's commands in-process against server with key.
func runCLI(t *testing.T, server, key string, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	env := Env{Stdout: &out, Stderr: &errOut, Getenv: func(name string) string {
		switch name {
		case "HOOKD_SERVER":
			return server
		case "HOOKD_KEY":
			return key
		}
		return ""
	}}
	err := Run(context.Background(), args, env)
	return out.String() + errOut.String(), err
}

func TestCLI(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the real server")
	}
	key := hookd.NewAPIKeySecret()
	p := startHookd(t, []string{"HOOKD_ADMIN_KEY=" + key}, "--dev", "--db", filepath.Join(t.TempDir(), "cli.db"))

	got := make(chan string, 10)
	var secret string
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		buf := new(bytes.Buffer)
		buf.ReadFrom(r.Body)
		if err := signature.VerifyStandard(secret, r.Header, buf.Bytes(), time.Now(), 0); err != nil {
			w.WriteHeader(401)
			return
		}
		got <- buf.String()
	}))
	defer recv.Close()

	out, err := runCLI(t, p.url, key, "endpoints", "create", "--url", recv.URL+"/h", "--events", "invoice.*", "--name", "billing", "--json")
	if err != nil {
		t.Fatalf("create: %v\n%s", err, out)
	}
	var created struct {
		ID     string `json:"id"`
		Secret string `json:"secret"`
	}
	if err := json.Unmarshal([]byte(out), &created); err != nil || created.Secret == "" {
		t.Fatalf("create --json = %s (%v)", out, err)
	}
	secret = created.Secret

	out, err = runCLI(t, p.url, key, "endpoints", "list")
	if err != nil || !strings.Contains(out, created.ID) || !strings.Contains(out, "billing") || !strings.Contains(out, "LAST STATUS") {
		t.Fatalf("list: %v\n%s", err, out)
	}
	if strings.Contains(out, secret) {
		t.Fatal("list shows the secret")
	}

	out, err = runCLI(t, p.url, key, "events", "publish", "invoice.paid", "--data", `{"amount":42}`)
	if err != nil || !strings.Contains(out, "1 deliveries") {
		t.Fatalf("publish: %v\n%s", err, out)
	}
	select {
	case body := <-got:
		if !strings.Contains(body, `"amount":42`) {
			t.Fatalf("receiver got %s", body)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the published event never arrived")
	}

	var deliveryID string
	waitFor(t, 10*time.Second, func() bool {
		out, err = runCLI(t, p.url, key, "deliveries", "list", "--json")
		var page struct{ Data []hookd.Delivery }
		if err != nil || json.Unmarshal([]byte(out), &page) != nil || len(page.Data) != 1 {
			return false
		}
		deliveryID = page.Data[0].ID
		return page.Data[0].State == hookd.DeliverySucceeded
	})
	out, err = runCLI(t, p.url, key, "deliveries", "get", deliveryID)
	if err != nil || !strings.Contains(out, "scheduled") || !strings.Contains(out, "200") {
		t.Fatalf("deliveries get: %v\n%s", err, out)
	}
	out, err = runCLI(t, p.url, key, "deliveries", "retry", deliveryID)
	if err != nil || !strings.Contains(out, "manual") {
		t.Fatalf("retry: %v\n%s", err, out)
	}
	<-got
	waitFor(t, 10*time.Second, func() bool {
		out, _ = runCLI(t, p.url, key, "deliveries", "get", deliveryID)
		return strings.Contains(out, "manual")
	})

	// Errors: the server's message, and usage errors for bad invocations.
	_, err = runCLI(t, p.url, key, "endpoints", "get", "ep_nope")
	var he *hookd.Error
	if !errors.As(err, &he) || he.Code != hookd.ENOTFOUND {
		t.Fatalf("get unknown: %v", err)
	}
	_, err = runCLI(t, p.url, key, "endpoints", "create", "--url", "ftp://x", "--events", "*")
	if hookd.ErrorCode(err) != hookd.EINVALID {
		t.Fatalf("bad url: %v", err)
	}
	for _, args := range [][]string{{"endpoints"}, {"endpoints", "create"}, {"events", "publish", "x"}, {"deliveries", "get"}, {"nope"}} {
		if _, err := runCLI(t, p.url, key, args...); exitCode(err) != 2 {
			t.Errorf("%v: exit %d (%v), want 2", args, exitCode(err), err)
		}
	}
	if _, err := runCLI(t, p.url, "hk_wrong", "endpoints", "list"); hookd.ErrorCode(err) != hookd.EUNAUTHORIZED {
		t.Fatalf("wrong key: %v", err)
	}
	if _, err := runCLI(t, "http://127.0.0.1:1", key, "endpoints", "list"); err == nil {
		t.Fatal("a dead server gave no error")
	}

	out, err = runCLI(t, p.url, key, "endpoints", "delete", created.ID)
	if err != nil || !strings.Contains(out, "Deleted") {
		t.Fatalf("delete: %v %s", err, out)
	}
}

func TestListenVerifies(t *testing.T) {
	t.Parallel()
	secret := hookd.NewEndpointSecret()
	var out bytes.Buffer
	srv := httptest.NewServer(listenHandler(&out, secret, 200, true))
	defer srv.Close()
	body := []byte(`{"id":"evt_1","type":"invoice.paid","timestamp":"2026-01-01T00:00:00Z","data":{}}`)
	signer, _ := signature.NewSigner([]hookd.Signature{{Scheme: hookd.SchemeStandard}, {Scheme: hookd.SchemeTimestamped}}, []string{secret})

	send := func(b []byte) int {
		req, _ := http.NewRequest("POST", srv.URL+"/hooks", bytes.NewReader(b))
		signer.Sign(req.Header, "msg_1", time.Now(), body)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := send(body); code != 200 {
		t.Fatalf("valid request: %d", code)
	}
	if code := send(append([]byte(" "), body...)); code != 401 {
		t.Fatalf("tampered request: %d", code)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("output = %q", out.String())
	}
	var first, second listenLine
	if json.Unmarshal([]byte(lines[0]), &first) != nil || json.Unmarshal([]byte(lines[1]), &second) != nil {
		t.Fatalf("not JSON lines: %q", out.String())
	}
	if !first.Verified || first.Type != "invoice.paid" || first.WebhookID != "msg_1" || first.Status != 200 {
		t.Fatalf("first = %+v", first)
	}
	if second.Verified || second.Error == "" || second.Status != 401 {
		t.Fatalf("second = %+v", second)
	}
	if strings.Contains(out.String(), secret) {
		t.Fatal("listen printed the secret")
	}
}

func hookdPage() hookd.Page { return hookd.Page{Limit: 10} }
