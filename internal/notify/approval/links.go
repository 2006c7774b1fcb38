package approval

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"strings"
	"time"
)

// linkDomain separates link MACs from any other use of the key.
const linkDomain = "gatehouse-approval-v1|"

var errBadLink = errors.New("approval: invalid link")

// LinkSigner makes one-time approval links:
//
//	BaseURL + b64url(payload) + "." + b64url(HMAC-SHA256(key, linkDomain + b64url(payload)))
//
// payload = {"r": request id, "a": "approve"|"deny", "e": expiry (Unix s),
// "p": approver account or absent}. The MAC is checked first, in constant
// time, then the expiry, then the request's state (LinkHandler). A link is
// one-time because the request leaves Pending at the first decision.
type LinkSigner struct {
	key  []byte
	base string
}

// NewLinkSigner takes a dedicated key of at least 32 bytes and the public
// URL prefix under which LinkHandler is mounted, e.g.
// "https://bastion.example/approval/" (https required, trailing slash added).
func NewLinkSigner(key []byte, baseURL string) (*LinkSigner, error) {
	if len(key) < 32 {
		return nil, fmt.Errorf("approval: link key is %d bytes; use a dedicated random key of at least 32 bytes", len(key))
	}
	if !strings.HasPrefix(baseURL, "https://") && !strings.HasPrefix(baseURL, "http://127.0.0.1") && !strings.HasPrefix(baseURL, "http://localhost") {
		return nil, fmt.Errorf("approval: link base URL %q must be https", baseURL)
	}
	if !strings.HasSuffix(baseURL, "/") {
		baseURL += "/"
	}
	return &LinkSigner{key: append([]byte(nil), key...), base: baseURL}, nil
}

type linkPayload struct {
	ID       string `json:"r"`
	Action   string `json:"a"`
	Expires  int64  `json:"e"`
	Approver string `json:"p,omitempty"`
}

// URL returns the link for act on request id, bound to approver if not "".
func (s *LinkSigner) URL(id string, act Action, approver string, expires time.Time) string {
	p, _ := json.Marshal(linkPayload{ID: id, Action: act.String(), Expires: expires.Unix(), Approver: approver})
	enc := base64.RawURLEncoding.EncodeToString(p)
	return s.base + enc + "." + base64.RawURLEncoding.EncodeToString(s.mac(enc))
}

func (s *LinkSigner) mac(payload string) []byte {
	h := hmac.New(sha256.New, s.key)
	h.Write([]byte(linkDomain))
	h.Write([]byte(payload))
	return h.Sum(nil)
}

// parse checks the MAC and the expiry of a token (the last path element).
func (s *LinkSigner) parse(token string, now time.Time) (linkPayload, Action, error) {
	var p linkPayload
	enc, sig, ok := strings.Cut(token, ".")
	if !ok || len(token) > 1024 {
		return p, 0, errBadLink
	}
	mac, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil || !hmac.Equal(mac, s.mac(enc)) {
		return p, 0, errBadLink
	}
	raw, err := base64.RawURLEncoding.DecodeString(enc)
	if err != nil || json.Unmarshal(raw, &p) != nil || p.ID == "" {
		return p, 0, errBadLink
	}
	var act Action
	switch p.Action {
	case "approve":
		act = Approve
	case "deny":
		act = Deny
	default:
		return p, 0, errBadLink
	}
	if !now.Before(time.Unix(p.Expires, 0)) {
		return p, act, ErrExpired
	}
	return p, act, nil
}

// LinkHandler serves the links. GET (and HEAD) show what would be decided
// and a form; only POST decides. Mount it at the LinkSigner's base path.
type LinkHandler struct {
	Signer  *LinkSigner
	Manager *Manager
	Now     func() time.Time // default time.Now
	Logger  *slog.Logger
}

