package egresspw

import (
	"crypto/sha256"
	"crypto/sha512"
	"testing"
)

// Vectors from Drepper's specification and from `openssl passwd -1/-5/-6 -salt …`.
func TestCryptVectors(t *testing.T) {
	for _, tc := range []struct{ got, want string }{
		{SHACrypt(sha512.New, "$6$", "Hello world!", "saltstring"), "$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1"},
		{SHACrypt(sha256.New, "$5$", "Hello world!", "saltstring"), "$5$saltstring$5B8vYYiY.CVt1RlTTf8KbXBH3hsxY/GNooZaBBGWEc5"},
		{MD5Crypt("Hello world!", "abcd"), "$1$abcd$zfK/3U74e8Vhq.QQPIM8g0"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %s\nwant %s", tc.got, tc.want)
		}
	}
}

func TestHashesStable(t *testing.T) {
	a, b := Hashes("correct horse"), Hashes("correct horse")
	if a["sha512crypt"] != b["sha512crypt"] || a["sha512crypt"] == Hashes("correct horsf")["sha512crypt"] {
		t.Fatal("hashes must name one password, always the same")
	}
	if len(derivedSalt("x", "$6", 8)) != 8 || len(derivedSalt("x", "$1", 4)) != 4 {
		t.Fatal("salt length")
	}
}

// The salt and hash The Bastion's formula gives for "correct horse" (computed with Perl's
// Digest::SHA and crypt(3), the way The Bastion computes them).
func TestBastionDerivedSalt(t *testing.T) {
	if got := derivedSalt("correct horse", "$6", 8); got != wantSalt {
		t.Fatalf("salt %q, want %q", got, wantSalt)
	}
	if got := Hashes("correct horse")["sha512crypt"]; got != wantSHA512 {
		t.Fatalf("sha512crypt %q, want %q", got, wantSHA512)
	}
}

const (
	wantSalt   = "Oiq42yZA"
	wantSHA512 = "$6$Oiq42yZA$/mnKTHrHDKauvTjnRZeOiPQq1Zfdy64ikvtHYZ5X..rSkgUBn1ZOY4de1UShlSUYW2fWUGyMdFfXr2QzmIbtD/"
)

// BenchmarkHashes: the cost of listing one password (three salts of 10,000 HMACs, three crypts).
func BenchmarkHashes(b *testing.B) {
	for i := 0; i < b.N; i++ {
		Hashes("correct horse battery")
	}
}
