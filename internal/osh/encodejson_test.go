package osh

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"
)

// legacyEncodeJSON is EncodeJSON before issue 14 (copied as of 603be5c): the reference the
// faster one must equal byte for byte.
func legacyEncodeJSON(r Result, mode JSONMode) ([]byte, error) {
	if mode == JSONNone {
		return nil, nil
	}
	body, err := r.MarshalJSON()
	if err != nil {
		return nil, err
	}
	if mode == JSONPretty {
		var v any
		if err := json.Unmarshal(body, &v); err != nil {
			return nil, err
		}
		if body, err = marshal(v, "   "); err != nil {
			return nil, err
		}
	}
	escape := func(b []byte) []byte {
		var out bytes.Buffer
		for len(b) > 0 {
			r, size := utf8.DecodeRune(b)
			switch {
			case r < utf8.RuneSelf:
				out.WriteByte(b[0])
			case r > 0xFFFF:
				r -= 0x10000
				fmt.Fprintf(&out, `\u%04x\u%04x`, 0xD800+(r>>10), 0xDC00+(r&0x3FF))
			default:
				fmt.Fprintf(&out, `\u%04x`, r)
			}
			b = b[size:]
		}
		return out.Bytes()
	}
	s := markerFix.Replace(string(escape(body)))
	switch mode {
	case JSONGreppable:
		s = strings.NewReplacer("\r", " ", "\n", " ").Replace(s)
		return []byte("\nJSON_OUTPUT=" + s + "\n"), nil
	default:
		return []byte("\nJSON_START\n" + s + "\nJSON_END\n"), nil
	}
}

// FuzzEncodeJSONAsBefore: whatever a value holds (an account's comment, a freeze reason, a
// group name: text users type), EncodeJSON's answer is the old one's, in every mode; and the
// old escape, applied to raw bytes (invalid UTF-8 included), equals asciiEscape.
func FuzzEncodeJSONAsBefore(f *testing.F) {
	for _, s := range []string{"", "plain", "é😀☃", "JSON_START JSON_END JSON_OUTPUT JSON_", "JSON__START", "a\nb\rc\td",
		"\u2028\u2029", "\xff\xfe invalid", "<b>&amp;</b>", `"quoted" \back\slash`, "JSON_OUTPUTJSON_END", "\x00\x1f"} {
		f.Add(s, "key")
	}
	f.Fuzz(func(t *testing.T, s, k string) {
		vals := []any{s, map[string]any{k: s, "n": 1, "l": []string{s, k}}, struct {
			A string `json:"a"`
			B any    `json:"b"`
		}{s, map[string]string{k: s}}}
		for _, v := range vals {
			r := OK(k, v)
			for _, mode := range []JSONMode{JSONNone, JSONCompact, JSONPretty, JSONGreppable} {
				old, errOld := legacyEncodeJSON(r, mode)
				got, errNew := EncodeJSON(r, mode)
				if (errOld == nil) != (errNew == nil) || !bytes.Equal(old, got) {
					t.Fatalf("mode %v value %#v:\nold %q %v\nnew %q %v", mode, v, old, errOld, got, errNew)
				}
			}
		}
		raw := []byte(s + k)
		var want bytes.Buffer
		for b := raw; len(b) > 0; {
			r, size := utf8.DecodeRune(b)
			switch {
			case r < utf8.RuneSelf:
				want.WriteByte(b[0])
			case r > 0xFFFF:
				r -= 0x10000
				fmt.Fprintf(&want, `\u%04x\u%04x`, 0xD800+(r>>10), 0xDC00+(r&0x3FF))
			default:
				fmt.Fprintf(&want, `\u%04x`, r)
			}
			b = b[size:]
		}
		if got := asciiEscape(raw); !bytes.Equal(got, want.Bytes()) {
			t.Fatalf("asciiEscape(%q) = %q, want %q", raw, got, want.Bytes())
		}
	})
}

