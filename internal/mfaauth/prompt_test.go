package mfaauth

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"
)

func TestReadSecretLine(t *testing.T) {
	tests := []struct {
		name, in string
		pty      bool
		max      int
		want     string
		rest     string // what must stay unread
		err      error
	}{
		{name: "no pty, \\n", in: "hunter2\nnext\n", want: "hunter2", rest: "next\n"},
		{name: "no pty, \\r\\n", in: "hunter2\r\nnext", want: "hunter2", rest: "next"},
		{name: "no pty, \\r is part of nothing but the end", in: "a\rb\n", want: "a\rb"},
		{name: "no pty, last line without \\n", in: "hunter2", want: "hunter2"},
		{name: "no pty, nothing", in: "", err: io.EOF},
		{name: "pty, \\r ends", in: "hunter2\rnext", pty: true, want: "hunter2", rest: "next"},
		{name: "pty, \\n ends", in: "hunter2\n", pty: true, want: "hunter2"},
		{name: "pty, \\n left from a \\r\\n is skipped", in: "\nhunter2\r", pty: true, want: "hunter2"},
		{name: "pty, backspace", in: "huntx\x7fer2\r", pty: true, want: "hunter2"},
		{name: "pty, backspace on a multibyte rune", in: "pé\x7fe\r", pty: true, want: "pe"},
		{name: "pty, ^U clears", in: "garbage\x15hunter2\r", pty: true, want: "hunter2"},
		{name: "pty, ^C aborts", in: "hun\x03ter2\r", pty: true, err: ErrInterrupted},
		{name: "pty, ^D on an empty line", in: "\x04", pty: true, err: io.EOF},
		{name: "pty, EOF before the end", in: "hunter2", pty: true, err: io.EOF},
		{name: "over-long answer is cut at max, the rest of the line dropped", in: strings.Repeat("7", 10240) + "\nnext", max: 1025,
			want: strings.Repeat("7", 1025), rest: "next"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := strings.NewReader(tt.in)
			max := tt.max
			if max == 0 {
				max = 100
			}
			got, err := readSecretLine(r, tt.pty, max)
			if !errors.Is(err, tt.err) || got != tt.want {
				t.Fatalf("got %q, %v; want %q, %v", got, err, tt.want, tt.err)
			}
			if tt.err == nil {
				rest, _ := io.ReadAll(r)
				if string(rest) != tt.rest {
					t.Fatalf("left %q unread, want %q", rest, tt.rest)
				}
			}
		})
	}
}

// blockingReader never yields, like a client that does not answer.
type blockingReader struct{ release chan struct{} }

func (b blockingReader) Read([]byte) (int, error) { <-b.release; return 0, io.EOF }

func TestReadAnswerTimeoutAndCancel(t *testing.T) {
	r := blockingReader{make(chan struct{})}
	defer close(r.release)
	if _, err := readAnswer(context.Background(), r, false, 10, 20*time.Millisecond); !errors.Is(err, ErrPromptTimeout) {
		t.Fatalf("silent client: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := readAnswer(ctx, r, false, 10, time.Minute); !errors.Is(err, context.Canceled) {
		t.Fatalf("ended session: %v", err)
	}
}

// FuzzReadSecretLine: whatever a client sends, one answer never holds more than max bytes nor a
// line end, on a pty never an editing key, and nothing after the line's end is consumed (a
// batch's commands stay for the batch).
func FuzzReadSecretLine(f *testing.F) {
	for _, s := range []string{"hunter2\nnext\n", "a\rb\n", "\nhunter2\r", "huntx\x7fer2\r", "pé\x7f\x7f\x7fe\r", "garbage\x15hunter2\r",
		"hun\x03ter2\r", "\x04", "", "\r\n\r\n", strings.Repeat("7", 2000) + "\nnext"} {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, in string, pty bool) {
		const max = 64
		r := strings.NewReader(in)
		got, err := readSecretLine(r, pty, max)
		if len(got) > max {
			t.Fatalf("answer of %d bytes, max %d", len(got), max)
		}
		if strings.ContainsAny(got, "\n") || (pty && strings.ContainsAny(got, "\r\x03\x15\x7f\x08")) {
			t.Fatalf("answer %q holds a line end or an editing key", got)
		}
		if err != nil && got != "" {
			t.Fatalf("an error (%v) with an answer %q", err, got)
		}
		if err == nil {
			consumed := len(in) - r.Len()
			end := strings.IndexAny(in[:consumed], "\n\r")
			if !pty {
				end = strings.IndexByte(in[:consumed], '\n')
			}
			if end >= 0 && pty && in[end] == '\n' && end == 0 {
				// A leading \n (the rest of a \r\n) is skipped on a pty: the line ends at the next.
				if next := strings.IndexAny(in[1:consumed], "\n\r"); next >= 0 {
					end = next + 1
				}
			}
			if end >= 0 && consumed != end+1 {
				t.Fatalf("read %d bytes of %q, past the line's end at %d", consumed, in, end)
			}
		}
	})
}
