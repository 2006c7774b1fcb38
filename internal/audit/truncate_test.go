package audit

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// syslogCopy is a syslog daemon for tests: one line per message.
type syslogCopy struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (s *syslogCopy) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.buf.WriteString("Dec  2 06:00:00 bastion gatehouse[42]: ")
	s.buf.Write(p)
	s.buf.WriteByte('\n')
	return len(p), nil
}

func (s *syslogCopy) anchors(t *testing.T) []Anchor {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	a, err := ParseSyslogAnchors(bytes.NewReader(s.buf.Bytes()), KeyID(pubOf(testKey(1))))
	if err != nil || len(a) == 0 {
		t.Fatalf("anchors from syslog: %d, %v", len(a), err)
	}
	return a
}

// threeRuns writes a log over three runs of gatehouse, each closed, with a
// syslog copy, and returns the lines of its one file.
func threeRuns(t *testing.T) (string, []string, *syslogCopy) {
	t.Helper()
	dir := logDir(t)
	sl := &syslogCopy{}
	for run := 0; run < 3; run++ {
		l := openLog(t, Options{Dir: dir, CheckpointEvery: 4, Sinks: []Sink{SyslogSink{W: sl}}})
		appendN(t, l, 9)
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(dir, fileName(1))
	return path, readLines(t, path), sl
}

// kinds lists the 0-based indexes of the checkpoints of each kind.
func kinds(t *testing.T, lines []string) map[string][]int {
	out := map[string][]int{}
	for i, ln := range lines {
		if r, err := parseRecord([]byte(ln)); err == nil && r.Type == TypeCheckpoint {
			k := r.Checkpoint.Kind
			if k == "" {
				k = "periodic"
			}
			out[k] = append(out[k], i)
		}
	}
	return out
}

func TestTruncationDetection(t *testing.T) {
	path, orig, sl := threeRuns(t)
	pub := pubOf(testKey(1))
	k := kinds(t, orig)
	if len(k[KindStart]) != 3 || len(k[KindShutdown]) != 3 {
		t.Fatalf("layout: %v", k)
	}
	anchors := sl.anchors(t)
	if last := anchors[len(anchors)-1]; last.Seq != uint64(len(orig)) {
		t.Fatalf("the last signed seq in syslog is %d, the log has %d lines", last.Seq, len(orig))
	}
	// The intact log: closed, strict by default, every anchor found.
	rep, err := Verify([]string{path}, pub, VerifyOptions{Anchors: anchors})
	if err != nil || !rep.Closed || !rep.Strict || rep.AnchorsChecked != len(anchors) || rep.Starts != 3 {
		t.Fatalf("intact log: %v\n%s", err, rep)
	}

	lastPeriodic := k["periodic"][len(k["periodic"])-1]
	tests := []struct {
		name string
		cut  func([]string) []string
		// what verify says without the syslog copy: "" it passes (with a
		// note), else the problem it finds alone
		alone ProblemKind
		// with --strict
		strict ProblemKind
	}{
		{"cut back to a periodic checkpoint", func(ls []string) []string {
			return ls[:lastPeriodic+1]
		}, "", ProblemNotClosed},
		{"cut back to the shutdown of an earlier run", func(ls []string) []string {
			return ls[:k[KindShutdown][1]+1] // looks closed: only syslog shows it
		}, "", ""},
		{"edit and re-chain after dropping the later checkpoints", func(ls []string) []string {
			// Keep the lines after the last periodic checkpoint, drop the
			// shutdown, edit one and re-chain: what a crash could leave.
			ls = ls[:k[KindShutdown][2]]
			ls[lastPeriodic+2] = strings.Replace(ls[lastPeriodic+2], `"allowed":true`, `"allowed":false`, 1)
			return rewriteChain(t, ls, lastPeriodic+3)
		}, "", ProblemUnsignedTail},
		{"edit and re-chain, an event in place of the shutdown", func(ls []string) []string {
			// The same length as before: the last seq in syslog is there,
			// but it is not the line that was signed.
			ls[lastPeriodic+2] = strings.Replace(ls[lastPeriodic+2], `"alice"`, `"bob"`, 1)
			ls = append(ls[:k[KindShutdown][2]], ls[lastPeriodic+2])
			return rewriteChain(t, ls, lastPeriodic+3)
		}, "", ProblemUnsignedTail},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), fileName(1))
			writeLines(t, p, tt.cut(append([]string(nil), orig...)))
			rep, err := VerifyFiles([]string{p}, pub)
			switch {
			case tt.alone == "" && err != nil:
				t.Errorf("alone: %v\n%s", err, rep)
			case tt.alone != "" && (rep.Problem == nil || rep.Problem.Kind != tt.alone):
				t.Errorf("alone: got %v, want %s", rep.Problem, tt.alone)
			}
			rep, err = Verify([]string{p}, pub, VerifyOptions{Strict: true})
			switch {
			case tt.strict == "" && err != nil:
				t.Errorf("strict: %v\n%s", err, rep)
			case tt.strict != "" && (rep.Problem == nil || rep.Problem.Kind != tt.strict):
				t.Errorf("strict: got %v, want %s", rep.Problem, tt.strict)
			}
			// Against the syslog copy, every one is detected.
			rep, err = Verify([]string{p}, pub, VerifyOptions{Anchors: anchors})
			if !errors.Is(err, ErrBroken) {
				t.Errorf("with syslog anchors: not detected\n%s", rep)
			} else {
				t.Logf("with syslog: %s", rep.Problem)
			}
		})
	}

	// A crash (no attacker) cuts the end of the last line: the log verifies,
	// with a note, against syslog too (the cut is after the last signed line).
	crashed := append([]string(nil), orig[:len(orig)-2]...)
	crashed = append(crashed, orig[len(orig)-2][:40])
	p := filepath.Join(t.TempDir(), fileName(1))
	writeLines(t, p, crashed)
	syslogBeforeCrash := anchorsUpTo(anchors, uint64(len(orig)-3))
	rep, err = Verify([]string{p}, pub, VerifyOptions{Anchors: syslogBeforeCrash})
	if err != nil || rep.CutTail != 40 || !strings.Contains(rep.String(), "incomplete") {
		t.Errorf("crashed log: %v\n%s", err, rep)
	}
}

