package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookd/hookd/signature"
)

// runBenchBinary runs `hookd bench --json` with args (the bench starts its
// own server) and decodes what it prints into out. Only counts are
// checked: timings belong in the numbers the bench reports, not in tests.
func runBenchBinary(t *testing.T, out any, args ...string) {
	t.Helper()
	if testing.Short() {
		t.Skip("starts a server")
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(hookdBin, append([]string{"bench", "--json", "--wait", "2m"}, args...)...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	done := make(chan error, 1)
	go func() { done <- cmd.Run() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("hookd bench %v: %v\nstdout: %s\nstderr: %s", args, err, stdout.String(), stderr.String())
		}
	case <-time.After(3 * time.Minute):
		_ = cmd.Process.Kill()
		t.Fatalf("hookd bench %v did not finish\nstderr: %s", args, stderr.String())
	}
	if err := json.Unmarshal(stdout.Bytes(), out); err != nil {
		t.Fatalf("bench output %q: %v", stdout.String(), err)
	}
}

func TestBenchPublish(t *testing.T) {
	t.Parallel()
	var got BenchResult
	runBenchBinary(t, &got, "--endpoints", "2", "--events", "300", "--batch", "50")
	if got.Deliveries != 600 || got.Lost != 0 || got.Duplicates != 0 || got.BadSignatures != 0 {
		t.Errorf("got %+v, want 600 deliveries, none lost, duplicated or badly signed", got)
	}
	if got.RSSMB <= 0 {
		t.Errorf("rss_mb = %v, want the server's peak RSS", got.RSSMB)
	}
}

func TestBenchInbound(t *testing.T) {
	t.Parallel()
	var got InboundBenchResult
	runBenchBinary(t, &got, "--inbound", "--requests", "300", "--concurrency", "8", "--subscribe")
	if got.Accepted != 300 || got.Refused != 0 || got.Errors != 0 {
		t.Errorf("accepted %d, refused %d, errors %d; want 300, 0, 0", got.Accepted, got.Refused, got.Errors)
	}
	if got.Runs != 300 || got.FailedRuns != 0 || got.Unfinished != 0 {
		t.Errorf("runs %d succeeded, %d failed, %d unfinished; want 300, 0, 0", got.Runs, got.FailedRuns, got.Unfinished)
	}
	if got.BodyBytes < 5000 {
		t.Errorf("body_bytes = %d, want a push payload of about 6 KB", got.BodyBytes)
	}
	d := got.Deliveries
	if d == nil || d.Received != 300 || d.Lost != 0 || d.Duplicates != 0 || d.BadSignatures != 0 {
		t.Errorf("deliveries = %+v, want 300 received, none lost, duplicated or badly signed", d)
	}
}

func TestBenchDeliveryID(t *testing.T) {
	t.Parallel()
	b := &inboundBench{deliveryP: "0123abcd-4567-489a-8bcd-"}
	for _, n := range []int{0, 1, 255, 49999, 1<<48 - 1} {
		id := b.appendDeliveryID(nil, n)
		if want := fmt.Sprintf("%s%012x", b.deliveryP, scrambleID(uint64(n))); string(id) != want {
			t.Errorf("appendDeliveryID(%d) = %q, want %q", n, id, want)
		}
		if got, ok := b.deliveryIndex([]byte(`{"delivery":"` + string(id) + `"}`)); !ok || got != n {
			t.Errorf("deliveryIndex of %q = %d, %v; want %d, true", id, got, ok, n)
		}
	}
}

// Request numbers map to delivery ids one to one, and consecutive ones to
// ids far apart, as random ones are.
func TestBenchDeliveryIDsSpread(t *testing.T) {
	t.Parallel()
	if idMul*idMulInverse != 1 {
		t.Fatalf("%#x is not the inverse of %#x", idMulInverse, idMul)
	}
	seen := map[uint64]bool{}
	for n := range uint64(100000) {
		x := scrambleID(n)
		if seen[x] || unscrambleID(x) != n || x > idMask {
			t.Fatalf("request %d: id %#x repeated, out of range, or not mapped back", n, x)
		}
		seen[x] = true
	}
	if d := scrambleID(2) - scrambleID(1); d < 1<<20 {
		t.Errorf("ids of consecutive requests %#x apart, want them spread", d)
	}
}

func TestBenchTarget(t *testing.T) {
	t.Parallel()
	tests := []struct {
		server, addr, head, err string
	}{
		{server: "http://127.0.0.1:18080", addr: "127.0.0.1:18080", head: "POST /v1/webhooks/x HTTP/1.1\r\nHost: 127.0.0.1:18080\r\n"},
		{server: "http://hookd.example/base/", addr: "hookd.example:80", head: "POST /base/v1/webhooks/x HTTP/1.1\r\nHost: hookd.example\r\n"},
		{server: "http://[::1]:9", addr: "[::1]:9", head: "POST /v1/webhooks/x HTTP/1.1\r\nHost: [::1]:9\r\n"},
		{server: "https://hookd.example", err: "server https://hookd.example: bench --inbound sends plain HTTP/1.1 and does not support https://"},
		{server: "ftp://hookd.example", err: `server "ftp://hookd.example": want a base URL like http://127.0.0.1:8080`},
	}
	for _, tt := range tests {
		got, err := newBenchTarget(tt.server, "/v1/webhooks/x")
		if tt.err != "" {
			if err == nil || err.Error() != tt.err {
				t.Errorf("newBenchTarget(%q) error = %v, want %s", tt.server, err, tt.err)
			}
			continue
		}
		if err != nil || got.addr != tt.addr || string(got.head) != tt.head {
			t.Errorf("newBenchTarget(%q) = %q, %q, %v; want %q, %q", tt.server, got.addr, got.head, err, tt.addr, tt.head)
		}
	}
}

// TestBenchRequests sends bench requests to a net/http server, which checks
// what it receives, and reads its answers of each kind.
func TestBenchRequests(t *testing.T) {
	t.Parallel()
	b := &inboundBench{name: "bench-test", secret: "0123456789abcdef0123456789abcdef01234567", salt: "0123456789abcdef01234567", deliveryP: "0123abcd-4567-489a-8bcd-"}
	pool, err := b.signedBodies(2)
	if err != nil {
		t.Fatal(err)
	}
	big := strings.Repeat("x", 100<<10)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		n, _ := b.deliveryIndex([]byte(r.Header.Get("X-GitHub-Delivery")))
		host := r.Context().Value(http.LocalAddrContextKey).(net.Addr).String()
		switch want := pool[n%len(pool)].body; {
		case err != nil:
			http.Error(w, err.Error(), http.StatusBadRequest)
		case r.Method != http.MethodPost || r.URL.Path != "/v1/webhooks/bench-test" || r.Host != host:
			http.Error(w, "wrong request line or host: "+r.Method+" "+r.URL.Path+" "+r.Host, http.StatusBadRequest)
		case !bytes.Equal(body, want) || r.ContentLength != int64(len(want)):
			http.Error(w, "wrong body", http.StatusBadRequest)
		case r.Header.Get("X-GitHub-Event") != "push" || r.Header.Get("Content-Type") != "application/json":
			http.Error(w, "missing headers", http.StatusBadRequest)
		case signature.VerifyHMAC(b.secret, "X-Hub-Signature-256", r.Header, body) != nil:
			http.Error(w, "bad signature", http.StatusUnauthorized)
		case n == 1: // chunked, longer than the answer readResponse keeps
			w.WriteHeader(http.StatusAccepted)
			w.(http.Flusher).Flush()
			_, _ = io.WriteString(w, big)
		case n == 2:
			w.Header().Set("Connection", "close")
			w.WriteHeader(http.StatusAccepted)
		default:
			w.WriteHeader(http.StatusAccepted)
			_, _ = io.WriteString(w, `{"id":"t1"}`)
		}
	}))
	var conns atomic.Int64
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()

	target, err := newBenchTarget(srv.URL, "/v1/webhooks/"+b.name)
	if err != nil {
		t.Fatal(err)
	}
	c := &benchConn{addr: target.addr}
	defer c.close()
	tests := []struct {
		body  string
		close bool
	}{
		{body: `{"id":"t1"}`},
		{body: big[:maxBenchBody]},
		{body: "", close: true},
		{body: `{"id":"t1"}`},
	}
	var answer benchResponse
	for n, tt := range tests {
		req := b.appendRequest(nil, target, &pool[n%len(pool)], n)
		if err := c.ready(t.Context()); err != nil {
			t.Fatal(err)
		}
		if err := c.roundTrip(req, &answer); err != nil {
			t.Fatalf("request %d: %v", n, err)
		}
		if answer.code != http.StatusAccepted || string(answer.body) != tt.body || answer.close != tt.close {
			t.Errorf("request %d: answer %s %.40q close %v, want 202 %.40q close %v", n, answer.status, answer.body, answer.close, tt.body, tt.close)
		}
	}
	if got := conns.Load(); got != 2 {
		t.Errorf("%d connections, want 2: one redial after Connection: close", got)
	}
}

