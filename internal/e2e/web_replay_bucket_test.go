package e2e

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/minio/minio-go/v7"

	"gatehouse/internal/archive"
	"gatehouse/internal/record"
	"gatehouse/internal/store"
	"gatehouse/internal/testenv"
)

// fetchText GETs path in the browser's session (its cookie) and returns the status and body.
func fetchText(t *testing.T, ctx context.Context, path string) (int, string) {
	t.Helper()
	type answer struct {
		Status int    `json:"status"`
		Body   string `json:"body"`
	}
	out, err := chromedp.Run(withTimeout(ctx, 60*time.Second), chromedp.Evaluate[answer](
		`fetch(`+jsString(path)+`, {credentials: "same-origin"}).then(async r => ({status: r.status, body: await r.text()}))`, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("fetch %s: %v", path, err)
	}
	return out.Status, out.Body
}

func jsString(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// waitPlayer waits until the replay page made its player. The page may still be replacing the
// previous one's context: a poll that lands there is asked again (it fails at once with "Cannot
// find context").
func waitPlayer(t *testing.T, br context.Context) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); ; {
		_, err := chromedp.Run(withTimeout(br, 20*time.Second), chromedp.Poll[bool](`!!window.gatehousePlayer`))
		if err == nil {
			return
		}
		if !strings.Contains(err.Error(), "Cannot find context") || time.Now().After(deadline) {
			t.Fatal(err)
		}
	}
}

