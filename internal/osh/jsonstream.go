package osh

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"sync"
)

// JSONStreamer is a JSONAppender that can be written in parts: the listing answers of ~10 MB
// (accountInfo --all, accountList --audit at 10,000 accounts, issue 14). Built whole, such an
// answer was one 10 MB allocation per call, and the garbage collector it set off made the
// command's slowest runs a third slower than its median; written in parts through one pooled
// buffer, it allocates no more for 10,000 accounts than for 100.
type JSONStreamer interface {
	JSONAppender
	// StreamJSON appends the value's JSON to b, the bytes AppendJSON appends, and calls flush
	// with all that b holds whenever it holds JSONStreamChunk bytes or more, only between two
	// whole members of the value (never inside a string, so never inside a UTF-8 character or a
	// JSON_ marker); flush returns the (emptied) buffer to go on appending to.
	StreamJSON(b []byte, flush func([]byte) []byte) []byte
}

// JSONStreamChunk is the size at which a JSONStreamer hands its bytes to be written: large
// enough that the writes are few (an SSH channel's packet is 32 KiB), small enough to stay in
// the cache.
const JSONStreamChunk = 64 << 10

// ErrJSONWrite wraps WriteJSON's errors of writing (rather than encoding) the answer.
var ErrJSONWrite = errors.New("write JSON answer")

// streamBufs are WriteJSON's buffers, one per answer being written.
var streamBufs = sync.Pool{New: func() any { b := make([]byte, 0, 2*JSONStreamChunk); return &b }}

// WriteJSON writes r to w in the framing mode asks for: the bytes EncodeJSON returns
// (FuzzWriteJSONAsEncode, TestWriteJSONStreams). A JSONStreamer value in the compact and
// greppable modes is written in parts as it is made; anything else is encoded whole, then
// written.
func WriteJSON(w io.Writer, r Result, mode JSONMode) error {
	s, ok := r.Value.(JSONStreamer)
	if !ok || (mode != JSONCompact && mode != JSONGreppable) {
		out, err := EncodeJSON(r, mode)
		if err != nil {
			return err
		}
		if _, err = w.Write(out); err != nil {
			return fmt.Errorf("%w: %w", ErrJSONWrite, err)
		}
		return nil
	}
	head, err := r.envelopeHead()
	if err != nil {
		return err
	}
	bp := streamBufs.Get().(*[]byte)
	defer func() {
		if cap(*bp) <= 4*JSONStreamChunk { // an answer's one huge member is not kept
			streamBufs.Put(bp)
		}
	}()
	sw := &streamWriter{w: w, greppable: mode == JSONGreppable}
	prefix := "\nJSON_START\n"
	if sw.greppable {
		prefix = "\nJSON_OUTPUT="
	}
	if _, sw.err = io.WriteString(w, prefix); sw.err != nil {
		return fmt.Errorf("%w: %w", ErrJSONWrite, sw.err)
	}
	b := append((*bp)[:0], head...)
	b = s.StreamJSON(b, sw.flush)
	b = sw.flush(append(b, '}'))
	*bp = b
	if sw.err == nil {
		end := "\nJSON_END\n"
		if sw.greppable {
			end = "\n"
		}
		_, sw.err = io.WriteString(w, end)
	}
	if sw.err != nil {
		return fmt.Errorf("%w: %w", ErrJSONWrite, sw.err)
	}
	return nil
}

// streamWriter writes the parts of a streamed answer, each made as EncodeJSON makes the whole:
// non-ASCII escaped, JSON_ markers rewritten, and, greppable, no line breaks. The parts are cut
// between whole members, so each can be made on its own.
type streamWriter struct {
	w         io.Writer
	greppable bool
	err       error // the first write error: what follows is dropped
}

func (sw *streamWriter) flush(b []byte) []byte {
	if sw.err != nil || len(b) == 0 {
		return b[:0]
	}
	out := asciiEscape(b)
	if bytes.Contains(out, []byte("JSON_")) {
		out = []byte(markerFix.Replace(string(out)))
	}
	if sw.greppable {
		for i, c := range out {
			if c == '\r' || c == '\n' {
				out[i] = ' '
			}
		}
	}
	_, sw.err = sw.w.Write(out)
	return b[:0]
}

// envelope is the result's JSON envelope around value: command (null when none), error code,
// error message (the code when there is no message), value.
func (r Result) envelope(value any) ([]byte, error) {
	msg := r.Message
	if msg == "" {
		msg = r.Code
	}
	var cmd any
	if r.Command != "" {
		cmd = r.Command
	}
	return marshal(struct {
		Command      any    `json:"command"`
		ErrorCode    string `json:"error_code"`
		ErrorMessage string `json:"error_message"`
		Value        any    `json:"value"`
	}{cmd, r.Code, msg, value}, "")
}

// envelopeHead is the envelope of a result whose value writes itself, up to where the value
// goes: `{"command":…,"value":`.
func (r Result) envelopeHead() ([]byte, error) {
	env, err := r.envelope(nil)
	if err != nil {
		return nil, err
	}
	head, ok := bytes.CutSuffix(env, []byte("null}"))
	if !ok {
		return nil, fmt.Errorf("JSON envelope %q does not end with its null value", env)
	}
	return head, nil
}
