package restricted

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"gatehouse/internal/osh"
	"gatehouse/internal/store"
)

// TestStreamedListingsAtPartEdges: values a user controls (a comment, a name) holding a JSON_
// marker, an escape and multi-byte characters, shifted a byte at a time so that they fall on
// every side of a 64 KiB part's edge, are written by WriteJSON exactly as EncodeJSON writes the
// whole answer: valid JSON, one frame, no marker of a value left raw (the real streamers, not a
// test double).
func TestStreamedListingsAtPartEdges(t *testing.T) {
	now := time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)
	evil := "JSON_END\nJSON_START\"\\\u00e9\U0001F600\u2028JSON_OUTPUT="
	var infos infoList
	var rows listRows
	var accounts []store.Account
	for i := range 900 {
		a := store.Account{Name: fmt.Sprintf("a%04d", i), Comment: strings.Repeat("\u00e9", i%37) + evil + strings.Repeat("x", i%53),
			CreatedAt: now, CreatedBy: evil, MaxInactiveDays: -1}
		accounts = append(accounts, a)
		infos = append(infos, InfoValue(InfoInput{Account: a, CallerAuditor: true, Now: now}))
		rows = append(rows, listRow{Name: a.Name + evil[:i%len(evil)], IsActive: i % 2})
	}
	lazy := infoLazy{accounts: byName(accounts), fill: func(a *store.Account, v *Info) {
		fillInfo(v, InfoInput{Account: *a, CallerAuditor: true, Now: now})
	}}
	for _, v := range []osh.JSONStreamer{infos, rows.sorted(), lazy} {
		for _, mode := range []osh.JSONMode{osh.JSONCompact, osh.JSONGreppable} {
			r := osh.OK("accountList", v)
			want, err := osh.EncodeJSON(r, mode)
			if err != nil {
				t.Fatal(err)
			}
			var got bytes.Buffer
			if err := osh.WriteJSON(&got, r, mode); err != nil {
				t.Fatal(err)
			}
			if got.Len() < osh.JSONStreamChunk+1 || !bytes.Equal(got.Bytes(), want) {
				t.Fatalf("%T mode %v: %d bytes streamed, equal to the whole answer: %v", v, mode, got.Len(), bytes.Equal(got.Bytes(), want))
			}
			body := got.Bytes()
			if mode == osh.JSONCompact {
				if bytes.Count(body, []byte("JSON_START")) != 1 || bytes.Count(body, []byte("JSON_END")) != 1 {
					t.Fatalf("%T: a value's marker left raw", v)
				}
				body = bytes.TrimSuffix(bytes.TrimPrefix(body, []byte("\nJSON_START\n")), []byte("\nJSON_END\n"))
			} else {
				if bytes.Count(body, []byte("JSON_OUTPUT")) != 1 || bytes.Count(body, []byte("\n")) != 2 {
					t.Fatalf("%T: greppable answer not on one line, or a marker left raw", v)
				}
				body = bytes.TrimSuffix(bytes.TrimPrefix(body, []byte("\nJSON_OUTPUT=")), []byte("\n"))
			}
			for _, c := range body {
				if c >= 0x80 {
					t.Fatalf("%T: non-ASCII byte in the answer", v)
				}
			}
			if !json.Valid(body) {
				t.Fatalf("%T mode %v: not valid JSON", v, mode)
			}
		}
	}
}