func anchorsUpTo(as []Anchor, seq uint64) []Anchor {
	var out []Anchor
	for _, a := range as {
		if a.Seq <= seq {
			out = append(out, a)
		}
	}
	return out
}

func TestParseSyslogAnchors(t *testing.T) {
	h := strings.Repeat("ab", 32)
	for _, tt := range []struct {
		in   string
		want int
		err  bool
	}{
		{"", 0, false},
		{"open uniqid=\"1\"\n", 0, false},
		{`<38>Dec 2 bastion gatehouse[1]: audit.checkpoint hash="` + h + `" key="k" kind="start" seq="7"`, 1, false},
		{`audit.checkpoint hash="` + h + `" key="other" kind="start" seq="7"`, 0, false}, // another bastion
		{`audit.checkpoint hash="` + h + `" kind="start" seq="x"`, 0, true},
		{`audit.checkpoint hash="short" seq="3"`, 0, true},
		{`audit.checkpoint hash="` + h + `" seq="3" seq="4"`, 0, true},
		{`audit.checkpoint hash="` + h + `" seq="3`, 0, true},
		{`audit.checkpoint hash="` + h + `" seq="\x33"`, 1, false},
		{`audit.checkpoint hash="` + h + `" seq="3\q"`, 0, true},
	} {
		got, err := ParseSyslogAnchors(strings.NewReader(tt.in), "k")
		if (err != nil) != tt.err || len(got) != tt.want {
			t.Errorf("%q: %d anchors, err %v", tt.in, len(got), err)
		}
	}
}

func FuzzParseSyslogAnchors(f *testing.F) {
	h := strings.Repeat("0f", 32)
	f.Add(`audit.checkpoint hash="` + h + `" key="k" kind="periodic" seq="12"`)
	f.Add(`x audit.checkpoint seq="1" hash="` + h + `"` + "\naudit.checkpoint seq=\"\\x31\\\\\"")
	f.Add("audit.checkpoint a=\"\\")
	f.Fuzz(func(t *testing.T, in string) {
		as, err := ParseSyslogAnchors(strings.NewReader(in), "")
		if err != nil {
			return
		}
		for i, a := range as {
			if a.Seq == 0 || len(a.Hash) != 64 || (i > 0 && as[i-1].Seq > a.Seq) {
				t.Fatalf("bad anchor %+v", a)
			}
		}
	})
}

// TestResumeAfterRandomDamage damages a log in thousands of seeded random ways (bytes
// changed, cut, removed) and checks Verify and a restart (Open) on each: neither panics, and a
// log that verified before the restart verifies strictly once the restarted log is closed, so
// a restart never turns an intact log into a "tampered" one.
func TestResumeAfterRandomDamage(t *testing.T) {
	at := time.Date(2026, 12, 2, 6, 0, 0, 0, time.UTC)
	seedDir := logDir(t)
	l := openLog(t, Options{Dir: seedDir, CheckpointEvery: 2, Logger: quiet, Now: func() time.Time { return at }})
	appendN(t, l, 3)
	l.Close()
	seed := mustReadFile(t, filepath.Join(seedDir, fileName(1)))
	r := rand.New(rand.NewPCG(9, 9))
	base := t.TempDir()
	verified := 0
	for it := 0; it < 1000; it++ {
		data := append([]byte{}, seed...)
		for k := 0; k < 1+r.IntN(3); k++ {
			switch i := r.IntN(len(data)); r.IntN(3) {
			case 0:
				data[i] = byte(r.IntN(256))
			case 1:
				data = data[:i]
			case 2:
				data = append(data[:i], data[i+1:]...)
			}
			if len(data) == 0 {
				data = []byte{'{'}
			}
		}
		d := filepath.Join(base, "audit")
		os.RemoveAll(d)
		os.Mkdir(d, 0o700)
		os.WriteFile(filepath.Join(d, fileName(1)), data, 0o600)
		rep, verr := VerifyFiles([]string{d}, pubOf(testKey(1)))
		l, err := Open(Options{Dir: d, Key: testKey(1), CheckpointEvery: 2, Logger: quiet, OpenFile: openNoSync})
		if err != nil {
			if verr == nil {
				t.Fatalf("iteration %d: a log that verifies (%s) cannot be resumed: %v", it, rep, err)
			}
			continue
		}
		l.Append(openEvent(1))
		l.Close()
		if verr != nil {
			continue
		}
		verified++
		if rep2, err := Verify([]string{d}, pubOf(testKey(1)), VerifyOptions{Strict: true}); err != nil {
			t.Fatalf("iteration %d: a log that verified and was resumed does not verify: %v\nbefore:\n%s\nafter:\n%s", it, err, rep, rep2)
		}
	}
	t.Logf("%d of 1000 damaged logs still verified (cut at the end); each resumed cleanly", verified)
}

func mustReadFile(t testing.TB, p string) []byte {
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