// answerOK is the answer every TestBenchConn server gives last.
const answerOK = "HTTP/1.1 202 Accepted\r\nContent-Length: 11\r\n\r\n{\"id\":\"ok\"}"

// TestBenchConn reads canned answers from a server on a real connection.
// After each case's answers the server answers answerOK, which the client
// reads right only if it read every answer before to its end, and redialed
// after each error or Connection: close.
func TestBenchConn(t *testing.T) {
	t.Parallel()
	type answer struct {
		raw   string
		close bool // the server closes the connection after raw
	}
	type want struct {
		code  int
		body  string
		close bool
		err   string
	}
	tests := []struct {
		name    string
		answers []answer
		want    []want
		conns   int
	}{
		{
			name:    "content-length",
			answers: []answer{{raw: "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\ncontent-length: 3\r\n\r\nbad"}},
			want:    []want{{code: 400, body: "bad"}},
			conns:   1,
		},
		{
			name:    "chunked",
			answers: []answer{{raw: "HTTP/1.1 202 Accepted\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\nA\r\n, chunked!\r\n0\r\nTrailer: x\r\n\r\n"}},
			want:    []want{{code: 202, body: "hello, chunked!"}},
			conns:   1,
		},
		{
			name:    "connection close",
			answers: []answer{{raw: "HTTP/1.1 202 Accepted\r\nConnection: keep-alive, Close\r\nContent-Length: 2\r\n\r\n{}", close: true}},
			want:    []want{{code: 202, body: "{}", close: true}},
			conns:   2,
		},
		{
			name:    "body to the end of the connection",
			answers: []answer{{raw: "HTTP/1.1 200 OK\r\n\r\nuntil closed", close: true}},
			want:    []want{{code: 200, body: "until closed", close: true}},
			conns:   2,
		},
		{
			name:    "HTTP/1.0",
			answers: []answer{{raw: "HTTP/1.0 202 Accepted\r\nContent-Length: 2\r\n\r\n{}", close: true}},
			want:    []want{{code: 202, body: "{}", close: true}},
			conns:   2,
		},
		{
			name: "1xx and 204 have no body",
			answers: []answer{
				{raw: "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 202 Accepted\r\nContent-Length: 2\r\n\r\n{}"},
				{raw: "HTTP/1.1 204 No Content\r\n\r\n"},
			},
			want:  []want{{code: 202, body: "{}"}, {code: 204}},
			conns: 1,
		},
		{
			name:    "long body kept in part, read to its end",
			answers: []answer{{raw: "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 100000\r\n\r\n" + strings.Repeat("e", 100000)}},
			want:    []want{{code: 500, body: strings.Repeat("e", maxBenchBody)}},
			conns:   1,
		},
		{
			name:    "closed before the answer",
			answers: []answer{{raw: "", close: true}},
			want:    []want{{err: "EOF"}},
			conns:   2,
		},
		{
			name:    "closed inside the headers",
			answers: []answer{{raw: "HTTP/1.1 202 Accepted\r\nContent-Len", close: true}},
			want:    []want{{err: "unexpected EOF"}},
			conns:   2,
		},
		{
			name:    "closed inside the body",
			answers: []answer{{raw: "HTTP/1.1 202 Accepted\r\nContent-Length: 100\r\n\r\n{\"id\":", close: true}},
			want:    []want{{err: "unexpected EOF"}},
			conns:   2,
		},
		{
			name:    "closed inside a chunk",
			answers: []answer{{raw: "HTTP/1.1 202 Accepted\r\nTransfer-Encoding: chunked\r\n\r\n10\r\nhalf", close: true}},
			want:    []want{{err: "unexpected EOF"}},
			conns:   2,
		},
		{
			name:    "garbage",
			answers: []answer{{raw: "hello there\r\n\r\n"}},
			want:    []want{{err: `malformed status line "hello there"`}},
			conns:   2,
		},
		{
			name:    "bad chunk size",
			answers: []answer{{raw: "HTTP/1.1 202 Accepted\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"}},
			want:    []want{{err: `malformed chunk size "zz"`}},
			conns:   2,
		},
		{
			name:    "two lengths",
			answers: []answer{{raw: "HTTP/1.1 202 Accepted\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}"}},
			want:    []want{{err: `bad Content-Length "3"`}},
			conns:   2,
		},
		{
			name:    "gzip",
			answers: []answer{{raw: "HTTP/1.1 202 Accepted\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n"}},
			want:    []want{{err: `unsupported Transfer-Encoding "gzip, chunked"`}},
			conns:   2,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			answers := append(tt.answers, answer{raw: answerOK})
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			var conns atomic.Int64
			go func() {
				for len(answers) > 0 {
					conn, err := ln.Accept()
					if err != nil {
						return
					}
					conns.Add(1)
					br := bufio.NewReader(conn)
					for len(answers) > 0 {
						req, err := http.ReadRequest(br)
						if err != nil {
							break
						}
						_, _ = io.Copy(io.Discard, req.Body)
						a := answers[0]
						answers = answers[1:]
						_, _ = io.WriteString(conn, a.raw)
						if a.close {
							break
						}
					}
					conn.Close()
				}
			}()

			c := &benchConn{addr: ln.Addr().String()}
			defer c.close()
			req := []byte("POST /v1/webhooks/x HTTP/1.1\r\nHost: hookd.test\r\nContent-Length: 2\r\n\r\n{}")
			var r benchResponse
			for i, w := range append(tt.want, want{code: 202, body: `{"id":"ok"}`}) {
				err := c.ready(t.Context())
				if err == nil {
					err = c.roundTrip(req, &r)
				}
				if got := fmt.Sprint(err); w.err != "" && got != w.err || w.err == "" && err != nil {
					t.Fatalf("answer %d: error %v, want %q", i, err, w.err)
				}
				if err != nil {
					if c.conn != nil {
						t.Errorf("answer %d: connection kept after %v", i, err)
					}
					continue
				}
				if r.code != w.code || string(r.body) != w.body || r.close != w.close {
					t.Errorf("answer %d: %d %.40q close %v, want %d %.40q close %v", i, r.code, r.body, r.close, w.code, w.body, w.close)
				}
			}
			if got := conns.Load(); got != int64(tt.conns) {
				t.Errorf("%d connections, want %d", got, tt.conns)
			}
		})
	}
}

