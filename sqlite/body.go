package sqlite

import (
	"bytes"
	"fmt"

	"github.com/klauspost/compress/s2"
)

// Trigger bodies are stored compressed with S2 when that saves at least
// an eighth of their size. Most webhook bodies are JSON with long repeated
// keys and URLs: the bench's 6,058-byte GitHub push is stored in 2,048
// bytes, one leaf page with no overflow page instead of a page and a half,
// so the writer puts fewer pages in the WAL and the checkpoints. S2
// compresses it in 3.6 µs and expands it in under 1 µs. Measured in
// docs/PERFORMANCE.md ("Receiving, session 5").
//
// A compressed body is bodyMark followed by the S2 block. A stored body
// that does not start with bodyMark is the body itself: bodies stored
// before compression, and those it would not shrink. Bodies are JSON,
// which never starts with a NUL byte; one that starts with bodyMark all
// the same is stored compressed whatever the saving, so that reading is
// never ambiguous.
const bodyMark = "\x00s2"

// minCompress is the smallest body worth compressing.
const minCompress = 512

// encodeBody returns body as it is stored.
func encodeBody(body []byte) []byte {
	marked := bytes.HasPrefix(body, []byte(bodyMark))
	if len(body) < minCompress && !marked {
		return body
	}
	out := make([]byte, len(bodyMark)+s2.MaxEncodedLen(len(body)))
	copy(out, bodyMark)
	n := len(s2.Encode(out[len(bodyMark):], body)) // in place: out has room
	out = out[:len(bodyMark)+n]
	if !marked && len(out) > len(body)-len(body)/8 {
		return body
	}
	return out
}

// decodeBody returns the body stored as stored.
func decodeBody(stored []byte) ([]byte, error) {
	block, ok := bytes.CutPrefix(stored, []byte(bodyMark))
	if !ok {
		return stored, nil
	}
	body, err := s2.Decode(nil, block)
	if err != nil {
		return nil, fmt.Errorf("stored body: %w", err)
	}
	return body, nil
}
