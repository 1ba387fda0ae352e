package delivery

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/hookd/hookd"
	"github.com/hookd/hookd/signature"
)

// DNSResolver is the resolver outbound dials use; *net.Resolver satisfies it.
type DNSResolver = *net.Resolver

// Envelope returns the body of a delivery:
// {"id":<event id>,"type":<type>,"timestamp":<RFC 3339>,"data":<payload>}
// with the payload copied byte for byte.
func Envelope(eventID, typ string, created time.Time, payload []byte) []byte {
	b := make([]byte, 0, len(payload)+len(eventID)+len(typ)+80)
	b = append(b, `{"id":`...)
	b = strconv.AppendQuote(b, eventID)
	b = append(b, `,"type":`...)
	b = strconv.AppendQuote(b, typ)
	b = append(b, `,"timestamp":"`...)
	b = created.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","data":`...)
	b = append(b, payload...)
	return append(b, '}')
}

// attempt sends one delivery and returns its result, the answer's header
// and when it ended. The result's state is left to decide.
func (d *Dispatcher) attempt(ctx context.Context, ep *hookd.Endpoint, signer *signature.Signer, cd *hookd.ClaimedDelivery) (*hookd.DeliveryResult, http.Header, time.Time) {
	trigger := hookd.TriggerScheduled
	if cd.Manual {
		trigger = hookd.TriggerManual
	}
	body := Envelope(cd.EventID, cd.EventType, cd.EventCreatedAt, cd.Payload)
	started := d.now()
	res := &hookd.DeliveryResult{
		DeliveryID: cd.ID,
		TenantID:   cd.TenantID,
		EndpointID: cd.EndpointID,
		Owner:      d.cfg.NodeID,
		Attempt: hookd.Attempt{
			DeliveryID: cd.ID,
			Number:     cd.Attempts + 1,
			Trigger:    trigger,
			URL:        ep.URL,
			StartedAt:  started,
		},
	}
	status, header, respBody, err := d.send(ctx, ep, signer, cd.ID, started, body)
	ended := d.now()
	res.Attempt.DurationMS = float64(ended.Sub(started).Microseconds()) / 1000
	res.Attempt.StatusCode = status
	res.Attempt.ResponseBody = respBody
	res.Attempt.ResponseHeaders = flattenHeader(header)
	res.Attempt.Error, res.Attempt.ErrorClass = failure(status, err)
	return res, header, ended
}

// failure describes what went wrong with a request: err when no answer
// came, otherwise a status that is not 2xx. Both are empty on success.
func failure(status int, err error) (msg, class string) {
	switch {
	case err != nil:
		return err.Error(), classify(err)
	case status >= 200 && status <= 299:
		return "", ""
	case status >= 300 && status <= 399:
		return "HTTP " + strconv.Itoa(status), hookd.ErrClassRedirect
	}
	return "HTTP " + strconv.Itoa(status), hookd.ErrClassHTTP
}

// countedBefore is how many of a delivery's attempts counted against its
// retry schedule: all of them but the forgiven throttling answers (the
// first maxForgivenThrottles).
func countedBefore(attempts, throttled int) int {
	return max(0, attempts-min(throttled, maxForgivenThrottles))
}

// decide sets the delivery's next state from its attempt, which ended at
// now. throttled is the number of throttling answers the delivery had
// before this attempt; pause is what this attempt's throttling answer asked
// for (its Retry-After, or else the endpoint's backoff). decide reports
// whether the attempt counted against the retry schedule.
//
//   - 2xx: succeeded. 410: dead, and the endpoint is disabled.
//   - fire_and_forget endpoints: any other failure is dead at once.
//   - A throttling answer (429, 502, 503, 504) among the delivery's first
//     maxForgivenThrottles is forgiven: failed, due again after pause, and
//     the schedule does not move.
//   - Any other failure is the n-th counted attempt (n = attempts made -
//     forgiven throttling answers): dead when the schedule has no entry n,
//     else failed and due after schedule[n] with jitter (for a throttling
//     answer past the bound, at least pause).
func decide(res *hookd.DeliveryResult, ep *hookd.Endpoint, throttled int, pause time.Duration, now time.Time) (counts bool) {
	a := &res.Attempt
	switch {
	case a.Error == "":
		res.State = hookd.DeliverySucceeded
		return true
	case a.StatusCode == http.StatusGone:
		res.State = hookd.DeliveryDead
		res.DisableReason = "The endpoint answered 410 Gone."
		return true
	}
	res.Throttled = isThrottle(a.StatusCode)
	if ep.Mode == hookd.ModeFireAndForget {
		res.State = hookd.DeliveryDead
		return true
	}
	if res.Throttled && throttled < maxForgivenThrottles {
		res.State = hookd.DeliveryFailed
		res.NextAt = now.Add(pause)
		return false
	}
	delay, ok := nextDelay(ep.RetrySchedule, countedBefore(a.Number-1, throttled)+1)
	if !ok {
		res.State = hookd.DeliveryDead
		return true
	}
	if res.Throttled {
		delay = max(delay, pause)
	}
	res.State = hookd.DeliveryFailed
	res.NextAt = now.Add(delay)
	return true
}

