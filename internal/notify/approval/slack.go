package approval

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"gatehouse/internal/notify"
)

const (
	// slackMaxSkew is Slack's documented window for X-Slack-Request-Timestamp.
	slackMaxSkew = 5 * time.Minute
	// slackMaxBody bounds the callback body (block_actions payloads carry
	// the whole message, a few KiB).
	slackMaxBody = 256 << 10
)

// ErrUnknownUser: no gatehouse account has this chat identity.
var ErrUnknownUser = errors.New("approval: chat user not mapped to a gatehouse account")

// SlackUsers maps a Slack identity to a gatehouse account (a Slack user id
// stored on the account). It returns ErrUnknownUser when none matches.
type SlackUsers interface {
	SlackAccount(ctx context.Context, teamID, userID string) (account string, err error)
}

// SlackHandler serves the Slack app's Interactivity Request URL for the
// Approve/Deny buttons. Order of checks: size, timestamp window, signature
// over the raw body (constant time), single use of the signature, then
// parsing, workspace and app, user mapping, and Manager.Decide.
type SlackHandler struct {
	SigningSecret []byte // the app's signing secret
	Manager       *Manager
	Users         SlackUsers
	TeamID        string // when set, callbacks from another workspace are refused
	AppID         string // when set, callbacks for another app are refused
	Now           func() time.Time
	Logger        *slog.Logger
}

type slackCallback struct {
	Type string `json:"type"`
	User struct {
		ID   string `json:"id"`
		Name string `json:"username"`
	} `json:"user"`
	Team struct {
		ID string `json:"id"`
	} `json:"team"`
	APIAppID string `json:"api_app_id"`
	Actions  []struct {
		ActionID string `json:"action_id"`
		Value    string `json:"value"`
	} `json:"actions"`
}

func (h *SlackHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if h.Manager == nil || h.Users == nil {
		// Misconfigured: refuse everything rather than guess an identity.
		http.Error(w, "approvals not configured", http.StatusServiceUnavailable)
		return
	}
	now := time.Now()
	if h.Now != nil {
		now = h.Now()
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, slackMaxBody))
	if err != nil {
		http.Error(w, "body too large", http.StatusRequestEntityTooLarge)
		return
	}
	if err := h.verify(r.Context(), r.Header, body, now); err != nil {
		h.logger().Warn("slack callback refused", "err", err, "remote", r.RemoteAddr)
		http.Error(w, "invalid request signature", http.StatusUnauthorized)
		return
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	var cb slackCallback
	if err := json.Unmarshal([]byte(form.Get("payload")), &cb); err != nil || cb.Type != "block_actions" || len(cb.Actions) == 0 {
		http.Error(w, "not a block_actions payload", http.StatusBadRequest)
		return
	}
	if (h.TeamID != "" && cb.Team.ID != h.TeamID) || (h.AppID != "" && cb.APIAppID != h.AppID) {
		http.Error(w, "wrong workspace or app", http.StatusForbidden)
		return
	}
	var act Action
	switch cb.Actions[0].ActionID {
	case notify.SlackActionApprove:
		act = Approve
	case notify.SlackActionDeny:
		act = Deny
	default:
		http.Error(w, "unknown action", http.StatusBadRequest)
		return
	}
	id := cb.Actions[0].Value
	by := Approver{Via: "slack", ChatUser: cb.Team.ID + "/" + cb.User.ID}
	account, err := h.Users.SlackAccount(r.Context(), cb.Team.ID, cb.User.ID)
	if err != nil || account == "" {
		if err == nil {
			err = ErrUnknownUser
		}
		h.Manager.refused(r.Context(), id, act, by, err)
		http.Error(w, "your Slack user is not linked to a gatehouse account", http.StatusForbidden)
		return
	}
	by.Account = account
	if _, err := h.Manager.Decide(r.Context(), id, act, by); err != nil {
		status, msg := refusalStatus(err)
		http.Error(w, msg, status)
		return
	}
	w.WriteHeader(http.StatusOK) // Slack wants 200 within 3 s; the body is ignored
}

// verify implements Slack's request signing (v0) and refuses replays.
func (h *SlackHandler) verify(ctx context.Context, hdr http.Header, body []byte, now time.Time) error {
	if len(h.SigningSecret) == 0 {
		return errors.New("no signing secret configured")
	}
	tsText := hdr.Get("X-Slack-Request-Timestamp")
	ts, err := strconv.ParseInt(tsText, 10, 64)
	if err != nil {
		return errors.New("missing or bad X-Slack-Request-Timestamp")
	}
	sent := time.Unix(ts, 0)
	if d := now.Sub(sent); d > slackMaxSkew || d < -slackMaxSkew {
		return errors.New("timestamp outside the 5-minute window")
	}
	mac := hmac.New(sha256.New, h.SigningSecret)
	mac.Write([]byte("v0:" + tsText + ":"))
	mac.Write(body)
	want := "v0=" + hex.EncodeToString(mac.Sum(nil))
	got := hdr.Get("X-Slack-Signature")
	if !hmac.Equal([]byte(got), []byte(want)) {
		return errors.New("signature mismatch")
	}
	// A signature is valid for the whole window: remember it that long (and
	// a bit) so that a captured callback cannot be played again.
	fresh, err := h.Manager.cfg.Store.Remember(ctx, "slack:"+got, sent.Add(slackMaxSkew+time.Minute))
	if err != nil {
		return errors.New("replay check unavailable")
	}
	if !fresh {
		return errors.New("replayed signature")
	}
	return nil
}

func (h *SlackHandler) logger() *slog.Logger {
	if h.Logger != nil {
		return h.Logger
	}
	return slog.Default()
}
