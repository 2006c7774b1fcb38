package common

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"gatehouse/internal/osh"
	"gatehouse/internal/record"
	"gatehouse/internal/store"
)

// SessionListOptions are The Bastion's selfListSessions filters.
var SessionListOptions = []osh.Option{
	{Name: "type", Kind: osh.String, Choices: []string{"ssh", "osh", "interactive"}, Help: "only this kind of session"},
	{Name: "host", Kind: osh.String, Help: "only sessions to this host or IP"},
	{Name: "user", Kind: osh.String, Help: "only sessions as this remote user"},
	{Name: "after", Kind: osh.String, Help: "only sessions started after this time (RFC 3339 or YYYY-MM-DD)"},
	{Name: "before", Kind: osh.String, Help: "only sessions started before this time"},
	{Name: "allowed", Kind: osh.Flag, Help: "only allowed sessions"},
	{Name: "denied", Kind: osh.Flag, Help: "only refused sessions"},
	{Name: "id", Kind: osh.String, Help: "only the session with this id"},
	{Name: "limit", Kind: osh.Int, Help: "at most this many sessions (default 100)"},
}

func parseWhen(s string) (time.Time, error) {
	for _, layout := range []string{time.RFC3339, "2006-01-02 15:04:05", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("time %q is invalid: use YYYY-MM-DD or RFC 3339", s)
}

// Owner selects whose sessions a listing or a replay may reach: one account's immutable identity
// (AccountID), sessions recorded under a name (Account), or every session (zero value).
type Owner struct {
	AccountID string
	Account   string
}

// OwnSessions are the caller's own sessions: by its immutable id, never by its name, so an
// account created under a deleted account's name does not inherit its sessions. A caller
// without an id owns nothing (fail closed).
func OwnSessions(c *osh.Call) (Owner, *osh.Result) {
	if c.Caller().ID == "" {
		return Owner{}, Failure("ERR_INTERNAL", "Your account has no identity in the store: no session can be shown")
	}
	return Owner{AccountID: c.Caller().ID}, nil
}

// ListSessions runs a session listing for owner (zero: every account).
func ListSessions(ctx context.Context, c *osh.Call, owner Owner) osh.Result {
	f := store.SessionFilter{Account: owner.Account, AccountID: owner.AccountID, Kind: c.Args.String("type"), Host: c.Args.String("host"),
		User: c.Args.String("user"), ID: c.Args.String("id"), Limit: c.Args.Int("limit")}
	for _, x := range []struct {
		opt string
		dst *time.Time
	}{{"after", &f.After}, {"before", &f.Before}} {
		if v := c.Args.String(x.opt); v != "" {
			t, err := parseWhen(v)
			if err != nil {
				return osh.Fail("", "ERR_INVALID_PARAMETER", "--%s: %v", x.opt, err)
			}
			*x.dst = t
		}
	}
	switch {
	case c.Args.Has("allowed") && c.Args.Has("denied"):
		return osh.Fail("", "ERR_INVALID_PARAMETER", "--allowed and --denied cannot be given together")
	case c.Args.Has("allowed"):
		f.Allowed = ptr(true)
	case c.Args.Has("denied"):
		f.Allowed = ptr(false)
	}
	if f.Limit < 0 || f.Limit > 10000 {
		return osh.Fail("", "ERR_INVALID_PARAMETER", "--limit must be between 1 and 10000")
	}
	list, err := c.Env.Store.ListSessions(ctx, f)
	if err != nil {
		return osh.Fail("", "ERR_INTERNAL", "cannot list sessions: %v", err)
	}
	out := []map[string]any{}
	for _, s := range list {
		out = append(out, SessionValue(s))
		target := s.Plugin
		if s.Kind == "ssh" {
			target = fmt.Sprintf("%s@%s:%d", s.User, s.Host, s.PortTo)
		}
		exit := fmt.Sprint(s.ExitStatus)
		if s.Status == "open" {
			exit = "-" // still running: no exit status yet
		}
		node := ""
		if s.Node != "" { // several nodes on one PostgreSQL store: which one ran it
			node = " node=" + s.Node
		}
		c.P.Line("%s %s %-11s %-8s %-7s %s exit=%s %s%s", s.ID, s.StartedAt.Local().Format("2006-01-02 15:04:05"), s.Kind, s.Account, SessionVerdict(s.Status, s.Allowed), target, exit, s.Status, node)
	}
	if len(out) == 0 {
		return osh.Result{Code: "OK_EMPTY", Message: "No session found"} // value null, as The Bastion's
	}
	return osh.OK("", out)
}

func ptr[T any](v T) *T { return &v }

// SessionVerdict is what a session list says of a session's access decision. A session's row
// records "allowed" only when it ends, so a running one (status open) is neither allowed nor
// denied yet, and one a crash interrupted before that never got its verdict.
func SessionVerdict(status string, allowed bool) string {
	switch {
	case allowed:
		return "allowed"
	case status == "open":
		return "running"
	case status == "interrupted":
		return "unknown"
	}
	return "DENIED"
}

// SessionValue renders a session row for JSON, with The Bastion's field names.
func SessionValue(s store.Session) map[string]any {
	v := map[string]any{
		"id": s.ID, "uniqid": s.ID, "account": s.Account, "type": s.Kind, "plugin": s.Plugin, "params": s.Params,
		"allowed": Bool(s.Allowed), "ipfrom": s.IPFrom, "portfrom": s.PortFrom, "bastionip": s.IPBastion, "bastionport": s.PortBastion,
		"user": s.User, "hostto": s.Host, "ipto": s.IPTo, "portto": s.PortTo, "timestamp": s.StartedAt.Unix(),
		"timestampend": nil, "returnvalue": s.ExitStatus, "status": s.Status, "ttyrecsize": s.Size, "sha256": s.SHA256,
		"bytes_in": s.BytesIn, "bytes_out": s.BytesOut, "comment": s.Comment, "account_id": s.AccountID,
	}
	if !s.EndedAt.IsZero() {
		v["timestampend"] = s.EndedAt.Unix()
	}
	if s.Status == "open" && !s.Allowed {
		v["allowed"], v["returnvalue"] = nil, nil // not decided, not ended: no verdict, no exit status yet
	}
	if s.Node != "" {
		v["node"] = s.Node
	}
	return v
}

// PlayOptions are selfPlaySession's.
var PlayOptions = []osh.Option{
	{Name: "id", Kind: osh.String, Help: "the session id (see selfListSessions)"},
	{Name: "speed", Kind: osh.String, Help: "playback speed factor (default 1)"},
}

// PlaySession replays one session of owner (zero: any account) on the caller's terminal.
func PlaySession(ctx context.Context, c *osh.Call, owner Owner) osh.Result {
	id := c.Args.String("id")
	if id == "" {
		return osh.Fail("", "ERR_MISSING_PARAMETER", "Missing mandatory parameter --id (see selfListSessions)")
	}
	speed := 1.0
	if v := c.Args.String("speed"); v != "" {
		if _, err := fmt.Sscanf(v, "%g", &speed); err != nil || speed <= 0 || speed > 1000 {
			return osh.Fail("", "ERR_INVALID_PARAMETER", "--speed must be a number between 0 and 1000")
		}
	}
	list, err := c.Env.Store.ListSessions(ctx, store.SessionFilter{ID: id, Account: owner.Account, AccountID: owner.AccountID, Limit: 1})
	if err != nil {
		return osh.Fail("", "ERR_INTERNAL", "cannot look the session up: %v", err)
	}
	if len(list) == 0 {
		return osh.Fail("", "ERR_NOT_FOUND", "No session %s was found among the sessions you may play", id)
	}
	s := list[0]
	// The row is the one the filter asked for; checked again so that a store which ignored a
	// filter field could never hand another identity's recording over.
	if (owner.AccountID != "" && s.AccountID != owner.AccountID) || (owner.Account != "" && s.Account != owner.Account) {
		return osh.Fail("", "ERR_NOT_FOUND", "No session %s was found among the sessions you may play", id)
	}
	if s.ID == c.Sess.ID {
		return osh.Fail("", "ERR_INVALID_PARAMETER", "This is the current session: it cannot play itself")
	}
	f, err := os.Open(s.Recording)
	if errors.Is(err, os.ErrNotExist) && c.Env.Archived != nil {
		// Not on this node's disk (another node ran it, or it was cleaned up): from the bucket.
		f, err = c.Env.Archived(ctx, s)
	}
	if err != nil {
		return osh.Fail("", "ERR_RECORDING_NOT_FOUND", "The recording of session %s cannot be read (%v)", id, err)
	}
	defer func() { _ = f.Close() }() // read only
	c.P.Line("Session %s of %s, started %s, %s, exit status %d. Playing at speed %g; it ends by itself.", s.ID, s.Account,
		s.StartedAt.Local().Format(time.RFC3339), s.Kind, s.ExitStatus, speed)
	// The Bastion's header of a replay, then it waits for Enter (end of input goes on too).
	c.P.Line("")
	c.P.Line("When you're ready to replay session %s, press ENTER.", s.ID)
	c.P.Line("Starting from the next line, the Total Recall begins. Press CTRL+C to jolt awake.")
	if !c.Sess.InBatch {
		readLine(c.Sess.In)
	}
	out := c.Sess.RawOut
	if out == nil {
		out = c.Sess.Out
	}
	if err := record.Replay(ctx, out, f, speed, 2*time.Second); err != nil {
		return osh.Fail("", "ERR_REPLAY", "Replay of %s stopped: %v", id, err)
	}
	return osh.OK("", SessionValue(s))
}