func (h *LinkHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// The token is in the URL: keep it out of referrers and caches, and the
	// page out of frames.
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
	w.Header().Set("X-Frame-Options", "DENY")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'")
	if h.Signer == nil || h.Manager == nil {
		http.Error(w, "approvals not configured", http.StatusServiceUnavailable)
		return
	}
	now := time.Now()
	if h.Now != nil {
		now = h.Now()
	}
	token := r.URL.Path[strings.LastIndex(r.URL.Path, "/")+1:]
	p, act, err := h.Signer.parse(token, now)
	if errors.Is(err, errBadLink) {
		h.page(w, http.StatusNotFound, pageData{Title: "Unknown link", Message: "This link is not valid."})
		return
	}
	if err != nil {
		h.page(w, http.StatusGone, pageData{Title: "Expired", Message: "This request has expired."})
		return
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		rec, err := h.Manager.Get(r.Context(), p.ID)
		if err != nil {
			h.page(w, http.StatusNotFound, pageData{Title: "Unknown request", Message: "This request does not exist (any more)."})
			return
		}
		d := pageData{Rec: &rec, Action: act.String(), Approver: p.Approver}
		switch {
		case rec.State != Pending:
			d.Title, d.Message = "Already "+rec.State.String(), "This request is "+rec.State.String()+"; nothing to do."
			h.page(w, http.StatusConflict, d)
		case !now.Before(rec.Expires):
			d.Title, d.Message = "Expired", "This request has expired."
			h.page(w, http.StatusGone, d)
		default:
			d.Title, d.Confirm = confirmTitle(act), true
			h.page(w, http.StatusOK, d)
		}
	case http.MethodPost:
		r.Body = http.MaxBytesReader(w, r.Body, 4<<10)
		if err := r.ParseForm(); err != nil || r.PostForm.Get("confirm") != act.String() {
			h.page(w, http.StatusBadRequest, pageData{Title: "Not confirmed", Message: "Use the button on the confirmation page."})
			return
		}
		rec, err := h.Manager.Decide(r.Context(), p.ID, act, Approver{Account: p.Approver, Via: "link"})
		if err != nil {
			status, msg := refusalStatus(err)
			h.page(w, status, pageData{Title: "Refused", Message: msg})
			return
		}
		h.page(w, http.StatusOK, pageData{Rec: &rec, Title: "Request " + rec.State.String(), Message: "Recorded. You can close this page."})
	default:
		w.Header().Set("Allow", "GET, HEAD, POST")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	}
}

func confirmTitle(act Action) string {
	if act == Approve {
		return "Approve this login?"
	}
	return "Deny this login?"
}

// refusalStatus maps a Decide error to an HTTP status and a message that
// helps a person without revealing more than they already know.
func refusalStatus(err error) (int, string) {
	switch {
	case errors.Is(err, ErrNotFound):
		return http.StatusNotFound, "This request does not exist (any more)."
	case errors.Is(err, ErrDecided):
		return http.StatusConflict, "This request was already decided."
	case errors.Is(err, ErrExpired):
		return http.StatusGone, "This request has expired."
	case errors.Is(err, ErrFourEyes):
		return http.StatusForbidden, "You cannot approve your own request."
	case errors.Is(err, ErrNotApprover), errors.Is(err, ErrUnidentified):
		return http.StatusForbidden, "You are not an approver for this request."
	}
	return http.StatusInternalServerError, "The request could not be decided."
}

type pageData struct {
	Title, Message   string
	Rec              *Record
	Action, Approver string
	Confirm          bool
}

var pageTmpl = template.Must(template.New("page").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><meta name="robots" content="noindex">
<title>gatehouse: {{.Title}}</title>
<style>body{font-family:sans-serif;max-width:40em;margin:2em auto}th{text-align:left;padding-right:1em}</style>
</head><body>
<h1>{{.Title}}</h1>
{{with .Message}}<p>{{.}}</p>{{end}}
{{with .Rec}}<table>
<tr><th>Session</th><td><strong>{{.Label}}</strong> (must match what the user sees)</td></tr>
<tr><th>Account</th><td>{{.Account}}</td></tr>
<tr><th>From</th><td>{{.SourceIP}}</td></tr>
{{with .Target}}<tr><th>Target</th><td>{{.}}</td></tr>{{end}}
{{with .Command}}<tr><th>Command</th><td>{{.}}</td></tr>{{end}}
<tr><th>Bastion</th><td>{{.Bastion}}</td></tr>
<tr><th>Requested</th><td>{{.Created.UTC.Format "2006-01-02 15:04:05 MST"}}</td></tr>
<tr><th>Expires</th><td>{{.Expires.UTC.Format "2006-01-02 15:04:05 MST"}}</td></tr>
</table>{{end}}
{{if .Confirm}}<form method="post">
<input type="hidden" name="confirm" value="{{.Action}}">
{{with .Approver}}<p>You act as <strong>{{.}}</strong>.</p>{{end}}
<button type="submit">{{if eq .Action "approve"}}Approve{{else}}Deny{{end}}</button>
</form>{{end}}
</body></html>
`))

func (h *LinkHandler) page(w http.ResponseWriter, status int, d pageData) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	if err := pageTmpl.Execute(w, d); err != nil && h.Logger != nil {
		h.Logger.Warn("approval page", "err", err)
	}
}
