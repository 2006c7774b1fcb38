package main

import (
	"io"

	"gatehouse/internal/osh"
)

// emitJSON writes r's JSON answer to w as a session does for --json (compact): WriteJSON,
// which writes a long list in parts as it is made.
func emitJSON(w io.Writer, r osh.Result) error {
	return osh.WriteJSON(w, r, osh.JSONCompact)
}
