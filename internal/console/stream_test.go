package console

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gatehouse/internal/record"
)

// A 1-hour, 50 MB recording starts streaming at once: the first events leave before the file is
// read whole (the figure: a replay starts in the browser in under 1 s).
func TestCastStreamsALargeRecording(t *testing.T) {
	path := filepath.Join(t.TempDir(), "big.cast")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	fmt.Fprintln(w, `{"version":2,"width":120,"height":40}`)
	line := make([]byte, 0, 200)
	for i := 0; i < 150; i++ {
		line = append(line, 'x')
	}
	size := 0
	for i := 0; size < 50<<20; i++ {
		n, _ := fmt.Fprintf(w, "[%.3f,\"o\",\"%s %d\\r\\n\"]\n", float64(i)*3600/300000, line, i)
		size += n
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	f.Close()

	in, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	rd, err := record.NewReader(in)
	if err != nil {
		t.Fatal(err)
	}
	pr, pw := io.Pipe()
	start := time.Now()
	go func() { pw.CloseWithError(WriteAsciicast(pw, rd)) }()
	first := make([]byte, 64<<10)
	if _, err := io.ReadFull(pr, first); err != nil {
		t.Fatal(err)
	}
	firstAfter := time.Since(start)
	if d := firstAfter; d > time.Second {
		t.Fatalf("first 64 KiB after %v", d)
	}
	pos, _ := in.Seek(0, io.SeekCurrent)
	if pos > 8<<20 {
		t.Fatalf("%d bytes of the file read before the first 64 KiB left: not streamed", pos)
	}
	n, err := io.Copy(io.Discard, pr)
	if err != nil || n < 40<<20 {
		t.Fatalf("streamed %d bytes: %v", n, err)
	}
	t.Logf("first 64 KiB after %v; the whole 50 MB after %v", firstAfter, time.Since(start))
}

// A recording without a pty (no TERM in its header) sent lone LFs: the cast the player gets has
// CRLF, including across events, and leaves existing CRLF alone; a pty recording is unchanged.
func TestCastAddsCRForSessionsWithoutPTY(t *testing.T) {
	cast := func(header string) string {
		src := header + "\n" + `[0.1,"o","a\nb\r\n"]` + "\n" + `[0.2,"o","\r"]` + "\n" + `[0.3,"o","\nc\n"]` + "\n"
		rd, err := record.NewReader(strings.NewReader(src))
		if err != nil {
			t.Fatal(err)
		}
		var out strings.Builder
		if err := WriteAsciicast(&out, rd); err != nil {
			t.Fatal(err)
		}
		var text strings.Builder
		for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n")[1:] {
			var ev []any
			if err := json.Unmarshal([]byte(l), &ev); err != nil {
				t.Fatal(err)
			}
			text.WriteString(ev[2].(string))
		}
		return text.String()
	}
	if got := cast(`{"version":2,"width":80,"height":24}`); got != "a\r\nb\r\n\r\nc\r\n" {
		t.Fatalf("without a pty: %q", got)
	}
	if got := cast(`{"version":2,"width":80,"height":24,"env":{"TERM":"xterm"}}`); got != "a\nb\r\n\r\nc\n" {
		t.Fatalf("with a pty: %q", got)
	}
}