// FuzzAppendJSONString: AppendJSONString writes what encoding/json writes for a string with
// HTML escaping off, whatever the bytes (a comment, a reason, a name).
func FuzzAppendJSONString(f *testing.F) {
	for _, s := range []string{"", "plain", "é😀☃", "\b\f\n\r\t\x00\x01\x1f\x7f", `"\`, "<>&", "\u2028\u2029\u2027", "\xff\xfe", "a\xc3", "\xed\xa0\x80"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, err := marshal(s, "")
		if err != nil {
			t.Fatal(err)
		}
		if got := AppendJSONString([]byte("x"), s); string(got) != "x"+string(want) {
			t.Fatalf("%q: got %s, want %s", s, got[1:], want)
		}
	})
}

// pairsStreamer is a JSONStreamer for the tests: an object of string members, handed to flush
// after every member (the real ones wait for JSONStreamChunk bytes).
type pairsStreamer [][2]string

func (p pairsStreamer) AppendJSON(b []byte) []byte { return p.StreamJSON(b, nil) }

func (p pairsStreamer) StreamJSON(b []byte, flush func([]byte) []byte) []byte {
	b = append(b, '{')
	for i, kv := range p {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(AppendJSONString(b, kv[0]), ':')
		b = AppendJSONString(b, kv[1])
		if flush != nil {
			b = flush(b)
		}
	}
	return append(b, '}')
}

func (p pairsStreamer) MarshalJSON() ([]byte, error) { return p.AppendJSON(nil), nil }

// FuzzWriteJSONAsEncode: an answer written in parts (WriteJSON, a JSONStreamer value) is the
// bytes EncodeJSON makes whole, and the old encoder's, in every mode, whatever the text (non-ASCII
// and JSON_ markers in the members and in the message).
func FuzzWriteJSONAsEncode(f *testing.F) {
	for _, s := range []string{"", "plain", "é😀☃", "JSON_START JSON_END JSON_OUTPUT JSON_", "JSON_OUTPUTJSON_END", "a\nb\rc",
		"\u2028", "\xff\xfe invalid", `"q" \b`} {
		f.Add(s, "JSON_", "key")
	}
	f.Fuzz(func(t *testing.T, s, msg, k string) {
		for _, v := range []pairsStreamer{nil, {{k, s}}, {{k, s}, {s, k}, {"JSON_", "START"}, {"x", msg}}} {
			r := Result{Command: k, Code: "OK", Message: msg, Value: v}
			for _, mode := range []JSONMode{JSONNone, JSONCompact, JSONPretty, JSONGreppable} {
				want, errWant := EncodeJSON(r, mode)
				old, errOld := legacyEncodeJSON(r, mode)
				var got bytes.Buffer
				errGot := WriteJSON(&got, r, mode)
				if errWant != nil || errOld != nil || errGot != nil || !bytes.Equal(got.Bytes(), want) || !bytes.Equal(old, want) {
					t.Fatalf("mode %v value %q:\nwritten %q %v\nencoded %q %v\nold     %q %v", mode, v, got.Bytes(), errGot, want, errWant, old, errOld)
				}
			}
		}
	})
}

// failWriter fails every write after the first n.
type failWriter struct{ n int }

func (w *failWriter) Write(p []byte) (int, error) {
	if w.n == 0 {
		return 0, fmt.Errorf("gone")
	}
	w.n--
	return len(p), nil
}

// TestWriteJSONStreams: a streamed answer reaches the writer in parts, not whole, and a writer
// that fails stops the writing with ErrJSONWrite (a client gone is not an encoding error).
func TestWriteJSONStreams(t *testing.T) {
	var v pairsStreamer
	for i := range 100 {
		v = append(v, [2]string{fmt.Sprint("k", i), strings.Repeat("x", 100)})
	}
	cw := &countWrites{}
	if err := WriteJSON(cw, OK("c", v), JSONCompact); err != nil {
		t.Fatal(err)
	}
	want, _ := EncodeJSON(OK("c", v), JSONCompact)
	if cw.n < 100 || !bytes.Equal(cw.b.Bytes(), want) {
		t.Fatalf("%d writes; equal %v", cw.n, bytes.Equal(cw.b.Bytes(), want))
	}
	for _, n := range []int{0, 1, 5} {
		if err := WriteJSON(&failWriter{n: n}, OK("c", v), JSONGreppable); !errors.Is(err, ErrJSONWrite) {
			t.Fatalf("after %d writes: %v", n, err)
		}
	}
	if err := WriteJSON(&failWriter{}, OK("c", map[string]int{"a": 1}), JSONCompact); !errors.Is(err, ErrJSONWrite) {
		t.Fatalf("whole answer: %v", err)
	}
}

type countWrites struct {
	b bytes.Buffer
	n int
}

func (w *countWrites) Write(p []byte) (int, error) { w.n++; return w.b.Write(p) }
