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
	"sync"
	"time"

	"gatehouse/internal/audit"
	"gatehouse/internal/config"
	"gatehouse/internal/mfaauth"
	"gatehouse/internal/notify"
	"gatehouse/internal/notify/approval"
	"gatehouse/internal/store"
	"gatehouse/internal/ticket"
)

// Paths: the module starts (the bastion checks who and says which factor it asks, posting a
// chat code when that is the factor), then verifies the answer.
const (
	PathStart = "/v1/start"
	Path      = "/v1/verify"
)

// Request is what the module sends (JSON); the server's token travels as "Authorization: Bearer".
type Request struct {
	Ticket    string `json:"ticket,omitempty"`
	Account   string `json:"account,omitempty"`   // without a ticket, when the server allows it
	Code      string `json:"code,omitempty"`      // the answer (verify only)
	Challenge string `json:"challenge,omitempty"` // the chat code's challenge from start
	Service   string `json:"service"`             // PAM service: sudo, sshd, …
	User      string `json:"user"`                // PAM_USER: the account being authenticated
	RUser     string `json:"ruser,omitempty"`     // PAM_RUSER: who runs sudo
	RHost     string `json:"rhost,omitempty"`     // PAM_RHOST
	TTY       string `json:"tty,omitempty"`       // PAM_TTY
	Command   string `json:"command,omitempty"`   // what sudo runs, when the module knows it
	Program   string `json:"program,omitempty"`   // the PAM application (sudo, sshd, su…)
}

// Response is the answer: only Allow true (from verify) lets the module return PAM_SUCCESS. A
// start that may go on carries the Prompt to show (and the Challenge to send back).
type Response struct {
	Allow     bool   `json:"allow"`
	Message   string `json:"message"`
	Factor    string `json:"factor,omitempty"`
	Prompt    string `json:"prompt,omitempty"`
	Challenge string `json:"challenge,omitempty"`
	// Pending: an approval is still awaited; ask again (verify) with the same challenge.
	Pending bool `json:"pending,omitempty"`
}

// Limits on what a request may carry, and on pending chat codes.
const (
	maxBody      = 8 << 10
	maxField     = 256
	maxCommand   = 1024
	checkTimeout = 20 * time.Second
	maxPending   = 1000
)

// Server answers the module. Set every field but Log, Now, Decisions and StartCode.
type Server struct {
	Config func() config.PAM
	// TicketKey verifies tickets (the public half of the key that signs them).
	TicketKey ed25519.PublicKey
	Accounts  func(ctx context.Context, name string) (store.Account, error)
	// Expired says whether an account may no longer log in (TTL, inactivity).
	Expired func(a store.Account, now time.Time) bool
	// CheckTOTP checks the code with the bastion's own replay protection and rate limits.
	CheckTOTP func(ctx context.Context, account, code string) FactorResult
	// StartCode posts a chat code (the [notify] codes channels, fail-closed delivery); nil:
	// every chat code is undelivered.
	StartCode func(ctx context.Context, r mfaauth.ChatRequest) (*notify.CodeChallenge, error)
	// StartApproval posts an approval request to the [notify] approvals channels (four eyes,
	// approvers, expiry: internal/notify/approval); GetApproval reads its state without
	// waiting. nil: every approval is undelivered.
	StartApproval func(ctx context.Context, r mfaauth.ChatRequest) (approval.Record, error)
	GetApproval   func(ctx context.Context, id string) (approval.Record, error)
	// Audit writes one event; an error refuses the request (no decision without its record).
	AppendAudit audit.AppendFunc
	Now         func() time.Time
	Log         *slog.Logger
	// Decisions counts answers by result ("allowed", "refused"); may be nil.
	Decisions func(result string)

	mu      sync.Mutex
	pending map[string]pendingCode
}