// TestBenchConnIdleClose checks that a connection the server closed while
// it was idle is replaced before the next request.
func TestBenchConnIdleClose(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			if req, err := http.ReadRequest(bufio.NewReader(conn)); err == nil {
				_, _ = io.Copy(io.Discard, req.Body)
				_, _ = io.WriteString(conn, answerOK)
			}
			conn.Close() // without Connection: close, as an idle timeout does
		}
	}()
	c := &benchConn{addr: ln.Addr().String()}
	defer c.close()
	req := []byte("POST / HTTP/1.1\r\nHost: hookd.test\r\nContent-Length: 0\r\n\r\n")
	var r benchResponse
	for i := range 2 {
		if err := c.ready(t.Context()); err != nil {
			t.Fatal(err)
		}
		if err := c.roundTrip(req, &r); err != nil || r.code != 202 {
			t.Fatalf("request %d: %d, %v; want 202", i, r.code, err)
		}
		// Wait for the server's close to arrive, then let the
		// connection look idle for long.
		for give := time.Now().Add(10 * time.Second); c.alive(); {
			if time.Now().After(give) {
				t.Fatal("the server's close never arrived")
			}
			time.Sleep(time.Millisecond)
		}
		c.used = time.Time{}
	}
}

// TestBenchConnCancel checks that a request waiting for an answer returns
// when the context is done.
func TestBenchConnCancel(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		_, _ = io.Copy(io.Discard, conn) // never answers
	}()
	ctx, cancel := context.WithCancel(t.Context())
	c := &benchConn{addr: ln.Addr().String()}
	defer c.close()
	if err := c.ready(ctx); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		var r benchResponse
		done <- c.roundTrip([]byte("POST / HTTP/1.1\r\nHost: hookd.test\r\nContent-Length: 0\r\n\r\n"), &r)
	}()
	cancel()
	select {
	case err := <-done:
		if err == nil {
			t.Error("roundTrip returned no error after the context was done")
		}
	case <-time.After(benchTimeout / 2):
		t.Fatal("roundTrip still waits after the context was done")
	}
}

