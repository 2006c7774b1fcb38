package e2e

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"gatehouse/internal/record"
	"gatehouse/internal/store"
	"gatehouse/internal/testenv"
)

// heapSampler records the largest HeapInuse of this process (gatehouse runs in it) until stopped.
type heapSampler struct {
	stop chan struct{}
	done sync.WaitGroup
	max  uint64
}

func sampleHeap() *heapSampler {
	h := &heapSampler{stop: make(chan struct{})}
	h.done.Add(1)
	go func() {
		defer h.done.Done()
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			h.max = max(h.max, ms.HeapInuse)
			select {
			case <-h.stop:
				return
			case <-tick.C:
			}
		}
	}()
	return h
}

func (h *heapSampler) Stop() uint64 { close(h.stop); h.done.Wait(); return h.max }

func heapInuse() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

// batchInput streams lines*width bytes of long batch lines (about 30 MB for 1000×30000):
// unknown options, unterminated quotes and bad names, each of which used to be echoed, kept in
// the result list and quoted in error messages. It is generated as ssh reads it, so the test's
// own heap stays small and what is measured is the server's.
func batchInput(lines, width int) io.Reader {
	pr, pw := io.Pipe()
	go func() {
		pad := strings.Repeat("A", width)
		for i := 0; i < lines; i++ {
			var line string
			switch i % 4 {
			case 0:
				line = "info --" + pad + "\n"
			case 1:
				line = "accountInfo --account " + pad + "\n"
			case 2:
				line = "info '" + pad + "\n"
			default:
				line = "help " + pad + "\n"
			}
			if _, err := io.WriteString(pw, line); err != nil {
				return
			}
		}
		pw.Close()
	}()
	return pr
}

// TestBatchMemoryAndRecordingBounded: one account piping ~30 MB into --osh batch makes the
// bastion hold a bounded amount of memory, its recording stops at recordingMaxBytes with a
// marker, and the batch still answers.
func TestBatchMemoryAndRecordingBounded(t *testing.T) {
	const recCap = 1 << 20
	// asciicast: the batch output compresses far below the cap in the default format.
	b := testenv.Start(t, testenv.Options{Config: fmt.Sprintf("recordingFormat = \"asciicast\"\nrecordingMaxBytes = %d\n", recCap)})
	bobKey := b.CreateAccount("bob")
	for _, mode := range []string{"--json", "--json-pretty", ""} {
		t.Run("mode"+mode, func(t *testing.T) {
			words := []string{"--osh", "batch"}
			if mode != "" {
				words = append([]string{mode}, words...)
			}
			in := batchInput(1000, 30000)
			base := heapInuse()
			h := sampleHeap()
			r := b.SSHIn(in, bobKey, "bob", words...)
			peak := h.Stop()
			growth := int64(peak) - int64(base)
			t.Logf("%s: stdout %d bytes, heap in use %d MiB before, peak %d MiB (+%d MiB)", mode, len(r.Stdout), base>>20, peak>>20, growth>>20)
			if r.Exit != 0 {
				t.Fatalf("batch: exit %d, stderr %q, stdout tail %q", r.Exit, r.Stderr, tail(r.Stdout, 500))
			}
			if mode != "" && (!strings.Contains(r.Stdout, "JSON_START") || !strings.Contains(r.Stdout, "KO_UNKNOWN_COMMAND") && !strings.Contains(r.Stdout, "ERR_BAD_OPTIONS")) {
				t.Fatalf("no JSON result: %q", tail(r.Stdout, 2000))
			}
			if growth > 40<<20 {
				t.Errorf("the server's heap grew by %d MiB for one 30 MB batch (limit 40 MiB)", growth>>20)
			}
			if len(r.Stdout) > 16<<20 {
				t.Errorf("%d MiB echoed back for a 30 MB batch", len(r.Stdout)>>20)
			}
		})
	}
	// Four at once (eight reached 6 GB before): still bounded.
	t.Run("four at once", func(t *testing.T) {
		base := heapInuse()
		h := sampleHeap()
		var wg sync.WaitGroup
		for i := 0; i < 4; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if r := b.SSHIn(batchInput(1000, 30000), bobKey, "bob", "--json", "--osh", "batch"); r.Exit != 0 {
					t.Errorf("batch: exit %d", r.Exit)
				}
			}()
		}
		wg.Wait()
		growth := int64(h.Stop()) - int64(base)
		t.Logf("four batches at once: heap peak +%d MiB", growth>>20)
		if growth > 80<<20 {
			t.Errorf("the server's heap grew by %d MiB for four 30 MB batches (limit 80 MiB)", growth>>20)
		}
	})
	// The recordings of these batches stop at the cap with the marker; the audit and the session
	// list say so.
	var batches, capped int
	deadline := time.Now().Add(10 * time.Second)
	for {
		rows, _ := b.App.Store.ListSessions(context.Background(), store.SessionFilter{Account: "bob", Kind: "osh", Limit: 100})
		batches, capped = 0, 0
		for _, row := range rows {
			if row.Plugin != "batch" || row.Status != "closed" {
				continue
			}
			batches++
			st, err := os.Stat(row.Recording)
			if err != nil {
				t.Fatal(err)
			}
			if st.Size() > recCap+256<<10 {
				t.Errorf("recording of %s is %d bytes, cap %d", row.ID, st.Size(), recCap)
			}
			if st.Size() > recCap {
				capped++
				data, _ := os.ReadFile(row.Recording)
				if !strings.Contains(string(data), record.LimitMarker) || !strings.HasSuffix(strings.TrimSpace(string(data)), `"]`) {
					t.Errorf("recording %s passed the cap without the marker at its end", row.ID)
				}
				if !strings.Contains(row.Comment, "recordingMaxBytes") {
					t.Errorf("session row of a capped recording: comment %q", row.Comment)
				}
			}
		}
		if batches == 7 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if batches != 7 || capped < 6 {
		t.Fatalf("%d batch sessions closed (want 7), %d recordings capped (want 6 or more)", batches, capped)
	}
	if n := len(auditEntries(t, b, "recording.limit")); n != capped {
		t.Errorf("%d recording.limit audit events, %d capped recordings", n, capped)
	}
	var truncated int
	for _, e := range auditEntries(t, b, "session.close") {
		if f, _ := e["fields"].(map[string]any); f["recording_truncated"] == true {
			truncated++
		}
	}
	if truncated != capped {
		t.Errorf("%d session.close events say recording_truncated, %d recordings capped", truncated, capped)
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
