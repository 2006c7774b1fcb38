package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"gatehouse/internal/record"
	"gatehouse/internal/store"
	"gatehouse/internal/testenv"
)

// bigRecording writes a recording in the default format (.ghrec) of about size bytes spread over
// d: log lines every few milliseconds, the first one firstLine (then 3 s without output, so a
// test sees it before it scrolls away), and at t=mark a line carrying markText (then 5 s
// without output).
func bigRecording(t *testing.T, size int64, d time.Duration, firstLine, markText string, mark time.Duration) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	t0 := time.Now().Add(-d)
	clock := t0
	rec, path, err := record.Create(dir, "big"+record.Gatehouse.Ext(), record.Options{Format: record.Gatehouse, Cols: 120, Rows: 40, Term: "xterm",
		Now: func() time.Time { return clock }})
	if err != nil {
		t.Fatal(err)
	}
	clock = clock.Add(10 * time.Millisecond)
	rec.Output([]byte(firstLine + "\r\n"))
	r := rand.New(rand.NewPCG(1, 2))
	// Enough lines to reach size: a line is ~110 bytes raw, ~26 bytes once compressed.
	lines := int(size / 24)
	step := (d - 10*time.Second) / time.Duration(lines)
	clock = clock.Add(3 * time.Second)
	marked := false
	for i := 0; i < lines; i++ {
		clock = clock.Add(step)
		if !marked && clock.Sub(t0) >= mark {
			rec.Output([]byte(markText + "\r\n"))
			marked = true
			clock = clock.Add(5 * time.Second)
		}
		rec.Output(fmt.Appendf(nil, "2026-12-02T10:%02d:%02d.%03d host%02d app[%d]: request id=%016x path=/api/v1/items/%d status=%d\r\n",
			(i/60000)%60, (i/1000)%60, i%1000, r.IntN(20), r.IntN(99999), r.Uint64(), r.IntN(100000), 200+r.IntN(4)*100))
	}
	if _, _, err := rec.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// A 1-hour, 50 MB recording starts playing in the browser in under a second: the replay page
// loads an index and the first segment, not the whole recording; a seek to the 50th minute
// shows the text printed then.
func TestWebReplayLargeRecordingStartsFast(t *testing.T) {
	b := testenv.Start(t, testenv.Options{Config: "[web]\nlisten = \"127.0.0.1:0\"\n"})
	aliceKey := b.CreateAccount("alice")
	const hour = time.Hour
	path := bigRecording(t, 50<<20, hour, "FIRST-FRAME-MARK", "MINUTE-50-MARK", 50*time.Minute)
	st, err := os.Stat(path)
	if err != nil || st.Size() < 50_000_000 {
		t.Fatalf("recording %s: %v %v", path, st.Size(), err)
	}
	ctx := context.Background()
	acc, err := b.App.Store.GetAccount(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	end := time.Now()
	id := record.NewID()
	if err := b.App.Store.OpenSession(ctx, store.Session{ID: id, Account: "alice", AccountID: acc.ID, Kind: "ssh", User: "root", Host: "db1",
		StartedAt: end.Add(-hour), Status: "open", Recording: path}); err != nil {
		t.Fatal(err)
	}
	if err := b.App.Store.CloseSession(ctx, id, func(s *store.Session) { s.EndedAt, s.Status, s.Size = end, "closed", st.Size() }); err != nil {
		t.Fatal(err)
	}

	url, _ := webLogin(t, b, aliceKey, "alice")
	br := browser(t)
	if s := status(t, br, url); s != 200 {
		t.Fatalf("login: %d", s)
	}
	base := strings.SplitN(url, "/login", 2)[0]
	// Warm the browser's cache of the player's script, as any earlier page of the console does.
	status(t, br, base+"/assets/asciinema-player.min.js")

	start := time.Now()
	if s := status(t, br, base+"/sessions/"+id); s != 200 {
		t.Fatalf("replay page: %d", s)
	}
	waitPlayer(t, br)
	if _, err := chromedp.Run(withTimeout(br, 20*time.Second), chromedp.Evaluate[any](`window.gatehousePlayer.play(), null`)); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Run(withTimeout(br, 30*time.Second), chromedp.Poll[bool](
		`document.querySelector("#player").textContent.includes("FIRST-FRAME-MARK")`, chromedp.WithPollingInterval(5*time.Millisecond))); err != nil {
		dbg, _ := chromedp.Run(withTimeout(br, 20*time.Second), chromedp.Evaluate[string](
			`Promise.all([fetch(document.getElementById("player").dataset.index).then(r => r.text()).then(t => t.slice(0, 200)), fetch(document.getElementById("player").dataset.index.replace("index","0")).then(r => r.text()).then(t => t.slice(0, 500) + " ... " + t.slice(-300))]).then(a => a.join("\n") + "\nPLAYER:" + document.querySelector("#player").innerHTML.slice(0, 2000))`, chromedp.EvalAwaitPromise))
		t.Fatalf("the first frame never showed: %v\n%s", err, dbg)
	}
	first := time.Since(start)
	t.Logf("first frame %v after opening the replay page of a %d-byte, 1-hour recording", first, st.Size())
	timing, _ := chromedp.Run(withTimeout(br, 5*time.Second), chromedp.Evaluate[string](
		`JSON.stringify(performance.getEntriesByType("resource").map(e => [e.name.replace(/.*\//, ""), Math.round(e.startTime), Math.round(e.responseStart), Math.round(e.responseEnd), e.transferSize]))`))
	t.Logf("page loads (name, start, first byte, end ms from navigation, bytes): %s", timing)
	if first > time.Second {
		t.Errorf("first frame after %v, want < 1 s", first)
	}

	// Seek to the 50th minute: the screen there, from the segment's snapshot and events.
	seekStart := time.Now()
	if _, err := chromedp.Run(withTimeout(br, 20*time.Second), chromedp.Evaluate[any](
		`window.gatehousePlayer.pause().then(() => window.gatehousePlayer.seek(50*60 + 1)), null`)); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Run(withTimeout(br, 30*time.Second), chromedp.Poll[bool](
		`document.querySelector("#player").textContent.includes("MINUTE-50-MARK")`, chromedp.WithPollingInterval(10*time.Millisecond))); err != nil {
		t.Fatalf("the seek to minute 50 never showed its text: %v", err)
	}
	t.Logf("seek to minute 50 shown after %v", time.Since(seekStart))
	shoot(t, br, screenshots(t), "replay-large")

	// Segment numbers out of range or not numbers: refused, nothing read.
	for p, want := range map[string]int64{"/replay/-1": 400, "/replay/abc": 400, "/replay/1e3": 400, "/replay/100000": 404, "/replay/99999999999999999999": 400} {
		if s := status(t, br, base+"/sessions/"+id+p); s != want {
			t.Errorf("GET %s: %d, want %d", p, s, want)
		}
	}
	// The segments are the session's: another account gets 403 for the index and a segment.
	bobKey := b.CreateAccount("bob")
	bobURL, _ := webLogin(t, b, bobKey, "bob")
	bob := browser(t)
	status(t, bob, bobURL)
	for _, p := range []string{"/replay/index", "/replay/0", "/replay/99"} {
		if s := status(t, bob, base+"/sessions/"+id+p); s != 403 {
			t.Fatalf("bob GET %s: %d, want 403", p, s)
		}
	}
}
