package signature

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hookd/hookd"
)

// Standard Webhooks header names.
const (
	HeaderID        = "Webhook-Id"
	HeaderTimestamp = "Webhook-Timestamp"
	HeaderSignature = "Webhook-Signature"
)

// DefaultTolerance is how far a signed timestamp may be from now.
const DefaultTolerance = 5 * time.Minute

// Verification errors; match them with errors.Is.
var (
	ErrNoSignature = errors.New("no signature header")
	ErrMalformed   = errors.New("malformed signature header")
	ErrTimestamp   = errors.New("timestamp outside the tolerance")
	ErrMismatch    = errors.New("no signature matches")
	ErrSecret      = errors.New("invalid secret")
)

// StandardKey returns the HMAC key of a standard-scheme secret: the base64
// decoding of what follows "whsec_" (a secret without the prefix is decoded
// whole).
func StandardKey(secret string) ([]byte, error) {
	s := strings.TrimPrefix(secret, hookd.SecretPrefix)
	key, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(key) == 0 {
		return nil, fmt.Errorf("%w: a standard secret is whsec_ followed by base64", ErrSecret)
	}
	return key, nil
}

// Signer signs requests for one endpoint configuration. It is safe for
// concurrent use.
type Signer struct {
	schemes  []hookd.Signature
	standard []*macPool // keyed with decoded whsec_ bytes
	raw      []*macPool // keyed with the secret strings' bytes
}

// macPool reuses HMAC states of one key.
type macPool struct{ sync.Pool }

func newMACPool(key []byte) *macPool {
	k := append([]byte(nil), key...)
	p := &macPool{}
	p.New = func() any { return hmac.New(sha256.New, k) }
	return p
}

func (p *macPool) sum(dst []byte, parts ...[]byte) []byte {
	m := p.Get().(hash.Hash)
	m.Reset()
	for _, b := range parts {
		m.Write(b)
	}
	dst = m.Sum(dst)
	p.Put(m)
	return dst
}

// NewSigner returns a Signer for schemes using every secret in secrets
// (current first). It fails if there is no secret or a standard secret is
// not valid base64.
func NewSigner(schemes []hookd.Signature, secrets []string) (*Signer, error) {
	if len(secrets) == 0 {
		return nil, fmt.Errorf("%w: no valid signing secret", ErrSecret)
	}
	s := &Signer{schemes: schemes}
	for _, sc := range schemes {
		if sc.Scheme == hookd.SchemeStandard && s.standard == nil {
			for _, sec := range secrets {
				key, err := StandardKey(sec)
				if err != nil {
					return nil, err
				}
				s.standard = append(s.standard, newMACPool(key))
			}
		}
	}
	for _, sec := range secrets {
		s.raw = append(s.raw, newMACPool([]byte(sec)))
	}
	return s, nil
}

// Sign sets the signature headers of every scheme on h for a request with
// delivery id msgID, signed at ts, carrying body.
func (s *Signer) Sign(h http.Header, msgID string, ts time.Time, body []byte) {
	unix := strconv.FormatInt(ts.Unix(), 10)
	var buf []byte
	for _, sc := range s.schemes {
		switch sc.Scheme {
		case hookd.SchemeStandard:
			buf = buf[:0]
			for i, p := range s.standard {
				if i > 0 {
					buf = append(buf, ' ')
				}
				buf = append(buf, "v1,"...)
				var mac [sha256.Size]byte
				sum := p.sum(mac[:0], []byte(msgID), []byte{'.'}, []byte(unix), []byte{'.'}, body)
				buf = base64.StdEncoding.AppendEncode(buf, sum)
			}
			h[HeaderID] = []string{msgID}
			h[HeaderTimestamp] = []string{unix}
			h[HeaderSignature] = []string{string(buf)}
		case hookd.SchemeTimestamped:
			buf = append(append(buf[:0], "t="...), unix...)
			for _, p := range s.raw {
				var mac [sha256.Size]byte
				buf = append(buf, ",v1="...)
				buf = hex.AppendEncode(buf, p.sum(mac[:0], []byte(unix), []byte{'.'}, body))
			}
			h.Set(headerOr(sc.Header, hookd.DefaultTimestampedHeader), string(buf))
		case hookd.SchemeHMAC:
			buf = buf[:0]
			for i, p := range s.raw {
				if i > 0 {
					buf = append(buf, ',')
				}
				var mac [sha256.Size]byte
				buf = append(buf, "sha256="...)
				buf = hex.AppendEncode(buf, p.sum(mac[:0], body))
			}
			h.Set(headerOr(sc.Header, hookd.DefaultHMACHeader), string(buf))
		}
	}
}

func headerOr(h, def string) string {
	if h == "" {
		return def
	}
	return h
}

