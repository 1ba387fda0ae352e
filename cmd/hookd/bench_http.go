package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// The sender of `hookd bench --inbound` shares the machine with the server
// it measures, so it speaks HTTP/1.1 itself, the way wrk does: each sender
// owns one connection, writes every request as bytes built beforehand with
// one write, and reads the answers through one reused buffer. net/http's
// Client costs several times as much CPU per request.

const (
	// benchTimeout bounds one request, from its write to its answer read.
	benchTimeout = time.Minute
	// benchIdleProbe is how long a connection may sit idle before the
	// sender checks that the server has not closed it.
	benchIdleProbe = time.Second
	// maxBenchHead bounds the status line and headers of one answer.
	maxBenchHead = 64 << 10
	// maxBenchBody is how much of an answer's body readResponse keeps;
	// it reads and drops the rest.
	maxBenchBody = 64 << 10
)

// benchTarget is where a sender posts: the address it dials and the
// request line and Host header that start every request.
type benchTarget struct {
	url  string // for error messages
	addr string // host:port
	head []byte // "POST /path HTTP/1.1\r\nHost: host\r\n"
}

// newBenchTarget returns the target for path under server, a base URL such
// as http://127.0.0.1:8080. Only http:// is supported.
func newBenchTarget(server, path string) (benchTarget, error) {
	u, err := url.Parse(server)
	if err != nil {
		return benchTarget{}, err
	}
	switch {
	case u.Scheme == "https":
		return benchTarget{}, fmt.Errorf("server %s: bench --inbound sends plain HTTP/1.1 and does not support https://", server)
	case u.Scheme != "http" || u.Host == "":
		return benchTarget{}, fmt.Errorf("server %q: want a base URL like http://127.0.0.1:8080", server)
	}
	port := u.Port()
	if port == "" {
		port = "80"
	}
	path = strings.TrimRight(u.EscapedPath(), "/") + path
	return benchTarget{
		url:  u.Scheme + "://" + u.Host + path,
		addr: net.JoinHostPort(u.Hostname(), port),
		head: fmt.Appendf(nil, "POST %s HTTP/1.1\r\nHost: %s\r\n", path, u.Host),
	}, nil
}

// benchConn is one keep-alive connection to a target. It is not safe for
// concurrent use: each sender has its own.
type benchConn struct {
	addr string
	conn net.Conn // nil until ready dials
	br   *bufio.Reader
	stop func() bool // stops the context.AfterFunc that closes conn
	used time.Time   // when the last answer was read
}

// ready makes sure c has an open connection: it dials when c has none, and
// redials when the server closed the one c has while it sat idle. When ctx
// is done, the connection is closed, so that a blocked read returns.
func (c *benchConn) ready(ctx context.Context) error {
	if c.conn != nil && time.Since(c.used) >= benchIdleProbe && !c.alive() {
		c.close()
	}
	if c.conn != nil {
		return nil
	}
	d := net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	conn, err := d.DialContext(ctx, "tcp", c.addr)
	if err != nil {
		return err
	}
	c.conn = conn
	c.stop = context.AfterFunc(ctx, func() { _ = conn.Close() })
	if c.br == nil {
		c.br = bufio.NewReaderSize(conn, 16<<10)
	} else {
		c.br.Reset(conn)
	}
	c.used = time.Now()
	return nil
}

