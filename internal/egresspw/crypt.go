package egresspw

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/binary"
	"hash"
	"strconv"
	"strings"
)

// The hashes The Bastion shows for an egress password (selfListPasswords, --force-password):
// crypt(3)'s md5crypt, sha256crypt and sha512crypt, each with a salt derived from the password
// itself, so that the same password always gives the same hashes and a hash names its password
// without revealing it. The salt derivation is The Bastion's (HMAC-SHA256 iterated 10,000 times
// under a fixed salt), so hashes listed by The Bastion keep naming the same passwords here.

const cryptAlphabet = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// bastionSaltKey is The Bastion's fixed salt of its password-derived salts.
const bastionSaltKey = "JPYWrLpoXcXFA46m9DUI5z02SqUd2baG"

// derivedSalt is The Bastion's salt of length n (≤ 16) for password and nonce ("$1", "$5", "$6").
func derivedSalt(password, nonce string, n int) string {
	key := []byte(password + nonce + strconv.Itoa(n) + nonce + password)
	mac := func(msg []byte) []byte {
		m := hmac.New(sha256.New, key)
		m.Write(msg)
		return m.Sum(nil)
	}
	h := mac(append([]byte(bastionSaltKey), 0, 0, 0, 0))
	result := append([]byte(nil), h...)
	for i := 2; i <= 10000; i++ {
		h = mac(h)
		for j := range result {
			result[j] ^= h[j]
		}
	}
	out := make([]byte, 0, n)
	for i := 0; i < n; i++ {
		r := int(binary.LittleEndian.Uint16(result[2*i:])) % 62
		switch {
		case r < 10:
			out = append(out, byte('0'+r))
		case r < 36:
			out = append(out, byte('a'+r-10))
		default:
			out = append(out, byte('A'+r-36))
		}
	}
	return string(out)
}

// Hashes are the hashes of one password, keyed by The Bastion's names.
func Hashes(password string) map[string]string {
	out := map[string]string{}
	for _, k := range []string{"md5crypt", "sha256crypt", "sha512crypt"} {
		out[k] = hashOf(password, k)
	}
	return out
}

// hashOf is one of Hashes, by name ("" for an unknown name).
func hashOf(password, kind string) string {
	switch kind {
	case "md5crypt":
		return MD5Crypt(password, derivedSalt(password, "$1", 4))
	case "sha256crypt":
		return SHACrypt(sha256.New, "$5$", password, derivedSalt(password, "$5", 8))
	case "sha512crypt":
		return SHACrypt(sha512.New, "$6$", password, derivedSalt(password, "$6", 8))
	}
	return ""
}

// kindOf names the kind of a crypt hash by its prefix.
func kindOf(hash string) string {
	switch {
	case strings.HasPrefix(hash, "$1$"):
		return "md5crypt"
	case strings.HasPrefix(hash, "$5$"):
		return "sha256crypt"
	case strings.HasPrefix(hash, "$6$"):
		return "sha512crypt"
	}
	return ""
}

func b64From24(out []byte, b2, b1, b0 byte, n int) []byte {
	w := uint(b2)<<16 | uint(b1)<<8 | uint(b0)
	for ; n > 0; n-- {
		out = append(out, cryptAlphabet[w&0x3f])
		w >>= 6
	}
	return out
}

