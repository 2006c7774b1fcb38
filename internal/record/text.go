package record

import (
	"encoding/binary"
	"unicode/utf8"
)

// utf8Carry holds the first bytes of a character that an Output chunk cut
// in two (at most utf8.UTFMax-1 bytes), so the character is written whole
// with the next chunk instead of as U+FFFD.
type utf8Carry struct {
	buf [utf8.UTFMax]byte
	n   int
}

// split takes the next chunk p and returns what may be written now: first
// (a carried character completed by p's first bytes, or carried bytes that
// proved invalid) and then rest (the remainder of p without any incomplete
// character at its end, which is carried to the next call).
func (c *utf8Carry) split(p []byte, joined *[2 * utf8.UTFMax]byte) (first, rest []byte) {
	if c.n > 0 {
		n := copy(joined[:], c.buf[:c.n])
		n += copy(joined[n:n+utf8.UTFMax], p)
		j := joined[:n]
		if !utf8.FullRune(j) {
			// Still incomplete: p was too short and was absorbed entirely.
			c.n = copy(c.buf[:], j)
			return nil, nil
		}
		_, size := utf8.DecodeRune(j)
		if size >= c.n {
			first, p = j[:size], p[size-c.n:]
		} else {
			// The carried bytes did not continue as promised: they are
			// invalid on their own and p starts afresh.
			first = j[:c.n]
		}
		c.n = 0
	}
	// Look back at most UTFMax-1 bytes for the start of the last character.
	for i := len(p) - 1; i >= 0 && i >= len(p)-(utf8.UTFMax-1); i-- {
		if utf8.RuneStart(p[i]) {
			if !utf8.FullRune(p[i:]) {
				c.n = copy(c.buf[:], p[i:])
				p = p[:i]
			}
			break
		}
	}
	return first, p
}

// drain returns and forgets carried bytes; at the end of a stream they are
// really invalid.
func (c *utf8Carry) drain() []byte {
	b := append([]byte(nil), c.buf[:c.n]...)
	c.n = 0
	return b
}

const hexDigits = "0123456789abcdef"

// jsonSafe[b] is true for bytes copied as they are into a JSON string
// when the text is known to be valid UTF-8: printable ASCII other than
// quote and backslash, and every byte of a multibyte character.
var jsonSafe = func() (t [256]bool) {
	for b := 0x20; b < 256; b++ {
		t[b] = b != '"' && b != '\\' && b != 0x7f
	}
	return t
}()

// appendJSONString appends p's bytes escaped as the inside of a JSON string.
// Valid UTF-8 is kept as is; each invalid byte becomes \ufffd (as
// encoding/json does); control characters, DEL, quote and backslash are
// escaped. It does not allocate beyond growing dst.
func appendJSONString(dst, p []byte) []byte {
	if !utf8.Valid(p) {
		return appendJSONStringSlow(dst, p)
	}
	// Fast path: skip 8 clean bytes at a time, then one table lookup per
	// byte, no decoding.
	start := 0
	for i := 0; i < len(p); i++ {
		for i+8 <= len(p) && !needsEscape8(binary.LittleEndian.Uint64(p[i:])) {
			i += 8
		}
		if i >= len(p) {
			break
		}
		if b := p[i]; !jsonSafe[b] {
			dst = append(dst, p[start:i]...)
			dst = appendEscape(dst, b)
			start = i + 1
		}
	}
	return append(dst, p[start:]...)
}

// needsEscape8 reports whether any of the 8 bytes in x is below 0x20,
// '"', '\\' or DEL (bit tricks from "Bit Twiddling Hacks": a byte of
// x-0x01…01 & ^x & 0x80…80 is set where x had a zero byte). Bytes of 0x80
// and above never match, which is right for valid UTF-8.
func needsEscape8(x uint64) bool {
	const lo, hi = 0x0101010101010101, 0x8080808080808080
	zero := func(v uint64) uint64 { return (v - lo) & ^v & hi }
	below20 := (x - 0x20*lo) & ^x & hi
	return below20|zero(x^('"'*lo))|zero(x^('\\'*lo))|zero(x^(0x7f*lo)) != 0
}

func appendJSONStringSlow(dst, p []byte) []byte {
	start := 0
	for i := 0; i < len(p); {
		b := p[i]
		if b >= 0x20 && b < 0x7f && b != '"' && b != '\\' {
			i++
			continue
		}
		if b >= utf8.RuneSelf {
			r, size := utf8.DecodeRune(p[i:])
			if r == utf8.RuneError && size == 1 {
				dst = append(dst, p[start:i]...)
				dst = append(dst, `\ufffd`...)
				i++
				start = i
				continue
			}
			i += size
			continue
		}
		dst = append(dst, p[start:i]...)
		dst = appendEscape(dst, b)
		i++
		start = i
	}
	return append(dst, p[start:]...)
}

// appendEscape appends the JSON escape of an ASCII byte.
func appendEscape(dst []byte, b byte) []byte {
	switch b {
	case '"':
		return append(dst, '\\', '"')
	case '\\':
		return append(dst, '\\', '\\')
	case '\n':
		return append(dst, '\\', 'n')
	case '\r':
		return append(dst, '\\', 'r')
	case '\t':
		return append(dst, '\\', 't')
	default:
		return append(dst, '\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&0xf])
	}
}
