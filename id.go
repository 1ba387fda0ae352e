package hookd

import (
	"crypto/rand"
	"encoding/binary"
	"strings"
	"sync"
	"time"
)

// ID prefixes of the resources hookd creates.
const (
	PrefixEndpoint = "ep"
	PrefixEvent    = "evt"
	PrefixDelivery = "msg"
	PrefixAttempt  = "atm"
	PrefixKey      = "key"
	PrefixToken    = "tok"
	PrefixAudit    = "aud"
)

const idAlphabet = "0123456789abcdefghjkmnpqrstvwxyz" // Crockford base32, lower case

var idState struct {
	sync.Mutex
	lastMS uint64
	hi     uint16
	seq    uint64
}

// NewID returns prefix + "_" + 26 characters: 48 bits of Unix milliseconds
// followed by 80 bits that are random for a new millisecond and incremented
// within one, so IDs made by one process sort in creation order and IDs from
// different processes sort by time. Cursor pagination relies on this.
func NewID(prefix string) string {
	var b [16]byte
	ms := uint64(time.Now().UnixMilli())

	idState.Lock()
	if ms <= idState.lastMS {
		ms = idState.lastMS
		idState.seq++
	} else {
		idState.lastMS = ms
		var r [10]byte
		_, _ = rand.Read(r[:])
		idState.hi = binary.BigEndian.Uint16(r[0:2])
		idState.seq = binary.BigEndian.Uint64(r[2:]) >> 1 // room to increment
	}
	hi, seq := idState.hi, idState.seq
	idState.Unlock()

	binary.BigEndian.PutUint16(b[0:2], uint16(ms>>32))
	binary.BigEndian.PutUint32(b[2:6], uint32(ms))
	binary.BigEndian.PutUint16(b[6:8], hi)
	binary.BigEndian.PutUint64(b[8:16], seq)

	out := make([]byte, 0, len(prefix)+27)
	out = append(out, prefix...)
	out = append(out, '_')
	return string(appendBase32(out, b))
}

// appendBase32 encodes 128 bits as 26 base32 characters (the first carries 3 bits).
func appendBase32(dst []byte, b [16]byte) []byte {
	hi := binary.BigEndian.Uint64(b[0:8])
	lo := binary.BigEndian.Uint64(b[8:16])
	var buf [26]byte
	for i := 25; i >= 0; i-- {
		buf[i] = idAlphabet[lo&31]
		lo = lo>>5 | hi<<59
		hi >>= 5
	}
	return append(dst, buf[:]...)
}

// NewSeqID returns an ID like NewID whose last 64 bits are seq, so a store
// that allocates sequence numbers itself can find the row from the ID alone
// (SeqOfID) without an index on the ID. IDs made this way sort by time.
func NewSeqID(prefix string, seq int64) string {
	var b [16]byte
	ms := uint64(time.Now().UnixMilli())
	binary.BigEndian.PutUint16(b[0:2], uint16(ms>>32))
	binary.BigEndian.PutUint32(b[2:6], uint32(ms))
	_, _ = rand.Read(b[6:8])
	binary.BigEndian.PutUint64(b[8:16], uint64(seq))
	out := make([]byte, 0, len(prefix)+27)
	out = append(out, prefix...)
	out = append(out, '_')
	return string(appendBase32(out, b))
}

// SeqOfID returns the sequence number encoded in an ID made by NewSeqID
// with the given prefix; ok is false for anything else.
func SeqOfID(prefix, id string) (seq int64, ok bool) {
	rest, found := strings.CutPrefix(id, prefix+"_")
	if !found || len(rest) != 26 {
		return 0, false
	}
	var lo uint64
	// The last 64 bits span the last 13 characters minus one leading bit:
	// decode the last 13 characters (65 bits) and drop the top bit.
	for i := 13; i < 26; i++ {
		v := strings.IndexByte(idAlphabet, rest[i])
		if v < 0 {
			return 0, false
		}
		lo = lo<<5 | uint64(v)
	}
	for i := 0; i < 13; i++ {
		if strings.IndexByte(idAlphabet, rest[i]) < 0 {
			return 0, false
		}
	}
	s := int64(lo)
	return s, s > 0
}