// pendingCode is a chat code or an approval request posted for one person on one server,
// waiting for its answer. An approval is also bound to the user, service and command it was
// asked for: approving "sudo true" does not approve "sudo rm".
type pendingCode struct {
	server, account string
	ch              *notify.CodeChallenge
	approval        string // the approval request's id
	user, service   string
	command         string
	expires         time.Time
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
	if r.URL.Path != Path && r.URL.Path != PathStart {
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
	start := r.URL.Path == PathStart
	if err == nil {
		err = decode(body, &req, !start)
	}
	var resp Response
	if start {
		resp = s.Start(ctx, token, remoteIP(r.RemoteAddr), req, err)
	} else {
		resp = s.Verify(ctx, token, remoteIP(r.RemoteAddr), req, err)
	}
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

// decode parses a request strictly and bounds its fields; verify requests need a code.
func decode(body []byte, req *Request, needCode bool) error {
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(req); err != nil {
		return fmt.Errorf("bad request: %w", err)
	}
	if dec.More() {
		return errors.New("bad request: trailing data")
	}
	for _, f := range []string{req.Account, req.Code, req.Challenge, req.Service, req.User, req.RUser, req.RHost, req.TTY, req.Program} {
		if len(f) > maxField {
			return errors.New("bad request: a field is too long")
		}
	}
	if len(req.Command) > maxCommand || len(req.Ticket) > ticket.MaxLen {
		return errors.New("bad request: a field is too long")
	}
	if needCode && req.Code == "" && req.Challenge == "" {
		return errors.New("bad request: no code")
	}
	return nil
}

// call is one request's identity, as far as it was established.
type call struct {
	server  string // "?" when the token is unknown
	srv     config.PAMServer
	facts   Facts
	tk      ticket.Ticket
	account string // "" until known
	factor  string // totp, webhook, approval: PickFactor's choice; "" when unclear
}

// factorName is the words of a factor in decisions.
func factorName(factor string) string {
	switch factor {
	case "webhook":
		return "chat code"
	case "approval":
		return "approval"
	}
	return "TOTP"
}

// identify checks the token, the ticket and the account (everything but the factor).
func (s *Server) identify(ctx context.Context, token string, req Request, now time.Time) call {
	cfg := s.Config()
	name, srv, known := server(cfg, token)
	c := call{server: name, srv: srv, account: req.Account}
	if !known {
		c.server = "?"
	}
	c.factor, _ = PickFactor(srv, req.Service, req.Command)
	c.facts = Facts{ServerKnown: known, TicketGiven: req.Ticket != "", AllowNoTicket: srv.AllowNoTicket,
		AccountNamed: req.Account != "", FactorName: factorName(c.factor)}
	if c.facts.TicketGiven {
		c.tk, c.facts.TicketErr = ticket.Verify(s.TicketKey, req.Ticket, now)
		c.facts.TicketForServer = c.facts.TicketErr == nil && c.tk.ForServer(srv.Addresses)
		c.account = c.tk.Account
	}
	s.identity(ctx, &c.facts, c.tk, c.account, now)
	return c
}

// Start checks who asks and says which factor to answer, posting the chat code when that is it.
// A refusal is audited; a go-ahead is not a decision yet (verify audits it).
func (s *Server) Start(ctx context.Context, token, from string, req Request, badRequest error) Response {
	c := s.identify(ctx, token, req, s.now())
	d := Decide(c.facts)
	if badRequest != nil {
		d = Decision{Reason: badRequest.Error()}
	}
	if !d.NeedCheck {
		return s.answer(ctx, c, from, req, d)
	}
	switch c.factor {
	case "":
		c.facts.Factor = FactorUnclear
		return s.answer(ctx, c, from, req, Decide(c.facts))
	case "approval":
		return s.startApproval(ctx, c, from, req)
	case "totp":
		return Response{Factor: "totp", Prompt: "Gatehouse TOTP code: ", Message: "gatehouse: TOTP for " + c.account}
	}
	var ch *notify.CodeChallenge
	err := errors.New("no chat channel")
	if s.StartCode != nil {
		ch, err = s.StartCode(ctx, mfaauth.ChatRequest{Account: c.account, SourceIP: from,
			Target: req.User + "@" + c.server, Command: req.Command, Stage: "pam"})
	}
	if err != nil {
		s.log().Warn("chat code not delivered for a PAM request", "server", c.server, "account", c.account, "err", err)
		c.facts.Factor = FactorUndelivered
		return s.answer(ctx, c, from, req, Decide(c.facts))
	}
	id := make([]byte, 16)
	if _, err := rand.Read(id); err != nil {
		c.facts.Factor = FactorError
		return s.answer(ctx, c, from, req, Decide(c.facts))
	}
	key := hex.EncodeToString(id)
	if !s.remember(key, pendingCode{server: c.server, account: c.account, ch: ch, expires: ch.ExpiresAt}) {
		c.facts.Factor = FactorError
		return s.answer(ctx, c, from, req, Decide(c.facts))
	}
	return Response{Factor: "webhook", Challenge: key, Message: "gatehouse: a code was posted to the team's chat",
		Prompt: fmt.Sprintf("Code posted to the team's chat for session %s: ", ch.Label)}
}

// remember keeps a pending code or approval under key; false when too many are pending.
func (s *Server) remember(key string, p pendingCode) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pending == nil {
		s.pending = map[string]pendingCode{}
	}
	now := s.now()
	for k, p := range s.pending { // forget expired ones; bound the rest
		if !now.Before(p.expires) {
			delete(s.pending, k)
		}
	}
	if len(s.pending) >= maxPending {
		return false
	}
	s.pending[key] = p
	return true
}

// startApproval posts an approval request for this sudo (or login) and tells the module to
// wait for it, asking again with the challenge.
func (s *Server) startApproval(ctx context.Context, c call, from string, req Request) Response {
	var rec approval.Record
	err := errors.New("no approval channel")
	if s.StartApproval != nil && s.GetApproval != nil {
		rec, err = s.StartApproval(ctx, mfaauth.ChatRequest{Account: c.account, SourceIP: from,
			Target: req.User + "@" + c.server, Command: req.Command, Stage: "pam"})
	}
	if err != nil {
		s.log().Warn("approval request not delivered for a PAM request", "server", c.server, "account", c.account, "err", err)
		c.facts.Factor = FactorUndelivered
		return s.answer(ctx, c, from, req, Decide(c.facts))
	}
	id := make([]byte, 16)
	if _, err := rand.Read(id); err != nil {
		c.facts.Factor = FactorError
		return s.answer(ctx, c, from, req, Decide(c.facts))
	}
	key := hex.EncodeToString(id)
	if !s.remember(key, pendingCode{server: c.server, account: c.account, approval: rec.ID, user: req.User,
		service: req.Service, command: req.Command, expires: rec.Expires}) {
		c.facts.Factor = FactorError
		return s.answer(ctx, c, from, req, Decide(c.facts))
	}
	return Response{Factor: "approval", Challenge: key, Pending: true,
		Message: fmt.Sprintf("gatehouse: waiting for approval of session %s by a colleague (asked in the team's chat)…", rec.Label)}
}

// checkApproval reads the state of the approval behind a challenge. pending: not decided yet
// (no decision to audit); otherwise the factor's result, the challenge being used up.
func (s *Server) checkApproval(ctx context.Context, c *call, req Request) (pending bool) {
	s.mu.Lock()
	p, ok := s.pending[req.Challenge]
	ok = ok && p.approval != "" && p.server == c.server && p.account == c.account && p.user == req.User &&
		p.service == req.Service && p.command == req.Command
	s.mu.Unlock()
	if !ok {
		c.facts.Factor = FactorNoRequest
		return false
	}
	rec, err := s.GetApproval(ctx, p.approval)
	switch {
	case err != nil:
		s.log().Error("cannot read an approval for a PAM request", "server", c.server, "account", c.account, "err", err)
		c.facts.Factor = FactorError
	case rec.State == approval.Pending && s.now().Before(rec.Expires):
		return true
	case rec.State == approval.Approved && rec.Account == c.account:
		c.facts.Factor, c.facts.DecidedBy = FactorOK, rec.DecidedBy.Account
	case rec.State == approval.Denied:
		c.facts.Factor, c.facts.DecidedBy = FactorDenied, rec.DecidedBy.Account
	default: // expired (or past its deadline while still pending), or not this person's
		c.facts.Factor = FactorExpired
	}
	s.mu.Lock()
	delete(s.pending, req.Challenge)
	s.mu.Unlock()
	return false
}

// takeCode removes and returns the pending chat code of this server and account.
func (s *Server) takeCode(id, server, account string) (*notify.CodeChallenge, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.pending[id]
	if !ok || p.ch == nil || p.server != server || p.account != account {
		return nil, false
	}
	delete(s.pending, id)
	return p.ch, true
}

// Verify decides one request (badRequest: the request could not be read, refused). It always
// audits and answers; only an allow carries Allow true.
func (s *Server) Verify(ctx context.Context, token, from string, req Request, badRequest error) Response {
	c := s.identify(ctx, token, req, s.now())
	if badRequest == nil && req.Code == "" && c.factor != "approval" {
		badRequest = errors.New("bad request: no code") // only an approval is asked without one
	}
	var d Decision
	if badRequest != nil {
		d = Decision{Reason: badRequest.Error()}
	} else if d = Decide(c.facts); d.NeedCheck {
		switch c.factor {
		case "":
			c.facts.Factor = FactorUnclear
		case "approval":
			if s.GetApproval == nil {
				c.facts.Factor = FactorNoRequest
			} else if s.checkApproval(ctx, &c, req) {
				return Response{Pending: true, Factor: "approval", Message: "gatehouse: waiting for approval…"}
			}
		case "webhook":
			// One code, one try: the challenge is used up whatever the answer.
			c.facts.Factor = FactorWrong
			if ch, ok := s.takeCode(req.Challenge, c.server, c.account); ok {
				switch err := ch.Verify(req.Code); {
				case err == nil:
					c.facts.Factor = FactorOK
				case errors.Is(err, notify.ErrCodeUsed):
					c.facts.Factor = FactorReplayed
				}
			}
		default:
			c.facts.Factor = s.CheckTOTP(ctx, c.account, req.Code)
		}
		d = Decide(c.facts)
	}
	if d.Allow && d.NeedCheck { // unreachable by Decide's contract; refuse if it ever happens
		d = Decision{Reason: "internal error"}
	}
	return s.answer(ctx, c, from, req, d)
}

// answer audits a decision (an audit failure turns it into a refusal) and makes the response.
func (s *Server) answer(ctx context.Context, c call, from string, req Request, d Decision) Response {
	f := c.facts
	who := c.account
	if who == "" || (f.TicketGiven && f.TicketErr != nil) {
		who = "?" // never name an account from an unverified ticket
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
	outcome := d.Reason
	if !d.Allow {
		outcome = "refused: " + d.Reason
	}
	comment := fmt.Sprintf("%s on %s by %s as %s: %s", service, c.server, who, req.User, outcome)
	factor := c.factor
	if factor == "" {
		factor = "unclear"
	}
	fields := audit.Fields{Account: who, User: req.User, HostTo: c.server, IPTo: from, Factor: factor,
		Allowed: audit.Bool(d.Allow), Result: map[bool]string{true: "ok", false: "refused"}[d.Allow], Comment: comment,
		Extra: map[string]string{"service": req.Service, "program": req.Program, "reason": d.Reason}}
	if req.Command != "" {
		fields.Params = []string{req.Command}
	}
	if req.RUser != "" {
		fields.Extra["ruser"] = req.RUser
	}
	if req.TTY != "" {
		fields.Extra["tty"] = req.TTY
	}
	if f.DecidedBy != "" {
		fields.Extra["approver"] = f.DecidedBy
	}
	if f.TicketGiven && f.TicketErr == nil {
		fields.UniqID = c.tk.Session // the bastion session the sudo happened in (its recording)
		fields.Extra["target_user"] = c.tk.User
	}
	if err := s.AppendAudit(ctx, audit.Event{Type: "pam.verify", Fields: fields}); err != nil {
		s.log().Error("cannot audit a PAM decision; refusing", "server", c.server, "err", err)
		d = Decision{Reason: "the bastion cannot record the decision"}
	}
	s.log().Info("pam decision", "server", c.server, "account", who, "service", service, "user", req.User, "allowed", d.Allow, "reason", d.Reason)
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
func (s *Server) identity(ctx context.Context, f *Facts, tk ticket.Ticket, name string, now time.Time) {
	if !f.ServerKnown || (f.TicketGiven && (f.TicketErr != nil || !f.TicketForServer)) || name == "" {
		return
	}
	if !f.TicketGiven && !f.AllowNoTicket {
		return
	}
	acct, err := s.Accounts(ctx, name)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return
	case err != nil:
		s.log().Error("cannot read an account for a PAM request", "account", name, "err", err)
		f.StoreErr = true
		return
	}
	f.AccountFound = true
	f.AccountIDMatches = !f.TicketGiven || (acct.ID != "" && acct.ID == tk.AccountID)
	f.Frozen = acct.Frozen
	f.Expired = s.Expired(acct, now)
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
