package delivery

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"syscall"
	"time"
)

// blockedPrefixes are destinations a webhook must never reach unless the
// operator allows them: loopback, private (RFC 1918, CGNAT, ULA), link-local
// (which holds the cloud metadata addresses), multicast, documentation,
// benchmarking, NAT64 and other special-purpose ranges.
var blockedPrefixes = mustPrefixes(
	"0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
	"172.16.0.0/12", "192.0.0.0/24", "192.0.2.0/24", "192.88.99.0/24", "192.168.0.0/16",
	"198.18.0.0/15", "198.51.100.0/24", "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4",
	"::/128", "::1/128", "64:ff9b::/96", "64:ff9b:1::/48", "100::/64", "2001::/23",
	"2001:db8::/32", "2002::/16", "fc00::/7", "fe80::/10", "fec0::/10", "ff00::/8",
)

func mustPrefixes(ss ...string) []netip.Prefix {
	out := make([]netip.Prefix, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParsePrefix(s)
	}
	return out
}

// BlockedError is returned when a connection to a forbidden address was refused.
type BlockedError struct{ Addr netip.Addr }

func (e *BlockedError) Error() string {
	return fmt.Sprintf("destination address %s is not allowed (private, loopback, link-local or reserved)", e.Addr)
}

// Guard decides which addresses outbound requests may connect to. The check
// runs on the address actually dialed, after DNS resolution, so a name that
// resolves (or re-resolves) to a private address is refused.
type Guard struct {
	// AllowAll lifts the guard (the --dev flag).
	AllowAll bool
	// Allow lists prefixes that are permitted even though they are blocked by default.
	Allow []netip.Prefix
	// AllowHosts lists host names whose every address may be dialed: exact
	// names, or "*.example.internal" for the names under a domain. For
	// internal receivers the operator trusts; matched on the URL's host,
	// so redirects (never followed) and rebinding cannot use it.
	AllowHosts []string
}

// ParseAllow adds one operator allow-list entry: a CIDR prefix, an IP
// address, or a host name (optionally "*." followed by a domain).
func (g *Guard) ParseAllow(entry string) error {
	entry = strings.TrimSpace(entry)
	if p, err := netip.ParsePrefix(entry); err == nil {
		g.Allow = append(g.Allow, p.Masked())
		return nil
	}
	if a, err := netip.ParseAddr(entry); err == nil {
		g.Allow = append(g.Allow, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
		return nil
	}
	name := strings.TrimPrefix(entry, "*.")
	if name == "" || len(name) > 253 || strings.Trim(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-") != "" ||
		strings.HasPrefix(name, ".") || strings.HasSuffix(name, ".") || strings.Contains(name, "..") {
		return fmt.Errorf("guard: %q is not a CIDR prefix, an IP address or a host name", entry)
	}
	g.AllowHosts = append(g.AllowHosts, strings.ToLower(entry))
	return nil
}

// hostAllowed reports whether host is on the AllowHosts list.
func (g *Guard) hostAllowed(host string) bool {
	if g == nil {
		return false
	}
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	for _, h := range g.AllowHosts {
		if suffix, ok := strings.CutPrefix(h, "*"); ok {
			if strings.HasSuffix(host, suffix) && len(host) > len(suffix) {
				return true
			}
		} else if host == h {
			return true
		}
	}
	return false
}

// Allowed reports whether addr may be dialed.
func (g *Guard) Allowed(addr netip.Addr) bool {
	if g == nil || g.AllowAll {
		return true
	}
	addr = addr.Unmap() // IPv4-mapped IPv6 is judged as the IPv4 address
	for _, p := range g.Allow {
		if p.Contains(addr) {
			return true
		}
	}
	if !addr.IsValid() || addr.IsUnspecified() {
		return false
	}
	for _, p := range blockedPrefixes {
		if p.Contains(addr) {
			return false
		}
	}
	return true
}

// control is a net.Dialer Control function that refuses blocked addresses.
func (g *Guard) control(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("guard: unexpected address %q", address)
	}
	if !g.Allowed(ap.Addr()) {
		return &BlockedError{Addr: ap.Addr().Unmap()}
	}
	return nil
}

// Dialer returns a dialer that applies the guard. resolver may be nil for the
// system resolver; tests pass one that answers with chosen addresses.
func (g *Guard) Dialer(resolver *net.Resolver) *net.Dialer {
	return &net.Dialer{
		Timeout:   10 * time.Second,
		KeepAlive: 30 * time.Second,
		Resolver:  resolver,
		Control:   g.control,
	}
}

// DialContext is a convenience for http.Transport.DialContext. Hosts on
// AllowHosts are dialed without the address check.
func (g *Guard) DialContext(resolver *net.Resolver) func(ctx context.Context, network, addr string) (net.Conn, error) {
	guarded := g.Dialer(resolver)
	if g == nil || len(g.AllowHosts) == 0 {
		return guarded.DialContext
	}
	open := &net.Dialer{Timeout: guarded.Timeout, KeepAlive: guarded.KeepAlive, Resolver: resolver}
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		if host, _, err := net.SplitHostPort(addr); err == nil && g.hostAllowed(host) {
			return open.DialContext(ctx, network, addr)
		}
		return guarded.DialContext(ctx, network, addr)
	}
}
