package pamverify

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"gatehouse/internal/config"
	"gatehouse/internal/store"
	"gatehouse/internal/ticket"
)

// Path is where the module posts its requests.
const Path = "/v1/verify"

// Request is what the module sends (JSON); the server's token travels as "Authorization: Bearer".
type Request struct {
	Ticket  string `json:"ticket,omitempty"`
	Account string `json:"account,omitempty"` // without a ticket, when the server allows it
	Code    string `json:"code"`
	Service string `json:"service"`           // PAM service: sudo, sshd, …
	User    string `json:"user"`              // PAM_USER: the account being authenticated (root for sudo)
	RUser   string `json:"ruser,omitempty"`   // PAM_RUSER: who runs sudo
	RHost   string `json:"rhost,omitempty"`   // PAM_RHOST
	TTY     string `json:"tty,omitempty"`     // PAM_TTY
	Command string `json:"command,omitempty"` // what sudo runs, when the module knows it
	Program string `json:"program,omitempty"` // the PAM application (sudo, sshd, su…)
}

// Response is the answer: only Allow true lets the module return PAM_SUCCESS.
type Response struct {
	Allow   bool   `json:"allow"`
	Message string `json:"message"`
}

// Limits on what a request may carry.
const (
	maxBody      = 8 << 10
	maxField     = 256
	maxCommand   = 1024
	checkTimeout = 10 * time.Second
)

// Server answers the module. Set every field but Log and Now.
type Server struct {
	Config func() config.PAM
	// TicketKey verifies tickets (the public half of the key that signs them).
	TicketKey ed25519.PublicKey
	Accounts  func(ctx context.Context, name string) (store.Account, error)
	// Expired says whether an account may no longer log in (TTL, inactivity).
	Expired func(a store.Account, now time.Time) bool
	// CheckTOTP checks the code with the bastion's own replay protection and rate limits.
	CheckTOTP func(ctx context.Context, account, code string) FactorResult
	// Audit writes one event; an error refuses the request (no decision without its record).
	Audit func(ctx context.Context, typ string, fields map[string]any) error
	Now   func() time.Time
	Log   *slog.Logger
	// Decisions counts answers by result ("allowed", "refused"); may be nil.
	Decisions func(result string)
}

func (s *Server) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Server) log() *slog.Logger {
	if s.Log != nil {
		return s.Log
	}
	return slog.Default()
}

// server returns the configured server whose token this is.
func server(cfg config.PAM, token string) (string, config.PAMServer, bool) {
	if token == "" {
		return "", config.PAMServer{}, false
	}
	sum := sha256.Sum256([]byte(token))
	var name string
	var found config.PAMServer
	ok := false
	// Every configured hash is compared, without stopping, in constant time.
	for n, srv := range cfg.Servers {
		want, err := hex.DecodeString(srv.TokenSHA256)
		if err != nil || len(want) != len(sum) {
			continue
		}
		if subtle.ConstantTimeCompare(want, sum[:]) == 1 {
			name, found, ok = n, srv, true
		}
	}
	return name, found, ok
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != Path {
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		http.Error(w, "POST only", http.StatusMethodNotAllowed)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), checkTimeout)
	defer cancel()
	token, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	var req Request
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err == nil && len(body) > maxBody {
		err = errors.New("request too large")
	}
	if err == nil {
		err = decode(body, &req)
	}
	resp := s.Verify(ctx, token, remoteIP(r.RemoteAddr), req, err)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(resp)
}

func remoteIP(addr string) string {
	if h, _, err := net.SplitHostPort(addr); err == nil {
		return h
	}
	return addr
}

// decode parses a request strictly and bounds its fields.
func decode(body []byte, req *Request) error {
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(req); err != nil {
		return fmt.Errorf("bad request: %w", err)
	}
	if dec.More() {
		return errors.New("bad request: trailing data")
	}
	for _, f := range []string{req.Account, req.Code, req.Service, req.User, req.RUser, req.RHost, req.TTY, req.Program} {
		if len(f) > maxField {
			return errors.New("bad request: a field is too long")
		}
	}
	if len(req.Command) > maxCommand || len(req.Ticket) > ticket.MaxLen {
		return errors.New("bad request: a field is too long")
	}
	if req.Code == "" {
		return errors.New("bad request: no code")
	}
	return nil
}

