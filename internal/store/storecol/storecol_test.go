package storecol

import (
	"slices"
	"testing"
	"time"

	"gatehouse/internal/store"
)

func TestTimeColumns(t *testing.T) {
	at := time.Date(2026, 12, 2, 10, 0, 0, 123456789, time.FixedZone("x", 3600))
	for _, tc := range []struct {
		name string
		got  time.Time
		want time.Time
	}{
		{"seconds", FromUnix(Unix(at)), at.Truncate(time.Second).UTC()},
		{"nanoseconds", FromUnixNano(UnixNano(at)), at.UTC()},
		{"zero seconds", FromUnix(Unix(time.Time{})), time.Time{}},
		{"zero nanoseconds", FromUnixNano(UnixNano(time.Time{})), time.Time{}},
	} {
		if !tc.got.Equal(tc.want) || tc.got.Location() != tc.want.Location() {
			t.Errorf("%s: %v, want %v", tc.name, tc.got, tc.want)
		}
	}
	if Unix(time.Time{}) != 0 || UnixNano(time.Time{}) != 0 {
		t.Error("the zero time is not stored as 0")
	}
}

func TestTries(t *testing.T) {
	ts := []time.Time{time.Unix(0, 1), time.Unix(1700000000, 5), time.Unix(0, -3)}
	got, err := ParseTries(FormatTries(ts))
	if err != nil || !slices.EqualFunc(got, ts, time.Time.Equal) {
		t.Fatalf("round trip: %v %v", got, err)
	}
	if got, err := ParseTries(""); got != nil || err != nil {
		t.Fatalf("empty: %v %v", got, err)
	}
	for _, bad := range []string{",", "1,", "x", "1,2,a", " 1", "99999999999999999999"} {
		if got, err := ParseTries(bad); err == nil {
			t.Errorf("%q: %v, want an error", bad, got)
		}
	}
}

// FuzzParseTries: whatever a column holds, ParseTries errs or returns what FormatTries writes back
// the same.
func FuzzParseTries(f *testing.F) {
	for _, s := range []string{"", "1", "1,2,3", "-5,0", ",", "a", "1,,2"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ts, err := ParseTries(s)
		if err != nil {
			return
		}
		again, err := ParseTries(FormatTries(ts))
		if err != nil || !slices.EqualFunc(again, ts, time.Time.Equal) {
			t.Fatalf("%q: %v then %v (%v)", s, ts, again, err)
		}
	})
}

// A source's MFA state reads back as it was written; a column that does not decode is an error.
func TestMFASourceColumns(t *testing.T) {
	now := time.Unix(1_800_000_000, 5).UTC()
	in := store.MFASourceState{Tries: []time.Time{now, now.Add(time.Second)}, Counted: map[string]int{"alice": 2}, Seen: now}
	out, err := DecodeMFASource(EncodeMFASource(in))
	if err != nil || len(out.Tries) != 2 || !out.Tries[1].Equal(in.Tries[1]) || out.Counted["alice"] != 2 || !out.Seen.Equal(now) {
		t.Fatalf("round trip: %+v %v", out, err)
	}
	for _, bad := range [][2]string{{"x", "{}"}, {"", "["}, {"", `{"a":-1}`}, {"", `{"a":"1"}`}} {
		if _, err := DecodeMFASource(bad[0], bad[1], 0); err == nil {
			t.Errorf("%q %q decoded", bad[0], bad[1])
		}
	}
	if st, err := DecodeMFASource("", "{}", 0); err != nil || st.Counted != nil || st.Tries != nil || !st.Seen.IsZero() {
		t.Fatalf("empty: %+v %v", st, err)
	}
}

// FuzzDecodeMFASource: whatever a row holds, decoding never panics, and what decodes encodes
// back to a row that decodes to the same counts.
func FuzzDecodeMFASource(f *testing.F) {
	f.Add("", "{}", int64(0))
	f.Add("1,2,3", `{"alice":2}`, int64(5))
	f.Add("x", "[", int64(-1))
	f.Fuzz(func(t *testing.T, tries, counted string, seen int64) {
		st, err := DecodeMFASource(tries, counted, seen)
		if err != nil {
			return
		}
		again, err := DecodeMFASource(EncodeMFASource(st))
		if err != nil || len(again.Tries) != len(st.Tries) || len(again.Counted) != len(st.Counted) {
			t.Fatalf("re-encoded %+v: %+v %v", st, again, err)
		}
		for k, v := range st.Counted {
			if again.Counted[k] != v {
				t.Fatalf("count of %q: %d, want %d", k, again.Counted[k], v)
			}
		}
	})
}