// alive reports whether the idle connection can take a request: nothing,
// not even its end, has arrived on it since the last answer. It waits a
// millisecond (a deadline already past fails a read without trying it).
func (c *benchConn) alive() bool {
	if err := c.conn.SetReadDeadline(time.Now().Add(time.Millisecond)); err != nil {
		return false
	}
	_, err := c.br.Peek(1)
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// roundTrip writes req, a whole HTTP/1.1 request, on the connection ready
// opened and reads the answer into resp. After an error, or an answer that
// closes the connection, it closes it, and the next ready dials again.
func (c *benchConn) roundTrip(req []byte, resp *benchResponse) error {
	err := c.conn.SetDeadline(time.Now().Add(benchTimeout))
	if err == nil {
		_, err = c.conn.Write(req)
	}
	if err == nil {
		err = readResponse(c.br, resp)
	}
	c.used = time.Now()
	if err != nil || resp.close {
		c.close()
	}
	return err
}

// close closes the connection, if there is one.
func (c *benchConn) close() {
	if c.conn == nil {
		return
	}
	c.stop()
	_ = c.conn.Close()
	c.conn = nil
}

// benchResponse is an answer as readResponse reads it: what the bench
// looks at.
type benchResponse struct {
	code   int
	status []byte // the status line after the version: "202 Accepted"
	body   []byte // the first maxBenchBody bytes of the body
	close  bool   // the server closes the connection after this answer

	length  int64 // Content-Length, -1 without one
	chunked bool
}

// readResponse reads one HTTP/1.x answer from br into r, reusing r's
// buffers, and reads its body to the end, so that the next answer can be
// read from br. It skips the 1xx answers before it. A body is delimited by
// Content-Length, chunked encoding, or the end of the connection (then
// r.close is set). It returns io.EOF when the connection ended before the
// answer began, io.ErrUnexpectedEOF when it ended inside it, and an error
// for anything that is not HTTP/1.x.
func readResponse(br *bufio.Reader, r *benchResponse) error {
	if err := r.readHead(br); err != nil {
		return err
	}
	for r.code < 200 {
		if r.code == http.StatusSwitchingProtocols {
			return errors.New("unexpected 101 Switching Protocols")
		}
		if err := r.readHead(br); err != nil {
			return noEOF(err)
		}
	}
	r.body = r.body[:0]
	switch {
	case r.code == http.StatusNoContent || r.code == http.StatusNotModified:
		return nil
	case r.chunked:
		return r.readChunked(br)
	case r.length >= 0:
		return r.readBody(br, r.length)
	default:
		r.close = true
		return r.readToEOF(br)
	}
}

// readHead reads the status line and the headers.
func (r *benchResponse) readHead(br *bufio.Reader) error {
	line, err := readLine(br)
	if err != nil {
		return err
	}
	var http10 bool
	switch {
	case bytes.HasPrefix(line, []byte("HTTP/1.1 ")):
	case bytes.HasPrefix(line, []byte("HTTP/1.0 ")):
		http10 = true
	default:
		return fmt.Errorf("malformed status line %q", clip(line))
	}
	status := line[len("HTTP/1.1 "):]
	if len(status) < 3 || len(status) > 3 && status[3] != ' ' || !isDigits(status[:3]) || status[0] == '0' {
		return fmt.Errorf("malformed status line %q", clip(line))
	}
	r.code = int(status[0]-'0')*100 + int(status[1]-'0')*10 + int(status[2]-'0')
	r.status = append(r.status[:0], status...)
	r.length, r.chunked = -1, false
	closes, keepAlive := false, false
	for size := len(line); ; {
		line, err := readLine(br)
		if err != nil {
			return noEOF(err)
		}
		if len(line) == 0 {
			break
		}
		if size += len(line); size > maxBenchHead {
			return errors.New("answer headers too large")
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok || len(name) == 0 || name[0] == ' ' || name[0] == '\t' || name[len(name)-1] == ' ' {
			return fmt.Errorf("malformed header line %q", clip(line))
		}
		value = bytes.Trim(value, " \t")
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			n, ok := parseLength(value)
			if !ok || r.length >= 0 && n != r.length {
				return fmt.Errorf("bad Content-Length %q", clip(value))
			}
			r.length = n
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			if r.chunked || !bytes.EqualFold(value, []byte("chunked")) {
				return fmt.Errorf("unsupported Transfer-Encoding %q", clip(value))
			}
			r.chunked = true
		case bytes.EqualFold(name, []byte("Connection")):
			for opt := range bytes.SplitSeq(value, []byte(",")) {
				opt = bytes.Trim(opt, " \t")
				closes = closes || bytes.EqualFold(opt, []byte("close"))
				keepAlive = keepAlive || bytes.EqualFold(opt, []byte("keep-alive"))
			}
		}
	}
	if http10 && r.chunked {
		return errors.New("an HTTP/1.0 answer with Transfer-Encoding") // faulty framing, RFC 9112 6.1
	}
	r.close = closes || http10 && !keepAlive
	return nil
}

// readBody reads n bytes of body, keeping what fits in r.body.
func (r *benchResponse) readBody(br *bufio.Reader, n int64) error {
	if keep := int(min(n, int64(maxBenchBody-len(r.body)))); keep > 0 {
		start := len(r.body)
		r.body = slices.Grow(r.body, keep)[:start+keep]
		if _, err := io.ReadFull(br, r.body[start:]); err != nil {
			return noEOF(err)
		}
		n -= int64(keep)
	}
	for n > 0 {
		d, err := br.Discard(int(min(n, 1<<20)))
		n -= int64(d)
		if err != nil {
			return noEOF(err)
		}
	}
	return nil
}

// readChunked reads a chunked body and its trailers.
func (r *benchResponse) readChunked(br *bufio.Reader) error {
	for {
		line, err := readLine(br)
		if err != nil {
			return noEOF(err)
		}
		n, ok := parseChunkSize(line)
		if !ok {
			return fmt.Errorf("malformed chunk size %q", clip(line))
		}
		if n == 0 {
			break
		}
		if err := r.readBody(br, n); err != nil {
			return err
		}
		if line, err = readLine(br); err != nil {
			return noEOF(err)
		}
		if len(line) != 0 {
			return errors.New("malformed chunk: data longer than its size")
		}
	}
	for size := 0; ; {
		line, err := readLine(br)
		if err != nil {
			return noEOF(err)
		}
		if len(line) == 0 {
			return nil
		}
		if size += len(line); size > maxBenchHead {
			return errors.New("answer trailers too large")
		}
	}
}

// readToEOF reads a body that ends with the connection.
func (r *benchResponse) readToEOF(br *bufio.Reader) error {
	for len(r.body) < maxBenchBody {
		start := len(r.body)
		r.body = slices.Grow(r.body, maxBenchBody-start)[:maxBenchBody]
		n, err := br.Read(r.body[start:])
		r.body = r.body[:start+n]
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
	_, err := io.Copy(io.Discard, br)
	return err
}

// readLine reads a line ending in CRLF or LF and returns it without the
// ending; it is valid until the next read from br.
func readLine(br *bufio.Reader) ([]byte, error) {
	line, err := br.ReadSlice('\n')
	switch {
	case err == bufio.ErrBufferFull:
		return nil, errors.New("answer line too long")
	case err == io.EOF && len(line) > 0:
		return nil, io.ErrUnexpectedEOF
	case err != nil:
		return nil, err
	}
	line = line[:len(line)-1]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, nil
}

// parseLength parses a Content-Length value: decimal digits only.
func parseLength(v []byte) (int64, bool) {
	if len(v) == 0 || len(v) > 18 || !isDigits(v) {
		return 0, false
	}
	var n int64
	for _, c := range v {
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// parseChunkSize parses a chunk-size line, dropping any chunk extension.
func parseChunkSize(line []byte) (int64, bool) {
	line, _, _ = bytes.Cut(line, []byte(";"))
	line = bytes.Trim(line, " \t")
	if len(line) == 0 || len(line) > 15 {
		return 0, false
	}
	var n int64
	for _, c := range line {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		n = n<<4 | int64(c)
	}
	return n, true
}

func isDigits(b []byte) bool {
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// noEOF turns io.EOF, which inside an answer means it was cut short, into
// io.ErrUnexpectedEOF.
func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// clip shortens b for an error message.
func clip(b []byte) []byte {
	if len(b) > 64 {
		return b[:64]
	}
	return b
}