// retryAfter returns the Retry-After delay of a throttling answer (429, 502,
// 503, 504), clamped to [minRetryAfter, maxRetryAfter].
func retryAfter(h http.Header, status int, now time.Time) (time.Duration, bool) {
	switch status {
	case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
	default:
		return 0, false
	}
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0, false
	}
	var d time.Duration
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs < 0 {
			return 0, false
		}
		d = time.Duration(min(secs, int64(maxRetryAfter/time.Second))) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	} else {
		return 0, false
	}
	return min(max(d, minRetryAfter), maxRetryAfter), true
}

// send makes the HTTP request. It returns the status and the start of the
// body when a response arrived, and err when none did.
func (d *Dispatcher) send(ctx context.Context, ep *hookd.Endpoint, signer *signature.Signer, msgID string, now time.Time, body []byte) (int, http.Header, string, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Duration(ep.Timeout))
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ep.URL, bytes.NewReader(body))
	if err != nil {
		return 0, nil, "", err
	}
	for k, v := range ep.Headers {
		req.Header.Set(k, v)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", d.cfg.UserAgent)
	signer.Sign(req.Header, msgID, now, body)

	resp, err := d.client.Do(req)
	if err != nil {
		return 0, nil, "", err
	}
	defer resp.Body.Close()
	buf, err := io.ReadAll(io.LimitReader(resp.Body, maxStoredBody))
	if err != nil && resp.StatusCode >= 200 && resp.StatusCode <= 299 {
		// The answer was given; a body cut short doesn't undo it.
		err = nil
	}
	// Drain a little more so the connection can be reused; give up on large bodies.
	_, _ = io.CopyN(io.Discard, resp.Body, 64<<10)
	return resp.StatusCode, resp.Header, string(buf), nil
}

// maxStoredHeaders bounds how many response headers an attempt keeps.
const maxStoredHeaders = 32

func flattenHeader(h http.Header) map[string]string {
	if len(h) == 0 {
		return nil
	}
	out := make(map[string]string, min(len(h), maxStoredHeaders))
	for k, v := range h {
		if len(out) == maxStoredHeaders {
			break
		}
		if strings.EqualFold(k, "Set-Cookie") {
			continue // session material of the receiver; not ours to keep
		}
		out[k] = strings.Join(v, ", ")
	}
	return out
}

// classify names the kind of network failure for the attempt log.
func classify(err error) string {
	var blocked *BlockedError
	var dnsErr *net.DNSError
	var certErr *tls.CertificateVerificationError
	var unknownAuth x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	var recordErr tls.RecordHeaderError
	switch {
	case errors.As(err, &blocked):
		return hookd.ErrClassBlocked
	case errors.Is(err, context.DeadlineExceeded) || isTimeout(err):
		return hookd.ErrClassTimeout
	case errors.As(err, &dnsErr):
		return hookd.ErrClassDNS
	case errors.As(err, &certErr) || errors.As(err, &unknownAuth) || errors.As(err, &hostErr) || errors.As(err, &recordErr):
		return hookd.ErrClassTLS
	case errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EHOSTUNREACH) || errors.Is(err, syscall.ENETUNREACH) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		return hookd.ErrClassConnection
	}
	return hookd.ErrClassOther
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
