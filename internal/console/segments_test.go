package console

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"gatehouse/internal/record"
)

// recordLines writes a .ghrec recording: line i printed at i*step, with a resize at resizeAt.
func recordLines(t *testing.T, n int, step time.Duration, term string) string {
	t.Helper()
	dir := t.TempDir()
	os.Chmod(dir, 0o700)
	clock := time.Unix(1700000000, 0)
	rec, path, err := record.Create(dir, "r"+record.Gatehouse.Ext(), record.Options{Format: record.Gatehouse, Cols: 80, Rows: 24, Term: term, Now: func() time.Time { return clock }})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		clock = clock.Add(step)
		if i == n/2 {
			rec.Resize(100, 30)
		}
		rec.Output(fmt.Appendf(nil, "line %d\n", i))
	}
	if _, _, err := rec.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

type segment struct {
	Snapshot struct {
		Cols, Rows int
		Init       string
	}
	Events [][]any
}

func readSegment(t *testing.T, path string, d, from, to time.Duration, last bool) segment {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rd, err := record.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := WriteSegment(&buf, rd, d, from, to, last); err != nil {
		t.Fatal(err)
	}
	var s segment
	if err := json.Unmarshal(buf.Bytes(), &s); err != nil {
		t.Fatal(err)
	}
	return s
}

// Every segment follows the player's rules (times within [from, to), the first at from after
// the first segment, the last at the duration), the segments together hold every output byte
// once, and a segment's snapshot holds the lines printed just before it.
func TestWriteSegmentCoversTheRecording(t *testing.T) {
	const n = 3000
	step := 10 * time.Millisecond
	path := recordLines(t, n, step, "")
	d := time.Duration(n)*step + 5*time.Millisecond
	segs, each := SegmentPlan(d, 40<<20)
	if each != minSegmentLen || segs != 7 {
		t.Fatalf("plan %d × %v", segs, each)
	}
	var all strings.Builder
	for k := 0; k < segs; k++ {
		from, to := time.Duration(k)*each, min(time.Duration(k+1)*each, d)
		s := readSegment(t, path, d, from, to, k == segs-1)
		if len(s.Events) == 0 {
			t.Fatalf("segment %d: no events", k)
		}
		prev := -1.0
		for i, ev := range s.Events {
			at := ev[0].(float64)
			if at < prev || at < from.Seconds() || (k < segs-1 && at >= to.Seconds()) || at > d.Seconds() {
				t.Fatalf("segment %d event %d at %v out of [%v, %v)", k, i, at, from, to)
			}
			prev = at
			if ev[1] == "o" {
				all.WriteString(ev[2].(string))
			}
		}
		if k > 0 && s.Events[0][0].(float64) != from.Seconds() {
			t.Fatalf("segment %d starts at %v", k, s.Events[0][0])
		}
		if k > 0 && !strings.Contains(s.Snapshot.Init, fmt.Sprintf("line %d\r\n", int(from/step)-2)) {
			t.Fatalf("segment %d snapshot lacks the line before it: %q", k, s.Snapshot.Init[max(len(s.Snapshot.Init)-100, 0):])
		}
		if k > segs/2 && (s.Snapshot.Cols != 100 || s.Snapshot.Rows != 30) {
			t.Fatalf("segment %d snapshot size %dx%d after the resize", k, s.Snapshot.Cols, s.Snapshot.Rows)
		}
		if len(s.Events) > int(each/(time.Second/60))+3 {
			t.Fatalf("segment %d: %d events, not gathered per frame", k, len(s.Events))
		}
	}
	if last := readSegment(t, path, d, time.Duration(segs-1)*each, d, true); last.Events[len(last.Events)-1][0].(float64) != d.Seconds() {
		t.Fatalf("last event at %v, duration %v", last.Events[len(last.Events)-1][0], d)
	}
	var want strings.Builder
	for i := 0; i < n; i++ {
		fmt.Fprintf(&want, "line %d\r\n", i)
	}
	if all.String() != want.String() {
		t.Fatalf("segments hold %d bytes of output, want %d", all.Len(), want.Len())
	}
}

