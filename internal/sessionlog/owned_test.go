package sessionlog

import (
	"bytes"
	"context"
	crand "crypto/rand"
	"os"
	"testing"

	"gatehouse/internal/record"
	"gatehouse/internal/session"
)

// TestRecorderTakesRelayBuffers: the session's recorder writer takes a relay's buffers
// (WriteOwned) into a gatehouse recording and gives one back for the next read; what a paused
// recording is given is not kept (the caller reads on into its own buffer). The recording
// replays exactly what was handed over, and the row's hash is the file's.
func TestRecorderTakesRelayBuffers(t *testing.T) {
	au := &memAudit{}
	tr, rows := newTracker(t, au)
	tr.Policy = func() Policy { return Policy{Format: record.Gatehouse} }
	s := testSession()
	track, err := tr.Begin(context.Background(), s, session.Line{Raw: "--osh info", Request: session.Request{Osh: "info"}})
	if err != nil {
		t.Fatal(err)
	}
	w, ok := track.Recorder().(interface {
		WriteOwned([]byte) ([]byte, error)
	})
	if !ok {
		t.Fatal("the recorder writer takes no buffers")
	}
	var want []byte
	buf := make([]byte, 256<<10)
	gaveBack := 0
	for range 40 {
		crand.Read(buf)
		want = append(want, buf...)
		next, err := w.WriteOwned(buf)
		if err != nil {
			t.Fatal(err)
		}
		if next == nil {
			next = make([]byte, 256<<10)
		} else {
			gaveBack++
		}
		buf = next[:cap(next)]
	}
	if gaveBack == 0 {
		t.Fatal("no buffer given back for the next read")
	}
	track.Pause(true)
	secret := []byte("s3cr3t-token")
	if next, err := w.WriteOwned(secret); err != nil || &next[0] != &secret[0] {
		t.Fatalf("paused: err %v, the buffer was kept", err)
	}
	track.Pause(false)
	track.End(context.Background(), s, session.Outcome{Kind: "osh", Allowed: true}, 0)
	row := rows.rows[track.ID()]
	f, err := os.Open(row.Recording)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rd, err := record.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	var got []byte
	for {
		ev, err := rd.Next()
		if err != nil {
			break
		}
		if ev.Kind == record.KindOutput {
			got = append(got, ev.Data...)
		}
	}
	if !bytes.HasPrefix(got, want) || bytes.Contains(got, secret) {
		t.Fatalf("replayed %d bytes, want the %d handed over first and no secret", len(got), len(want))
	}
}