// Verify decides one request (badRequest: the request could not be read, refused). It always
// audits and answers; only an allow carries Allow true.
func (s *Server) Verify(ctx context.Context, token, from string, req Request, badRequest error) Response {
	cfg := s.Config()
	now := s.now()
	name, srv, known := server(cfg, token)
	f := Facts{ServerKnown: known, TicketGiven: req.Ticket != "", AllowNoTicket: srv.AllowNoTicket,
		AccountNamed: req.Account != ""}
	var tk ticket.Ticket
	accountName := req.Account
	if f.TicketGiven {
		tk, f.TicketErr = ticket.Verify(s.TicketKey, req.Ticket, now)
		f.TicketForServer = f.TicketErr == nil && tk.ForServer(srv.Addresses)
		accountName = tk.Account
	}
	var d Decision
	if badRequest != nil {
		d = Decision{Reason: badRequest.Error()}
	} else {
		d = Decide(s.identity(ctx, &f, tk, accountName, now))
		if d.NeedCheck {
			f.Factor = s.CheckTOTP(ctx, accountName, req.Code)
			d = Decide(f)
		}
	}
	if d.Allow && d.NeedCheck { // unreachable by Decide's contract; refuse if it ever happens
		d = Decision{Reason: "internal error"}
	}
	who := accountName
	if who == "" || (f.TicketGiven && f.TicketErr != nil) {
		who = "?" // never name an account from an unverified ticket
	}
	server := name
	if !known {
		server = "?"
	}
	// The comment names what the person did: the program (sudo) reads better than a PAM
	// service name; both are in the event.
	service := req.Program
	if service == "" {
		service = req.Service
	}
	if service == "" {
		service = "pam"
	}
	as := req.User
	outcome := d.Reason
	if !d.Allow {
		outcome = "refused: " + d.Reason
	}
	comment := fmt.Sprintf("%s on %s by %s as %s: %s", service, server, who, as, outcome)
	fields := map[string]any{"account": who, "user": as, "host_to": server, "ip_to": from, "factor": "totp",
		"allowed": d.Allow, "result": map[bool]string{true: "ok", false: "refused"}[d.Allow], "comment": comment,
		"service": req.Service, "program": req.Program, "reason": d.Reason}
	if req.Command != "" {
		fields["params"] = []string{req.Command}
	}
	if req.RUser != "" {
		fields["ruser"] = req.RUser
	}
	if req.TTY != "" {
		fields["tty"] = req.TTY
	}
	if f.TicketGiven && f.TicketErr == nil {
		fields["uniqid"] = tk.Session // the bastion session the sudo happened in (its recording)
		fields["target_user"] = tk.User
	}
	if err := s.Audit(ctx, "pam.verify", fields); err != nil {
		s.log().Error("cannot audit a PAM decision; refusing", "server", server, "err", err)
		d = Decision{Reason: "the bastion cannot record the decision"}
	}
	s.log().Info("pam decision", "server", server, "account", who, "service", service, "user", as, "allowed", d.Allow, "reason", d.Reason)
	if s.Decisions != nil {
		s.Decisions(map[bool]string{true: "allowed", false: "refused"}[d.Allow])
	}
	if d.Allow {
		return Response{Allow: true, Message: "gatehouse: " + d.Reason + " for " + who}
	}
	return Response{Message: "gatehouse: refused: " + d.Reason}
}

// identity loads the account and fills the facts about it (only when the ticket or the name
// could designate one).
func (s *Server) identity(ctx context.Context, f *Facts, tk ticket.Ticket, name string, now time.Time) Facts {
	if !f.ServerKnown || (f.TicketGiven && (f.TicketErr != nil || !f.TicketForServer)) || name == "" {
		return *f
	}
	if !f.TicketGiven && !f.AllowNoTicket {
		return *f
	}
	acct, err := s.Accounts(ctx, name)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return *f
	case err != nil:
		s.log().Error("cannot read an account for a PAM request", "account", name, "err", err)
		f.StoreErr = true
		return *f
	}
	f.AccountFound = true
	f.AccountIDMatches = !f.TicketGiven || (acct.ID != "" && acct.ID == tk.AccountID)
	f.Frozen = acct.Frozen
	f.Expired = s.Expired(acct, now)
	return *f
}

// NewToken makes a server token and the hex SHA-256 the configuration keeps of it.
func NewToken() (token, sum string, err error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", "", err
	}
	token = "ght_" + base64.RawURLEncoding.EncodeToString(b)
	h := sha256.Sum256([]byte(token))
	return token, hex.EncodeToString(h[:]), nil
}