// TestWebReplayFromBucket: a recording that is only in the archive bucket (shipped to a real S3
// server, versitygw, then removed from the node's disk) is replayed in headless Chromium as one
// on disk is: the whole cast (the export), the search, and, for a large one, the segmented
// player's index, first frame and a seek; a recording replaced in the bucket is refused.
func TestWebReplayFromBucket(t *testing.T) {
	s3 := testenv.StartS3(t)
	newBucket(t, s3, "gh-archive")
	b := testenv.Start(t, testenv.Options{Node: "n1", Config: "[web]\nlisten = \"127.0.0.1:0\"\n" + archiveTOML(s3, "")})
	cl, err := archive.NewClient(b.App.Config().Archive)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	aliceKey := b.CreateAccount("alice")
	if r := b.SSH(aliceKey, "alice", "--osh", "info"); r.Exit != 0 {
		t.Fatalf("info: %d %s", r.Exit, r.Stderr)
	}
	eventually(t, "alice's recording in the bucket", func() bool { return allShipped(b, cl, "alice", 1) })
	list, err := b.App.Store.ListSessions(ctx, store.SessionFilter{Account: "alice", Kind: "osh", Limit: 1})
	if err != nil || len(list) != 1 {
		t.Fatalf("sessions: %v %d", err, len(list))
	}
	small := list[0]
	if err := os.Remove(small.Recording); err != nil {
		t.Fatal(err)
	}

	// A large one (segmented), put in the bucket as the shipper does, never on this node's disk.
	path := bigRecording(t, 5<<20, 10*time.Minute, "FIRST-FRAME-MARK", "MINUTE-8-MARK", 8*time.Minute)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	acc := account(t, b, "alice")
	end := time.Now()
	big := store.Session{ID: record.NewID(), Account: "alice", AccountID: acc.ID, Kind: "ssh", User: "root", Host: "db1",
		StartedAt: end.Add(-10 * time.Minute), Status: "open", Recording: b.DataDir + "/recordings/alice/" + "big" + record.Gatehouse.Ext(), Node: "n1"}
	if err := cl.Put(ctx, cl.RecordingKey("n1", big.Recording), strings.NewReader(string(data)), int64(len(data)), hex.EncodeToString(sum[:]), time.Time{}); err != nil {
		t.Fatal(err)
	}
	// A closed session of alice's whose recording is the large one (its audited size and hash).
	closedSession := func(sess store.Session) {
		t.Helper()
		if err := b.App.Store.OpenSession(ctx, sess); err != nil {
			t.Fatal(err)
		}
		if err := b.App.Store.CloseSession(ctx, sess.ID, func(s *store.Session) {
			s.EndedAt, s.Status, s.Size, s.SHA256 = end, "closed", int64(len(data)), hex.EncodeToString(sum[:])
		}); err != nil {
			t.Fatal(err)
		}
	}
	closedSession(big)
	if _, err := os.Stat(big.Recording); !os.IsNotExist(err) {
		t.Fatalf("the large recording is on disk: %v", err)
	}

	u, _ := webLogin(t, b, aliceKey, "alice")
	br := browser(t)
	if s := status(t, br, u); s != 200 {
		t.Fatalf("login: %d", s)
	}
	base := strings.SplitN(u, "/login", 2)[0]

	// The small one: the page plays the whole cast; the export and the search read the bucket.
	if s := status(t, br, base+"/sessions/"+small.ID); s != 200 {
		t.Fatalf("replay page: %d", s)
	}
	waitPlayer(t, br)
	if _, err := chromedp.Run(withTimeout(br, 20*time.Second), chromedp.Evaluate[any](`window.gatehousePlayer.play(), null`)); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Run(withTimeout(br, 30*time.Second), chromedp.Poll[bool](
		`document.querySelector("#player").textContent.includes("You are alice")`)); err != nil {
		t.Fatalf("the player never showed the recording from the bucket: %v", err)
	}
	shoot(t, br, screenshots(t), "replay-from-bucket")
	if st, body := fetchText(t, br, "/sessions/"+small.ID+"/cast"); st != 200 || !strings.HasPrefix(body, `{"version":2`) || !strings.Contains(body, "You are alice") {
		t.Fatalf("cast from the bucket: %d %.300q", st, body)
	}
	if st, body := fetchText(t, br, "/sessions/"+small.ID+"/search?q="+url.QueryEscape("you are ALICE")); st != 200 || !strings.Contains(body, `You are alice"`) {
		t.Fatalf("search in a recording from the bucket: %d %.300q", st, body)
	}

	// The large one: segmented, the first frame, then a seek to minute 8.
	if s := status(t, br, base+"/sessions/"+big.ID); s != 200 {
		t.Fatalf("replay page: %d", s)
	}
	if seg, err := chromedp.Run(withTimeout(br, 10*time.Second), chromedp.Evaluate[string](`document.getElementById("player").dataset.segmented || ""`)); err != nil || seg != "1" {
		t.Fatalf("the large recording from the bucket is not replayed in segments: %q %v", seg, err)
	}
	waitPlayer(t, br)
	if _, err := chromedp.Run(withTimeout(br, 20*time.Second), chromedp.Evaluate[any](`window.gatehousePlayer.play(), null`)); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Run(withTimeout(br, 60*time.Second), chromedp.Poll[bool](
		`document.querySelector("#player").textContent.includes("FIRST-FRAME-MARK")`)); err != nil {
		t.Fatalf("the first frame of the large recording never showed: %v", err)
	}
	if _, err := chromedp.Run(withTimeout(br, 20*time.Second), chromedp.Evaluate[any](
		`window.gatehousePlayer.pause().then(() => window.gatehousePlayer.seek(8*60 + 1)), null`)); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Run(withTimeout(br, 60*time.Second), chromedp.Poll[bool](
		`document.querySelector("#player").textContent.includes("MINUTE-8-MARK")`)); err != nil {
		t.Fatalf("the seek in the large recording from the bucket never showed its text: %v", err)
	}
	if st, body := fetchText(t, br, "/sessions/"+big.ID+"/search?q=MINUTE-8-MARK"); st != 200 || !strings.Contains(body, `"time":48`) {
		t.Fatalf("search in the large recording: %d %.300q", st, body)
	}

	// Replaced in the bucket: its hash is not the audited one, nothing is played. (The console
	// keeps a download a while for the next segment; a session it never downloaded is asked.)
	other := big
	other.ID = record.NewID()
	closedSession(other)
	fake := "not the recording"
	if _, err := cl.S3.PutObject(ctx, "gh-archive", cl.RecordingKey("n1", big.Recording), strings.NewReader(fake), int64(len(fake)), minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/cast", "/search?q=MINUTE", "/replay/index", "/replay/0"} {
		if st, body := fetchText(t, br, "/sessions/"+other.ID+p); st != 404 || strings.Contains(body, "MINUTE") {
			t.Fatalf("a recording replaced in the bucket, GET %s: %d %.200q", p, st, body)
		}
	}
	// Another account gets 403, not the recording.
	bobKey := b.CreateAccount("bob")
	bobURL, _ := webLogin(t, b, bobKey, "bob")
	bob := browser(t)
	status(t, bob, bobURL)
	for _, p := range []string{"/cast", "/search?q=alice", "/replay/index", "/replay/0"} {
		if st, _ := fetchText(t, bob, "/sessions/"+small.ID+p); st != 403 {
			t.Fatalf("bob GET %s: %d, want 403", p, st)
		}
	}
}
