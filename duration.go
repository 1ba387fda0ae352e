package hookd

import (
	"encoding/json"
	"strconv"
	"time"
)

// Duration is a time.Duration that reads and writes JSON as a Go duration
// string ("15s", "2h30m"); on input a plain number counts seconds.
type Duration time.Duration

// MarshalJSON writes d as a duration string.
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}

// UnmarshalJSON accepts "15s"-style strings and numbers of seconds; null
// leaves the value unset (zero, so the default applies).
func (d *Duration) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*d = 0
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		v, err := time.ParseDuration(s)
		if err != nil {
			return Errorf(EINVALID, "Invalid duration %q: use a value like \"15s\" or \"5m\".", s)
		}
		*d = Duration(v)
		return nil
	}
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil {
		return Errorf(EINVALID, "Invalid duration: use a string like \"15s\" or a number of seconds.")
	}
	*d = Duration(f * float64(time.Second))
	return nil
}
