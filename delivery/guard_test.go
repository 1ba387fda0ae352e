package delivery

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
)

func TestGuardAllowed(t *testing.T) {
	t.Parallel()
	g := &Guard{Allow: []netip.Prefix{netip.MustParsePrefix("10.1.2.0/24")}}
	tests := []struct {
		addr string
		want bool
	}{
		{"93.184.216.34", true},
		{"2606:2800:220:1:248:1893:25c8:1946", true},
		{"127.0.0.1", false},
		{"127.9.9.9", false},
		{"10.0.0.1", false},
		{"10.1.2.3", true}, // allowed by the operator
		{"172.16.5.4", false},
		{"192.168.1.1", false},
		{"100.64.0.1", false},      // CGNAT
		{"169.254.169.254", false}, // cloud metadata
		{"0.0.0.0", false},
		{"224.0.0.1", false},
		{"255.255.255.255", false},
		{"::1", false},
		{"::", false},
		{"::ffff:127.0.0.1", false}, // IPv4-mapped loopback
		{"::ffff:10.0.0.1", false},
		{"fd00:ec2::254", false}, // ULA metadata
		{"fe80::1", false},
		{"64:ff9b::7f00:1", false}, // NAT64 of 127.0.0.1
	}
	for _, tt := range tests {
		if got := g.Allowed(netip.MustParseAddr(tt.addr)); got != tt.want {
			t.Errorf("Allowed(%s) = %v, want %v", tt.addr, got, tt.want)
		}
	}
	if !(&Guard{AllowAll: true}).Allowed(netip.MustParseAddr("127.0.0.1")) {
		t.Error("AllowAll must allow loopback")
	}
}

// A name that resolves to 127.0.0.1 is refused at dial time, even though
// the URL names no address: the check is on the dialed address.
func TestGuardRefusesNameResolvingToLoopback(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Error("the guarded client reached a loopback server")
	}))
	defer srv.Close()
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(srv.URL, "http://"))

	// A resolver whose DNS server answers every A query with 127.0.0.1.
	resolver := &net.Resolver{PreferGo: true, Dial: fakeDNS(t, netip.MustParseAddr("127.0.0.1"))}
	c := NewHTTPClient(&Guard{}, resolver)
	_, err := c.Post("http://rebind.example.test:"+port+"/", "application/json", strings.NewReader("{}"))
	var blocked *BlockedError
	if !errors.As(err, &blocked) {
		t.Fatalf("err = %v, want BlockedError", err)
	}
	if got := classify(err); got != "blocked" {
		t.Fatalf("classify = %q, want blocked", got)
	}

	// The same resolver with the guard lifted reaches the server.
	srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})
	open := NewHTTPClient(&Guard{AllowAll: true}, resolver)
	resp, err := open.Post("http://rebind.example.test:"+port+"/", "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatalf("unguarded: %v", err)
	}
	resp.Body.Close()
}

// fakeDNS returns a Resolver Dial function that serves a minimal DNS server
// in memory, answering A queries with addr and AAAA queries with nothing.
// A net.Pipe is not a PacketConn, so the resolver speaks DNS-over-TCP framing.
func fakeDNS(t *testing.T, addr netip.Addr) func(ctx context.Context, network, address string) (net.Conn, error) {
	return func(ctx context.Context, network, address string) (net.Conn, error) {
		client, server := net.Pipe()
		go serveDNS(server, addr, true)
		return client, nil
	}
}

// serveDNS answers one query per message on conn.
func serveDNS(conn net.Conn, addr netip.Addr, tcp bool) {
	defer conn.Close()
	for {
		var msg []byte
		if tcp {
			var l [2]byte
			if _, err := readFull(conn, l[:]); err != nil {
				return
			}
			msg = make([]byte, int(l[0])<<8|int(l[1]))
			if _, err := readFull(conn, msg); err != nil {
				return
			}
		} else {
			buf := make([]byte, 512)
			n, err := conn.Read(buf)
			if err != nil {
				return
			}
			msg = buf[:n]
		}
		resp := dnsAnswer(msg, addr)
		if resp == nil {
			return
		}
		if tcp {
			resp = append([]byte{byte(len(resp) >> 8), byte(len(resp))}, resp...)
		}
		if _, err := conn.Write(resp); err != nil {
			return
		}
	}
}

func readFull(c net.Conn, b []byte) (int, error) {
	n := 0
	for n < len(b) {
		m, err := c.Read(b[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// dnsAnswer builds a response to a single-question query: an A record with
// addr for type A, no records otherwise.
func dnsAnswer(q []byte, addr netip.Addr) []byte {
	if len(q) < 12 {
		return nil
	}
	// Find the end of the question name.
	i := 12
	for i < len(q) && q[i] != 0 {
		i += int(q[i]) + 1
	}
	if i+5 > len(q) {
		return nil
	}
	question := q[12 : i+5]
	qtype := int(q[i+1])<<8 | int(q[i+2])
	resp := append([]byte{}, q[0:2]...)   // id
	resp = append(resp, 0x81, 0x80, 0, 1) // flags: response, RD, RA; QDCOUNT 1
	answers := 0
	if qtype == 1 {
		answers = 1
	}
	resp = append(resp, 0, byte(answers), 0, 0, 0, 0) // ANCOUNT, NSCOUNT, ARCOUNT
	resp = append(resp, question...)
	if answers == 1 {
		a := addr.As4()
		resp = append(resp, 0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4)
		resp = append(resp, a[:]...)
	}
	return resp
}

// Operators may allow chosen destinations: a host name (matched on the
// URL's host, whatever it resolves to) or a CIDR prefix; anything else
// stays blocked.
func TestGuardOperatorAllowList(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(srv.URL, "http://"))
	resolver := &net.Resolver{PreferGo: true, Dial: fakeDNS(t, netip.MustParseAddr("127.0.0.1"))}

	post := func(g *Guard, host string) error {
		resp, err := NewHTTPClient(g, resolver).Post("http://"+host+":"+port+"/", "application/json", strings.NewReader("{}"))
		if err == nil {
			resp.Body.Close()
		}
		return err
	}
	byHost := &Guard{}
	for _, e := range []string{"hooks.internal.test", "*.corp.test"} {
		if err := byHost.ParseAllow(e); err != nil {
			t.Fatal(err)
		}
	}
	for _, host := range []string{"hooks.internal.test", "HOOKS.internal.test", "a.corp.test"} {
		if err := post(byHost, host); err != nil {
			t.Errorf("%s is allowed by name: %v", host, err)
		}
	}
	var blocked *BlockedError
	for _, host := range []string{"other.internal.test", "corp.test", "evilcorp.test"} {
		if err := post(byHost, host); !errors.As(err, &blocked) {
			t.Errorf("%s: err = %v, want BlockedError", host, err)
		}
	}

	byPrefix := &Guard{}
	if err := byPrefix.ParseAllow("127.0.0.0/8"); err != nil {
		t.Fatal(err)
	}
	if err := post(byPrefix, "anything.test"); err != nil {
		t.Errorf("127.0.0.0/8 is allowed: %v", err)
	}
	single := &Guard{}
	if err := single.ParseAllow("10.0.0.7"); err != nil {
		t.Fatal(err)
	}
	if err := post(single, "anything.test"); !errors.As(err, &blocked) {
		t.Errorf("only 10.0.0.7 is allowed, loopback got: %v", err)
	}

	for _, bad := range []string{"", "*.", "a..b", "exa mple.com", "10.0.0.0/33"} {
		if err := (&Guard{}).ParseAllow(bad); err == nil {
			t.Errorf("ParseAllow(%q) accepted", bad)
		}
	}
}
