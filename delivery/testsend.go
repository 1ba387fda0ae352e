package delivery

import (
	"context"
	"unicode/utf8"

	"github.com/hookd/hookd"
	"github.com/hookd/hookd/signature"
)

// Test sends ev to ep.URL now, outside the queue, and reports the outcome.
// The request is the one a delivery of ev would be: the same envelope,
// custom headers, User-Agent, and signatures with every scheme of ep and
// every secret valid now, sent through the same guarded client (no
// redirects, blocked addresses refused) within ep.Timeout (default
// hookd.DefaultTimeout). Its webhook-id is a new delivery id (msg_...) of
// its own, so a receiver never takes a test for a delivery it has seen.
//
// Nothing is stored and no retry follows; the dispatcher need not be
// running. Success means a 2xx within the timeout; the result keeps the
// first hookd.TestBodyLimit bytes of the answer's body. ev is built by the
// caller (type hookd.TypeTest); a zero ev.CreatedAt is taken as now.
func (d *Dispatcher) Test(ctx context.Context, ep *hookd.Endpoint, ev *hookd.Event) *hookd.TestResult {
	started := d.now()
	res := &hookd.TestResult{At: started, URL: ep.URL, EventID: ev.ID}
	signer, err := signature.NewSigner(ep.Signatures, ep.ValidSecrets(started))
	if err != nil {
		res.Error, res.ErrorClass = "endpoint signer: "+err.Error(), hookd.ErrClassOther
		return res
	}
	target := *ep
	if target.Timeout <= 0 {
		target.Timeout = hookd.Duration(hookd.DefaultTimeout)
	}
	created := ev.CreatedAt
	if created.IsZero() {
		created = started
	}
	body := Envelope(ev.ID, ev.Type, created, ev.Payload)
	status, _, respBody, err := d.send(ctx, &target, signer, hookd.NewID(hookd.PrefixDelivery), started, body)
	res.LatencyMS = float64(d.now().Sub(started).Microseconds()) / 1000
	res.StatusCode = status
	res.Body = truncateUTF8(respBody, hookd.TestBodyLimit)
	res.Error, res.ErrorClass = failure(status, err)
	res.Success = res.Error == ""
	return res
}

// truncateUTF8 returns at most n bytes of s, not cutting a UTF-8 sequence
// in two.
func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n]
	for i := 0; i < utf8.UTFMax && len(s) > 0; i++ {
		r, size := utf8.DecodeLastRuneInString(s)
		if r != utf8.RuneError || size != 1 {
			return s
		}
		s = s[:len(s)-1]
	}
	return s
}
