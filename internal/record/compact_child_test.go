package record

import (
	"bytes"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestParseChildAnswer: every answer the child gives (answerOf) reads back to its result; every
// answer that is cut, garbled, for another job, or with fields its outcome does not have is a
// failure (ErrChildAnswer): the parent keeps the original and tries again.
func TestParseChildAnswer(t *testing.T) {
	h1, h2 := strings.Repeat("a", 64), strings.Repeat("b", 64)
	job := CompactJob{ID: "0123456789abcdef01234567", Path: "/r/x.ghrec", SHA256: h1, Size: 100}
	good := []CompactResult{
		{Job: CompactJob{ID: job.ID, NewSHA256: h2, NewSize: 40}, Outcome: Compacted},
		{Job: CompactJob{ID: job.ID}, Outcome: Refused, Found: h2, Reason: "the file's sha256 is not the audited one"},
		{Job: CompactJob{ID: job.ID}, Outcome: Unchanged, Reason: "nothing to gain"},
		{Job: CompactJob{ID: job.ID}, Outcome: Gone},
	}
	for _, r := range good {
		b, _ := json.Marshal(answerOf(r, nil))
		got, err := parseChildAnswer(append(b, '\n'), job)
		if err != nil || got.Outcome != r.Outcome || got.Found != r.Found || got.Reason != r.Reason ||
			got.Job.NewSHA256 != r.Job.NewSHA256 || got.Job.NewSize != r.Job.NewSize || got.Job.Path != job.Path {
			t.Errorf("%s: %+v %v", b, got, err)
		}
	}
	for _, c := range []struct {
		err   error
		nospc bool
	}{{&syscallErr{syscall.ENOSPC}, true}, {errors.New("io"), false}} {
		b, _ := json.Marshal(answerOf(CompactResult{Job: job}, c.err))
		_, err := parseChildAnswer(append(b, '\n'), job)
		if err == nil || errors.Is(err, ErrChildAnswer) || errors.Is(err, syscall.ENOSPC) != c.nospc {
			t.Errorf("failure %s: %v", b, err)
		}
	}
	id := `"id":"` + job.ID + `"`
	for _, bad := range []string{
		"", "\n", "{}\n", "null\n", "[]\n",
		`{` + id + `,"outcome":"gone"}`,              // no newline: cut
		`{` + id + `,"outcome":"gone"` + "\n",        // cut inside
		`{` + id + `,"outcome":"gone"}` + "\n{}\n",   // two lines
		`{` + id + `,"outcome":"gone"} {}` + "\n",    // two objects
		`{` + id + `,"outcome":"gone","x":1}` + "\n", // unknown field
		`{"id":"other","outcome":"gone"}` + "\n",     // another job
		`{` + id + `,"outcome":"maybe"}` + "\n",      // unknown outcome
		`{` + id + `}` + "\n",                        // neither outcome nor failure
		`{` + id + `,"outcome":"compacted"}` + "\n",  // no hash
		`{` + id + `,"outcome":"compacted","new_sha256":"` + h2 + `"}` + "\n",
		`{` + id + `,"outcome":"compacted","new_sha256":"` + strings.ToUpper(h2) + `","new_size":4}` + "\n",
		`{` + id + `,"outcome":"compacted","new_sha256":"` + h2 + `","new_size":-4}` + "\n",
		`{` + id + `,"outcome":"refused","found":"` + h1 + `","reason":"r"}` + "\n", // found = audited
		`{` + id + `,"outcome":"refused","reason":"r"}` + "\n",
		`{` + id + `,"outcome":"unchanged","reason":"r","new_sha256":"` + h2 + `"}` + "\n",
		`{` + id + `,"outcome":"gone","found":"` + h2 + `"}` + "\n",
		`{` + id + `,"outcome":"gone","fail":"error"}` + "\n", // both
		`{` + id + `,"fail":"weird"}` + "\n",
		`{` + id + `,"outcome":"gone","err":"e"}` + "\n",
		`{` + id + `,"fail":"error","err":"` + strings.Repeat("e", maxAnswerText+1) + `"}` + "\n",
		`{` + id + `,"outcome":"gone"}` + strings.Repeat(" ", maxChildAnswer) + "\n",
	} {
		if _, err := parseChildAnswer([]byte(bad), job); !errors.Is(err, ErrChildAnswer) {
			t.Errorf("%q taken: %v", bad, err)
		}
	}
}

type syscallErr struct{ errno syscall.Errno }

func (e *syscallErr) Error() string { return "write: " + e.errno.Error() }
func (e *syscallErr) Unwrap() error { return e.errno }

// FuzzChildAnswer: the parent's reading of its child's stdout never panics, and whatever it
// takes is a whole answer for the job asked, with the fields its outcome needs.
func FuzzChildAnswer(f *testing.F) {
	h1, h2 := strings.Repeat("a", 64), strings.Repeat("b", 64)
	job := CompactJob{ID: "0123456789abcdef01234567", Path: "/r/x.ghrec", SHA256: h1, Size: 100}
	for _, r := range []CompactResult{
		{Job: CompactJob{ID: job.ID, NewSHA256: h2, NewSize: 40}, Outcome: Compacted},
		{Job: CompactJob{ID: job.ID}, Outcome: Refused, Found: h2},
		{Job: CompactJob{ID: job.ID}, Outcome: Unchanged},
		{Job: CompactJob{ID: job.ID}, Outcome: Gone},
	} {
		b, _ := json.Marshal(answerOf(r, nil))
		f.Add(append(b, '\n'))
	}
	b, _ := json.Marshal(answerOf(CompactResult{Job: job}, &syscallErr{syscall.ENOSPC}))
	f.Add(append(b, '\n'))
	f.Fuzz(func(t *testing.T, data []byte) {
		res, err := parseChildAnswer(data, job)
		if err != nil {
			if res.Outcome != "" || res.Job.NewSHA256 != "" {
				t.Fatalf("a failure with an outcome: %+v", res)
			}
			return
		}
		if len(data) == 0 || data[len(data)-1] != '\n' || res.Job.ID != job.ID || res.Job.SHA256 != job.SHA256 || res.Job.Path != job.Path {
			t.Fatalf("taken: %q -> %+v", data, res)
		}
		switch res.Outcome {
		case Compacted:
			if !isSHA256(res.Job.NewSHA256) || res.Job.NewSize <= 0 {
				t.Fatalf("compacted without a hash: %+v", res)
			}
		case Refused:
			if !isSHA256(res.Found) || res.Found == job.SHA256 {
				t.Fatalf("refused with %q", res.Found)
			}
		case Unchanged, Gone:
			if res.Job.NewSHA256 != "" || res.Found != "" {
				t.Fatalf("%s with a hash: %+v", res.Outcome, res)
			}
		default:
			t.Fatalf("outcome %q taken", res.Outcome)
		}
	})
}

// TestCompactChildRequest: the child refuses a request that would point it anywhere but a
// recording and its marker (relative paths, an id that is not one plain path element, no
// audited hash, unknown fields, not JSON): a failure answer, exit 2, nothing touched.
func TestCompactChildRequest(t *testing.T) {
	h := strings.Repeat("a", 64)
	for _, req := range []string{
		``, `{`, `[]`,
		`{"queue":"q","job":{"id":"x","path":"/r/x.ghrec","sha256":"` + h + `"}}`,
		`{"queue":"/q","job":{"id":"x","path":"r/x.ghrec","sha256":"` + h + `"}}`,
		`{"queue":"/q","job":{"id":"../x","path":"/r/x.ghrec","sha256":"` + h + `"}}`,
		`{"queue":"/q","job":{"id":".x","path":"/r/x.ghrec","sha256":"` + h + `"}}`,
		`{"queue":"/q","job":{"id":"","path":"/r/x.ghrec","sha256":"` + h + `"}}`,
		`{"queue":"/q","job":{"id":"x","path":"/r/x.ghrec","sha256":"zz"}}`,
		`{"queue":"/q","job":{"id":"x","path":"/r/x.ghrec","sha256":"` + h + `"},"more":1}`,
	} {
		var out, errb strings.Builder
		code := compactChild(strings.NewReader(req), &out, &errb, &Compactor{}, func() error { return nil })
		var a childAnswer
		if err := json.Unmarshal([]byte(out.String()), &a); err != nil || code != 2 || a.Fail != failError || a.Outcome != "" {
			t.Errorf("%s: exit %d, answer %q", req, code, out.String())
		}
	}
}

// FuzzChildRequest: whatever reaches the child's stdin, a request it accepts names absolute
// paths, an id that stays one path element (the marker it writes, Queue/ID.json, stays in the
// queue) and a well-formed audited hash; it never panics.
func FuzzChildRequest(f *testing.F) {
	f.Add([]byte(`{"queue":"/q","job":{"id":"0123456789abcdef01234567","path":"/r/a.ghrec","sha256":"` + strings.Repeat("a", 64) + `","size":1}}`))
	f.Add([]byte(`{"queue":"q","job":{"id":"../x","path":"/r/a","sha256":"x"}}`))
	f.Add([]byte(`{"queue":"/q","job":{"id":".x","path":"/r/a","sha256":"` + strings.Repeat("A", 64) + `"}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		req, err := parseChildRequest(bytes.NewReader(b))
		if err != nil {
			return
		}
		j := req.Job
		marker := filepath.Join(req.Queue, j.ID+markerExt)
		if !filepath.IsAbs(req.Queue) || !filepath.IsAbs(j.Path) || strings.HasPrefix(j.ID, ".") || !isSHA256(j.SHA256) ||
			filepath.Dir(marker) != filepath.Clean(req.Queue) || filepath.Base(marker) != j.ID+markerExt {
			t.Fatalf("accepted %q: %+v", b, req)
		}
	})
}
