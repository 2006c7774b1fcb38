package osh

import (
	"bytes"
	"encoding/json"
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
