package audit

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

// rewriteChain recomputes seq and prev from line `from` on, as an attacker
// without the signing key would after editing or dropping lines.
func rewriteChain(t *testing.T, lines []string, from int) []string {
	t.Helper()
	out := append([]string(nil), lines...)
	for i := from; i < len(out); i++ {
		var m map[string]any
		if err := json.Unmarshal([]byte(out[i]), &m); err != nil {
			t.Fatal(err)
		}
		prev := genesis
		seq := float64(1)
		if i > 0 {
			prev = lineHash([]byte(strings.TrimSuffix(out[i-1], "\n")))
			var p map[string]any
			json.Unmarshal([]byte(out[i-1]), &p)
			seq = p["seq"].(float64) + 1
		}
		m["prev"], m["seq"] = prev, seq
		b, _ := json.Marshal(m)
		out[i] = string(b) + "\n"
	}
	return out
}

func TestTamperDetection(t *testing.T) {
	// One file: line 1 the signed start, line 2 audit.start, then events;
	// checkpoints every 5 lines at lines 7, 13, 19, 25 and the shutdown
	// checkpoint at Close (line 29).
	dir := logDir(t)
	l := openLog(t, Options{Dir: dir, CheckpointEvery: 5})
	appendN(t, l, 22)
	l.Close()
	path := filepath.Join(dir, fileName(1))
	orig := readLines(t, path)
	for i, want := range map[int]bool{0: true, 4: false, 6: true, 12: true, 18: true, 24: true, 28: true} {
		if r, _ := parseRecord([]byte(orig[i])); (r.Type == TypeCheckpoint) != want {
			t.Fatalf("layout changed: line %d type %s", i+1, r.Type)
		}
	}
	other := testKey(9)

	tests := []struct {
		name   string
		tamper func(lines []string) []string
		kind   ProblemKind
		line   int
		strict bool
	}{
		{"edit a field", func(ls []string) []string {
			ls[7] = strings.Replace(ls[7], `"account":"alice"`, `"account":"mallory"`, 1)
			return ls
		}, ProblemEdited, 8, false},
		{"edit the prev of a line", func(ls []string) []string {
			var m map[string]any
			json.Unmarshal([]byte(ls[9]), &m)
			m["prev"] = strings.Repeat("ab", 32)
			b, _ := json.Marshal(m)
			ls[9] = string(b) + "\n"
			return ls
		}, ProblemEdited, 9, false},
		{"delete a line", func(ls []string) []string {
			return append(ls[:7], ls[8:]...)
		}, ProblemDeleted, 8, false},
		{"delete two lines", func(ls []string) []string {
			return append(ls[:2], ls[4:]...)
		}, ProblemDeleted, 3, false},
		{"swap two lines", func(ls []string) []string {
			ls[7], ls[8] = ls[8], ls[7]
			return ls
		}, ProblemReordered, 8, false},
		{"move a line far back", func(ls []string) []string {
			moved := ls[2]
			ls = append(ls[:2], ls[3:]...)
			return append(ls[:15], append([]string{moved}, ls[15:]...)...)
		}, ProblemReordered, 3, false},
		{"duplicate a line", func(ls []string) []string {
			return append(ls[:9], append([]string{ls[8]}, ls[9:]...)...)
		}, ProblemReordered, 10, false},
		{"truncate mid-line, strict", func(ls []string) []string {
			ls[13] = ls[13][:len(ls[13])/2]
			return ls[:14]
		}, ProblemTruncated, 14, true},
		{"garbage line", func(ls []string) []string {
			ls[4] = "not json at all\n"
			return ls
		}, ProblemCorrupt, 5, false},
		{"forge a checkpoint signature", func(ls []string) []string {
			var m map[string]any
			json.Unmarshal([]byte(ls[12]), &m)
			m["checkpoint"].(map[string]any)["sig"] = base64.StdEncoding.EncodeToString(make([]byte, 64))
			b, _ := json.Marshal(m)
			ls[12] = string(b) + "\n"
			return ls
		}, ProblemBadSignature, 13, false},
		{"checkpoint signed with another key", func(ls []string) []string {
			var r record
			json.Unmarshal([]byte(ls[12]), &r)
			pub := other.Public().(ed25519.PublicKey)
			r.Checkpoint.Key = KeyID(pub)
			r.Checkpoint.Sig = base64.StdEncoding.EncodeToString(ed25519.Sign(other,
				checkpointMessage(r.Seq, r.Prev, r.Time, r.Checkpoint.Every, r.Checkpoint.Key)))
			b, _ := json.Marshal(r)
			ls[12] = string(b) + "\n"
			return ls
		}, ProblemBadSignature, 13, false},
		{"turn the start checkpoint into a periodic one", func(ls []string) []string {
			var r record
			json.Unmarshal([]byte(ls[0]), &r)
			r.Checkpoint.Kind, r.Checkpoint.Resume = "", nil
			b, _ := json.Marshal(r)
			return rewriteChain(t, append([]string{string(b) + "\n"}, ls[1:]...), 1)
		}, ProblemBadSignature, 1, false},
		{"mark the shutdown checkpoint periodic", func(ls []string) []string {
			ls[28] = strings.Replace(ls[28], `"kind":"shutdown",`, "", 1)
			return ls
		}, ProblemBadSignature, 29, false},
		{"edit then rewrite the chain without the key", func(ls []string) []string {
			ls[7] = strings.Replace(ls[7], `"allowed":true`, `"allowed":false`, 1)
			return rewriteChain(t, ls, 8)
		}, ProblemBadSignature, 13, false},
		{"drop a line then rewrite seq and chain", func(ls []string) []string {
			return rewriteChain(t, append(ls[:7], ls[8:]...), 7)
		}, ProblemBadSignature, 12, false},
		{"strip checkpoints and rewrite the chain", func(ls []string) []string {
			var kept []string
			for i, l := range ls {
				if i < 12 || !strings.Contains(l, `"type":"checkpoint"`) {
					kept = append(kept, l)
				}
			}
			return rewriteChain(t, kept, 11)
		}, ProblemMissingCheckpoint, 13, false},
		{"delete the first line", func(ls []string) []string {
			return ls[1:]
		}, ProblemBadStart, 1, false},
		{"cut the tail at a line boundary, strict", func(ls []string) []string {
			return ls[:20]
		}, ProblemUnsignedTail, 20, true},
		{"cut back to a checkpoint, strict", func(ls []string) []string {
			return ls[:25]
		}, ProblemNotClosed, 25, true},
		{"append a line after the shutdown checkpoint", func(ls []string) []string {
			return rewriteChain(t, append(ls, ls[27]), 29)
		}, ProblemAfterClose, 30, false},
		{"append after close behind a copied start", func(ls []string) []string {
			return rewriteChain(t, append(ls, ls[0], ls[27]), 29)
		}, ProblemBadSignature, 30, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lines := tt.tamper(append([]string(nil), orig...))
			p := filepath.Join(t.TempDir(), fileName(1))
			writeLines(t, p, lines)
			rep, err := Verify([]string{p}, pubOf(testKey(1)), VerifyOptions{Strict: tt.strict})
			if !errors.Is(err, ErrBroken) {
				t.Fatalf("tampering not detected: err %v\n%s", err, rep)
			}
			if rep.Problem.Kind != tt.kind || rep.Problem.Line != tt.line || rep.Problem.File != p {
				t.Errorf("got %s\nwant %s at line %d", rep.Problem, tt.kind, tt.line)
			}
			if !strings.Contains(rep.String(), "FAILED") || !strings.Contains(rep.String(), "line "+itoa(tt.line)) {
				t.Errorf("human report does not name the line:\n%s", rep)
			}
		})
	}

	// Without strict mode, a tail cut at a line boundary is reported, not failed.
	p := filepath.Join(t.TempDir(), fileName(1))
	writeLines(t, p, orig[:21])
	rep, err := VerifyFiles([]string{p}, pubOf(testKey(1)))
	if err != nil || rep.UnsignedTail != 2 || rep.Closed || !strings.Contains(rep.String(), "not closed") {
		t.Errorf("cut tail: err %v, unsigned tail %d, want 2\n%s", err, rep.UnsignedTail, rep)
	}
}

func itoa(i int) string {
	b, _ := json.Marshal(i)
	return string(b)
}
