package record

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// crashStream is the output TestCrashWhileStreamingKeepsRecording's helper records: random
// bytes from a fixed seed, so the parent can regenerate them.
func crashStream() *rand.ChaCha8 {
	return rand.NewChaCha8([32]byte{14, 'r', 'a', 'w'})
}

// TestCrashWhileStreamingKeepsRecording kills (kill -9) a process in the middle of a bulk
// recording, while chunks are built in its direct-I/O stages and written with O_DIRECT, once
// the file holds at least 24 MiB: the file reads cleanly to its last whole chunk (no
// corruption, only a truncated tail), what it replays is exactly the start of what was
// recorded, and it holds all but the last stage's worth of what was on disk when the kill was
// decided.
func TestCrashWhileStreamingKeepsRecording(t *testing.T) {
	dir := filepath.Join(diskDir(t), "rec")
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashStreamHelper$")
	cmd.Env = append(os.Environ(), "GATEHOUSE_RECORD_CRASH_STREAM_DIR="+dir)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }() // already dead on the normal path
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "ready ") {
		t.Fatalf("helper did not start: %q %v", line, err)
	}
	path := strings.TrimSpace(strings.TrimPrefix(line, "ready "))
	const atLeast = 24 << 20
	var onDisk int64
	for deadline := time.Now().Add(2 * time.Minute); onDisk < atLeast; {
		if time.Now().After(deadline) {
			t.Fatalf("the recording has %d bytes after 2 minutes", onDisk)
		}
		if fi, err := os.Stat(path); err == nil {
			onDisk = fi.Size()
		}
		time.Sleep(10 * time.Millisecond) // polling the file's size: the condition waited on
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait() // killed: its error says so

	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rd, err := NewReader(bufio.NewReaderSize(f, 1<<20))
	if err != nil {
		t.Fatal(err)
	}
	want := crashStream()
	var got, expect [32 << 10]byte
	replayed := 0
	for {
		ev, err := rd.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("after %d bytes replayed: %v", replayed, err)
		}
		if ev.Kind != KindOutput {
			continue
		}
		for p := ev.Data; len(p) > 0; {
			n := min(len(p), len(expect))
			_, _ = want.Read(expect[:n])
			copy(got[:n], p[:n])
			if !bytes.Equal(got[:n], expect[:n]) {
				t.Fatalf("replayed bytes differ from the recorded ones at %d", replayed)
			}
			replayed += n
			p = p[n:]
		}
	}
	if int64(replayed) < onDisk-2*directStage {
		t.Fatalf("replayed %d bytes; %d were on disk before the kill", replayed, onDisk)
	}
	t.Logf("on disk when killed: ≥ %d bytes; replayed %d (truncated tail: %v)", onDisk, replayed, rd.Truncated())
}

// TestCrashStreamHelper is the process TestCrashWhileStreamingKeepsRecording kills; it does
// nothing when run on its own.
func TestCrashStreamHelper(t *testing.T) {
	dir := os.Getenv("GATEHOUSE_RECORD_CRASH_STREAM_DIR")
	if dir == "" {
		return
	}
	rec, path, err := Create(dir, "stream.ghrec", Options{Format: Gatehouse})
	if err != nil {
		t.Fatal(err)
	}
	os.Stdout.WriteString("ready " + path + "\n")
	src := crashStream()
	buf := make([]byte, 32<<10)
	for { // until killed
		_, _ = src.Read(buf)
		rec.Output(buf)
	}
}