// FuzzBenchResponse feeds readResponse any bytes: it must not panic, and
// where net/http reads the same answer, both must agree on it.
func FuzzBenchResponse(f *testing.F) {
	for _, s := range []string{
		answerOK,
		"HTTP/1.1 202 Accepted\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n0\r\nTrailer: x\r\n\r\n",
		"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil closed",
		"HTTP/1.0 204 No Content\r\n\r\n",
		"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 202 Accepted\r\nContent-Length: 2\r\n\r\n{}",
		"HTTP/1.1 202 Accepted\r\nContent-Length: 100\r\n\r\nshort",
		"hello there\r\n\r\n",
		"HTTP/1.0 200 OK\nTransfer-Encoding: chunked\n\r\n0\n\r\n", // net/http reads the body to the end
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		var r benchResponse
		err := readResponse(bufio.NewReader(bytes.NewReader(in)), &r)
		if err != nil {
			return
		}
		if len(r.body) > maxBenchBody {
			t.Fatalf("kept %d bytes of body, more than %d", len(r.body), maxBenchBody)
		}
		resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(in)), nil)
		if err != nil || resp.StatusCode < 200 {
			return // net/http is stricter, and returns 1xx answers
		}
		body, err := io.ReadAll(resp.Body)
		if err != nil || len(body) > maxBenchBody {
			return
		}
		if resp.StatusCode != r.code || !bytes.Equal(body, r.body) {
			t.Fatalf("net/http read %d %q, readResponse %d %q", resp.StatusCode, body, r.code, r.body)
		}
		toEOF := !r.chunked && r.length < 0 && r.code != http.StatusNoContent && r.code != http.StatusNotModified
		if resp.Close != r.close && !toEOF {
			t.Fatalf("net/http read close %v, readResponse %v", resp.Close, r.close)
		}
	})
}