// VerifyStandard checks a Standard Webhooks request: any v1 signature in the
// (space-separated) list made with secret over id.timestamp.body, and a
// timestamp within tolerance of now (DefaultTolerance when 0). It also reads
// the svix-* header names.
func VerifyStandard(secret string, h http.Header, body []byte, now time.Time, tolerance time.Duration) error {
	id, ts, sigs := h.Get(HeaderID), h.Get(HeaderTimestamp), h.Get(HeaderSignature)
	if sigs == "" {
		id, ts, sigs = h.Get("Svix-Id"), h.Get("Svix-Timestamp"), h.Get("Svix-Signature")
	}
	if sigs == "" {
		return ErrNoSignature
	}
	if id == "" || ts == "" {
		return fmt.Errorf("%w: webhook-id and webhook-timestamp are required", ErrMalformed)
	}
	if err := checkTimestamp(ts, now, tolerance); err != nil {
		return err
	}
	key, err := StandardKey(secret)
	if err != nil {
		return err
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id))
	m.Write([]byte{'.'})
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	want := m.Sum(nil)
	for _, part := range strings.Fields(sigs) {
		version, sig, ok := strings.Cut(part, ",")
		if !ok || version != "v1" {
			continue
		}
		got, err := base64.StdEncoding.DecodeString(sig)
		if err == nil && hmac.Equal(got, want) {
			return nil
		}
	}
	return ErrMismatch
}

// ParseTimestamped splits a "t=<unix>,v1=<hex>[,v1=<hex>...]" header into
// its timestamp and the v1 signatures; other keys are ignored.
func ParseTimestamped(v string) (ts string, sigs [][]byte, err error) {
	for _, part := range strings.Split(v, ",") {
		k, val, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			continue
		}
		switch k {
		case "t":
			ts = val
		case "v1":
			if b, err := hex.DecodeString(val); err == nil && len(b) == sha256.Size {
				sigs = append(sigs, b)
			}
		}
	}
	if ts == "" || len(sigs) == 0 {
		return "", nil, fmt.Errorf("%w: want t=<unix>,v1=<hex>", ErrMalformed)
	}
	return ts, sigs, nil
}

// VerifyTimestamped checks a t=,v1= signature in header (DefaultTimestampedHeader
// when empty) keyed with the secret's bytes, with the timestamp within tolerance.
func VerifyTimestamped(secret, header string, h http.Header, body []byte, now time.Time, tolerance time.Duration) error {
	v := h.Get(headerOr(header, hookd.DefaultTimestampedHeader))
	if v == "" {
		return ErrNoSignature
	}
	ts, sigs, err := ParseTimestamped(v)
	if err != nil {
		return err
	}
	if err := checkTimestamp(ts, now, tolerance); err != nil {
		return err
	}
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return anyEqual(sigs, m.Sum(nil))
}

// ParseHMAC returns the signatures of a "sha256=<hex>[,sha256=<hex>...]" header.
func ParseHMAC(v string) ([][]byte, error) {
	var sigs [][]byte
	for _, part := range strings.Split(v, ",") {
		hexsig, ok := strings.CutPrefix(strings.TrimSpace(part), "sha256=")
		if !ok {
			continue
		}
		if b, err := hex.DecodeString(hexsig); err == nil && len(b) == sha256.Size {
			sigs = append(sigs, b)
		}
	}
	if len(sigs) == 0 {
		return nil, fmt.Errorf("%w: want sha256=<hex>", ErrMalformed)
	}
	return sigs, nil
}

// VerifyHMAC checks a sha256= signature of the body in header
// (DefaultHMACHeader when empty), keyed with the secret's bytes.
func VerifyHMAC(secret, header string, h http.Header, body []byte) error {
	v := h.Get(headerOr(header, hookd.DefaultHMACHeader))
	if v == "" {
		return ErrNoSignature
	}
	sigs, err := ParseHMAC(v)
	if err != nil {
		return err
	}
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return anyEqual(sigs, m.Sum(nil))
}

// VerifyRequest verifies every signature scheme it finds on a request: the
// standard headers, any header whose value looks like t=..,v1=.., and any
// header whose value starts with sha256=. It returns the first scheme that
// verified; a request with no recognisable signature is ErrNoSignature; one
// whose only signatures fail returns the first failure.
func VerifyRequest(secret string, h http.Header, body []byte, now time.Time) (hookd.SignatureScheme, error) {
	var firstErr error
	note := func(err error) {
		if firstErr == nil {
			firstErr = err
		}
	}
	if h.Get(HeaderSignature) != "" || h.Get("Svix-Signature") != "" {
		err := VerifyStandard(secret, h, body, now, DefaultTolerance)
		if err == nil {
			return hookd.SchemeStandard, nil
		}
		note(err)
	}
	for name, vals := range h {
		if len(vals) == 0 || strings.EqualFold(name, HeaderSignature) {
			continue
		}
		switch v := vals[0]; {
		case strings.HasPrefix(v, "t=") && strings.Contains(v, "v1="):
			err := VerifyTimestamped(secret, name, h, body, now, DefaultTolerance)
			if err == nil {
				return hookd.SchemeTimestamped, nil
			}
			note(err)
		case strings.HasPrefix(v, "sha256="):
			err := VerifyHMAC(secret, name, h, body)
			if err == nil {
				return hookd.SchemeHMAC, nil
			}
			note(err)
		}
	}
	if firstErr == nil {
		firstErr = ErrNoSignature
	}
	return "", firstErr
}

func checkTimestamp(ts string, now time.Time, tolerance time.Duration) error {
	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: timestamp is not Unix seconds", ErrMalformed)
	}
	d := now.Sub(time.Unix(sec, 0))
	if d > tolerance || d < -tolerance {
		return ErrTimestamp
	}
	return nil
}

// anyEqual returns nil if one of sigs equals want (in constant time), else ErrMismatch.
func anyEqual(sigs [][]byte, want []byte) error {
	for _, sig := range sigs {
		if hmac.Equal(sig, want) {
			return nil
		}
	}
	return ErrMismatch
}