// The slicing of a recording: bounded count, never shorter than minSegmentLen, covering d.
func TestSegmentPlan(t *testing.T) {
	for _, c := range []struct {
		d    time.Duration
		size int64
		n    int
		each time.Duration
	}{
		{0, 1 << 30, 1, 0},
		{time.Second, 50 << 20, 1, minSegmentLen},
		{time.Hour, 50 << 20, 400, 9 * time.Second},
		{time.Hour, 1 << 40, 720, minSegmentLen},
		{24 * time.Hour, 1 << 40, 1000, 86400 * time.Millisecond},
		{time.Hour, 1, 1, time.Hour},
		{time.Hour + time.Millisecond, 300 << 10, 2, 1800001 * time.Millisecond},
	} {
		n, each := SegmentPlan(c.d, c.size)
		if n != c.n || (c.each != 0 && each != c.each) {
			t.Errorf("SegmentPlan(%v, %d) = %d × %v, want %d × %v", c.d, c.size, n, each, c.n, c.each)
		}
		if c.d > 0 && (time.Duration(n)*each < c.d || time.Duration(n-1)*each >= c.d) {
			t.Errorf("SegmentPlan(%v, %d) = %d × %v does not cover it exactly", c.d, c.size, n, each)
		}
	}
}

// A snapshot starts at the last full-screen clear, or at a line start in the tail.
func TestSnapshot(t *testing.T) {
	long := bytes.Repeat([]byte("0123456789abcdef\r\n"), 10000)
	for _, c := range []struct {
		name, want string
		tail       []byte
		whole      bool
	}{
		{"short whole", "ab\r\ncd", []byte("ab\r\ncd"), true},
		{"clear", "\x1b[2Jscreen", []byte("old\r\n\x1b[2Jscreen"), true},
		{"alternate screen", "\x1b[?1049hvim", append(append([]byte{}, long...), "\x1b[?1049hvim"...), false},
		{"line start", string(long[len(long)-snapshotTail+(18-snapshotTail%18)%18:]), long, false},
	} {
		got := string(Snapshot(c.tail, c.whole))
		if c.name == "line start" {
			if len(got) > snapshotTail || !strings.HasPrefix(got, "0123") || !strings.HasSuffix(got, "\r\n") {
				t.Errorf("%s: %d bytes starting %q", c.name, len(got), got[:min(len(got), 20)])
			}
			continue
		}
		if got != c.want {
			t.Errorf("%s: %q, want %q", c.name, got[:min(len(got), 40)], c.want)
		}
	}
}

// A snapshot is made from what a target printed: whatever the bytes, it is a suffix of them, and
// bounded.
func FuzzSnapshot(f *testing.F) {
	for _, s := range []string{"", "a\nb", "\x1b[2Jx", "\x1bc", "\x1b[?1049h\x1b[?1049l", strings.Repeat("line\r\n", 20000)} {
		f.Add([]byte(s), true)
		f.Add([]byte(s), false)
	}
	f.Fuzz(func(t *testing.T, tail []byte, whole bool) {
		got := Snapshot(tail, whole)
		if !bytes.HasSuffix(tail, got) || len(got) > max(snapshotMax, snapshotTail) {
			t.Fatalf("snapshot of %d bytes: %d bytes, not a bounded suffix", len(tail), len(got))
		}
	})
}

// The slicing a segment request uses: the index's duration when sane, else the session's now.
func TestSegmentDuration(t *testing.T) {
	now := 90 * time.Second
	for _, c := range []struct {
		given string
		want  time.Duration
	}{
		{"", now}, {"abc", now}, {"-1", now}, {"90001", now}, {"99999999999999999999", now}, {"1e3", now},
		{"0", 0}, {"60000", time.Minute}, {"90000", now}, {"1", time.Millisecond},
	} {
		if got := SegmentDuration(c.given, now); got != c.want {
			t.Errorf("SegmentDuration(%q) = %v, want %v", c.given, got, c.want)
		}
	}
}
