package osh

import (
	"fmt"
	"unicode/utf8"
)

// maxQuoted bounds what of a user's input an error message quotes back: a 60 KB option name is
// shown by its start and its length, so what is echoed (and recorded, and kept by a batch) does
// not grow with what was sent.
const maxQuoted = 256

// Clip shortens s to at most max bytes, cut on a character boundary, and says how long it was.
func Clip(s string, max int) string {
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return fmt.Sprintf("%s… (%d bytes)", s[:cut], len(s))
}

// quoted is Clip for error messages.
func quoted(s string) string { return Clip(s, maxQuoted) }