// SHACrypt is crypt(3)'s SHA-256 ("$5$") or SHA-512 ("$6$") method with 5,000 rounds and a salt
// of at most 16 characters (Drepper's specification).
func SHACrypt(newHash func() hash.Hash, magic, password, salt string) string {
	if len(salt) > 16 {
		salt = salt[:16]
	}
	p, s := []byte(password), []byte(salt)
	h := newHash()
	h.Write(p)
	h.Write(s)
	h.Write(p)
	b := h.Sum(nil)
	size := len(b)

	h = newHash()
	h.Write(p)
	h.Write(s)
	for n := len(p); n > 0; n -= size {
		h.Write(b[:min(n, size)])
	}
	for n := len(p); n > 0; n >>= 1 {
		if n&1 != 0 {
			h.Write(b)
		} else {
			h.Write(p)
		}
	}
	a := h.Sum(nil)

	h = newHash()
	for range p {
		h.Write(p)
	}
	dp := h.Sum(nil)
	pp := make([]byte, 0, len(p))
	for n := len(p); n > 0; n -= size {
		pp = append(pp, dp[:min(n, size)]...)
	}

	h = newHash()
	for i := 0; i < 16+int(a[0]); i++ {
		h.Write(s)
	}
	ds := h.Sum(nil)
	ss := make([]byte, 0, len(s))
	for n := len(s); n > 0; n -= size {
		ss = append(ss, ds[:min(n, size)]...)
	}

	for i := 0; i < 5000; i++ {
		h = newHash()
		if i&1 != 0 {
			h.Write(pp)
		} else {
			h.Write(a)
		}
		if i%3 != 0 {
			h.Write(ss)
		}
		if i%7 != 0 {
			h.Write(pp)
		}
		if i&1 != 0 {
			h.Write(a)
		} else {
			h.Write(pp)
		}
		a = h.Sum(a[:0])
	}

	out := []byte(magic + salt + "$")
	if size == 64 {
		for i := 0; i < 21; i++ {
			x, y, z := sha512Order[i][0], sha512Order[i][1], sha512Order[i][2]
			out = b64From24(out, a[x], a[y], a[z], 4)
		}
		out = b64From24(out, 0, 0, a[63], 2)
	} else {
		for i := 0; i < 10; i++ {
			x, y, z := sha256Order[i][0], sha256Order[i][1], sha256Order[i][2]
			out = b64From24(out, a[x], a[y], a[z], 4)
		}
		out = b64From24(out, 0, a[31], a[30], 3)
	}
	return string(out)
}

var sha512Order = [21][3]int{{0, 21, 42}, {22, 43, 1}, {44, 2, 23}, {3, 24, 45}, {25, 46, 4}, {47, 5, 26}, {6, 27, 48},
	{28, 49, 7}, {50, 8, 29}, {9, 30, 51}, {31, 52, 10}, {53, 11, 32}, {12, 33, 54}, {34, 55, 13}, {56, 14, 35},
	{15, 36, 57}, {37, 58, 16}, {59, 17, 38}, {18, 39, 60}, {40, 61, 19}, {62, 20, 41}}

var sha256Order = [10][3]int{{0, 10, 20}, {21, 1, 11}, {12, 22, 2}, {3, 13, 23}, {24, 4, 14}, {15, 25, 5}, {6, 16, 26},
	{27, 7, 17}, {18, 28, 8}, {9, 19, 29}}

// MD5Crypt is crypt(3)'s "$1$" method (poul-henning kamp's md5crypt), salt of at most 8 characters.
func MD5Crypt(password, salt string) string {
	if len(salt) > 8 {
		salt = salt[:8]
	}
	p, s := []byte(password), []byte(salt)
	h := md5.New()
	h.Write(p)
	h.Write(s)
	h.Write(p)
	fin := h.Sum(nil)
	h = md5.New()
	h.Write(p)
	h.Write([]byte("$1$"))
	h.Write(s)
	for n := len(p); n > 0; n -= 16 {
		h.Write(fin[:min(n, 16)])
	}
	for n := len(p); n > 0; n >>= 1 {
		if n&1 != 0 {
			h.Write([]byte{0})
		} else {
			h.Write(p[:1])
		}
	}
	fin = h.Sum(nil)
	for i := 0; i < 1000; i++ {
		h = md5.New()
		if i&1 != 0 {
			h.Write(p)
		} else {
			h.Write(fin)
		}
		if i%3 != 0 {
			h.Write(s)
		}
		if i%7 != 0 {
			h.Write(p)
		}
		if i&1 != 0 {
			h.Write(fin)
		} else {
			h.Write(p)
		}
		fin = h.Sum(fin[:0])
	}
	out := []byte("$1$" + salt + "$")
	out = b64From24(out, fin[0], fin[6], fin[12], 4)
	out = b64From24(out, fin[1], fin[7], fin[13], 4)
	out = b64From24(out, fin[2], fin[8], fin[14], 4)
	out = b64From24(out, fin[3], fin[9], fin[15], 4)
	out = b64From24(out, fin[4], fin[10], fin[5], 4)
	out = b64From24(out, 0, 0, fin[11], 2)
	return string(out)
}
