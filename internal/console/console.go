// Package console is gatehouse's web console: sessions, replays and searches in recordings, served
// over HTTPS by the bastion itself. Nobody logs in with a password: `--osh webLogin` prints a URL
// good once for 60 s, bound to the account's immutable id and to the factors its SSH session proved,
// which opens a console session kept in an HttpOnly, Secure, SameSite=Strict cookie. Every request
// loads the account again: a frozen, expired or deleted account's console session ends at once.
//
// Login tokens and console sessions are kept in memory, per node (docs/web.md): a URL must be opened
// on the node that printed it, and a restart logs everyone out. Every asset is embedded.
package console

import (
	"context"
	"crypto/subtle"
	"crypto/tls"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"gatehouse/internal/audit"
	"gatehouse/internal/config"
	"gatehouse/internal/osh"
	"gatehouse/internal/store"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed assets
var assetFS embed.FS

// CookieName is the console session cookie.
const CookieName = "gatehouse_console"

// CSP is the Content-Security-Policy of every response: nothing but the console's own files, no
// inline script or style, no framing. 'wasm-unsafe-eval' lets the asciinema player compile its
// embedded terminal emulator (WebAssembly); it does not allow eval of JavaScript.
const CSP = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// Options are what the console needs from the bastion.
type Options struct {
	Store   store.Store
	Config  func() *config.Config
	DataDir string
	Now     func() time.Time
	Log     *slog.Logger
	// AppendAudit appends a typed security event to the audit log (nil: nothing is audited); a
	// login, a live view or a replay the log cannot record is refused.
	AppendAudit audit.AppendFunc
	// AuditLog is the audit log the Audit page browses and verifies.
	AuditLog AuditSource
	// Approvals decides approval requests (nil: no Approvals page).
	Approvals Decider
	// Live is the running sessions' tee for live watching (nil: no live watching).
	Live *Live
	// Archived opens a session's recording from the archive bucket when it is not on this
	// node's disk, checked against its audited SHA-256 (nil: no archive; as osh.Env.Archived).
	Archived func(ctx context.Context, s store.Session) (*os.File, error)
}

// Console is the web console of one node.
type Console struct {
	o        Options
	logins   *table
	sessions *table
	tmpl     *template.Template
	cert     *tls.Certificate // nil: plain HTTP on loopback
	// Fingerprint is the SHA-256 of the certificate served, as webLogin prints it.
	Fingerprint string
	base        string         // the URLs' base, set by Listen
	archived    *archivedCache // nil without Options.Archived
}

// New prepares the console: its templates and, unless plain HTTP is configured, its certificate.
func New(o Options) (*Console, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	t, err := template.New("").Funcs(funcs).ParseFS(templateFS, "templates/*.html")
	if err != nil {
		return nil, fmt.Errorf("console templates: %w", err)
	}
	c := &Console{o: o, logins: newTable(), sessions: newTable(), tmpl: t}
	if o.Archived != nil {
		c.archived = newArchivedCache(o.Archived, o.Now)
	}
	w := o.Config().Web
	if !w.PlainHTTPLoopback {
		cert, fp, err := certificate(o.DataDir, w)
		if err != nil {
			return nil, fmt.Errorf("console certificate: %w", err)
		}
		c.cert, c.Fingerprint = &cert, fp
	}
	return c, nil
}

// Listen opens the configured listener: TLS unless plain HTTP on loopback is configured.
func (c *Console) Listen() (net.Listener, error) {
	w := c.o.Config().Web
	ln, err := net.Listen("tcp", w.Listen)
	if err != nil {
		return nil, fmt.Errorf("web console listener %s: %w", w.Listen, err)
	}
	scheme := "https"
	if c.cert == nil {
		if ip := tcpIP(ln.Addr()); ip == nil || !ip.IsLoopback() { // config checks it; so does this
			_ = ln.Close() // the refusal is the error to report
			return nil, errors.New("web console: plain HTTP is only served on loopback")
		}
		scheme = "http"
	} else {
		ln = tls.NewListener(ln, &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{*c.cert}})
	}
	c.base = strings.TrimRight(w.PublicURL, "/")
	if c.base == "" {
		host, port, _ := net.SplitHostPort(ln.Addr().String())
		if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
			if h, err := os.Hostname(); err == nil && h != "" {
				host = h
			}
		}
		c.base = scheme + "://" + net.JoinHostPort(host, port)
	}
	return ln, nil
}

func tcpIP(a net.Addr) net.IP {
	if t, ok := a.(*net.TCPAddr); ok {
		return t.IP
	}
	return nil
}

// Base is the console's base URL ("" before Listen): where approval messages send approvers.
func (c *Console) Base() string { return c.base }

// Serve serves the console on ln until ctx ends.
func (c *Console) Serve(ctx context.Context, ln net.Listener) error {
	// No WriteTimeout: a replay of a long recording streams for as long as it takes.
	srv := &http.Server{Handler: c.Handler(), ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 15 * time.Second,
		IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 32 << 10,
		ErrorLog: slog.NewLogLogger(c.o.Log.Handler(), slog.LevelDebug)}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// IssueLogin makes a login URL for the account, good once within LoginTTL.
func (c *Console) IssueLogin(ctx context.Context, acc store.Account, factors []string) (string, error) {
	if acc.ID == "" {
		return "", errors.New("the account has no id")
	}
	if c.base == "" {
		return "", errors.New("the web console is not listening")
	}
	secret := newSecret()
	now := c.o.Now()
	// Fail closed: a login link the audit log cannot record is not issued.
	if err := c.audit(ctx, "web.login_issued", audit.Fields{Account: acc.Name, Extra: map[string]string{"account_id": acc.ID, "factors": strings.Join(factors, ",")}}); err != nil {
		return "", fmt.Errorf("the audit log cannot record the login link: %w", err)
	}
	c.logins.put(secret, entry{id: Identity{AccountID: acc.ID, Account: acc.Name, Factors: factors}, expires: now.Add(LoginTTL)}, now)
	return c.base + "/login?" + url.Values{"t": {secret}}.Encode(), nil
}

// audit appends one event; a non-nil error means the audit log does not have it (what has not
// happened yet is then refused).
func (c *Console) audit(ctx context.Context, typ string, f audit.Fields) error {
	if c.o.AppendAudit == nil {
		return nil
	}
	return c.o.AppendAudit(ctx, audit.Event{Type: typ, Fields: f})
}

// Handler is the console's HTTP handler.
func (c *Console) Handler() http.Handler {
	mux := http.NewServeMux()
	assets, _ := fs.Sub(assetFS, "assets")
	mux.Handle("GET /assets/", http.StripPrefix("/assets/", http.FileServerFS(assets)))
	mux.HandleFunc("GET /login", c.login)
	mux.HandleFunc("POST /logout", c.authed(c.logout))
	mux.HandleFunc("GET /{$}", c.authed(c.home))
	mux.HandleFunc("GET /sessions", c.authed(c.sessionList))
	mux.HandleFunc("GET /sessions/{id}", c.authed(c.replay))
	mux.HandleFunc("GET /sessions/{id}/cast", c.authed(c.cast))
	mux.HandleFunc("GET /sessions/{id}/search", c.authed(c.search))
	mux.HandleFunc("GET /sessions/{id}/replay/index", c.authed(c.replayIndex))
	mux.HandleFunc("GET /sessions/{id}/replay/{n}", c.authed(c.replaySegment))
	mux.HandleFunc("GET /audit", c.authed(c.auditPage))
	mux.HandleFunc("GET /approvals", c.authed(c.approvalsPage))
	mux.HandleFunc("GET /directory", c.authed(c.directory))
	mux.HandleFunc("GET /sessions/{id}/live", c.authed(c.livePage))
	mux.HandleFunc("GET /sessions/{id}/live/stream", c.authed(c.liveStream))
	mux.HandleFunc("POST /approvals/{id}", c.authed(c.decide))
	return c.secure(mux)
}

// secure sets the headers every response carries and refuses a state-changing request that
// comes from another site (the CSRF token is checked again once the session is known).
func (c *Console) secure(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", CSP)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "same-origin") // no-referrer would make form posts send "Origin: null"
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		if !strings.HasPrefix(r.URL.Path, "/assets/") {
			h.Set("Cache-Control", "no-store")
		}
		if c.cert != nil {
			h.Set("Strict-Transport-Security", "max-age=31536000")
		}
		if !safeMethod(r.Method) && !SameOrigin(r.Header.Get("Sec-Fetch-Site"), r.Header.Get("Origin"), r.Host) {
			c.fail(w, r, http.StatusForbidden, "This request came from another site.")
			return
		}
		next.ServeHTTP(w, r)
	})
}

func safeMethod(m string) bool { return m == http.MethodGet || m == http.MethodHead }

// SameOrigin decides whether a state-changing request may come from where its headers say: a
// browser's Sec-Fetch-Site must be same-origin (or none: typed by the user), and an Origin, when
// sent, must name this host. Requests without either (curl) are left to the CSRF token.
func SameOrigin(secFetchSite, origin, host string) bool {
	switch secFetchSite {
	case "", "same-origin", "none":
	default:
		return false
	}
	if origin == "" {
		return true
	}
	u, err := url.Parse(origin)
	return err == nil && u.Host != "" && strings.EqualFold(u.Host, host)
}

// request is one authenticated request.
type request struct {
	Viewer  Viewer
	Account store.Account
	Factors []string
	Expires time.Time
	CSRF    string
}

// authed loads the console session and the account behind it, refuses state-changing requests
// without the session's CSRF token, and ends the session of an account that is gone, was
// replaced under its name, is frozen or has expired.
func (c *Console) authed(h func(http.ResponseWriter, *http.Request, *request)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ck, err := r.Cookie(CookieName)
		if err != nil || ck.Value == "" {
			c.fail(w, r, http.StatusUnauthorized, "You are not logged in. Run `--osh webLogin` on the bastion and open the URL it prints.")
			return
		}
		now := c.o.Now()
		e, ok := c.sessions.get(ck.Value, now)
		if !ok {
			clearCookie(w)
			c.fail(w, r, http.StatusUnauthorized, "Your console session ended. Run `--osh webLogin` again.")
			return
		}
		acc, err := c.o.Store.GetAccount(r.Context(), e.id.Account)
		if reason := AccountRefusal(acc, err, e.id.AccountID, now); reason != "" {
			c.sessions.drop(ck.Value)
			clearCookie(w)
			_ = c.audit(r.Context(), "web.session_ended", audit.Fields{Account: e.id.Account, Extra: map[string]string{"account_id": e.id.AccountID, "reason": reason}}) // after the fact: the log counts and alerts a failure
			c.fail(w, r, http.StatusUnauthorized, "Your console session ended: "+reason+".")
			return
		}
		if !safeMethod(r.Method) {
			got := r.Header.Get("X-CSRF-Token")
			if got == "" {
				got = r.PostFormValue("csrf")
			}
			if subtle.ConstantTimeCompare([]byte(got), []byte(e.csrf)) != 1 {
				_ = c.audit(r.Context(), "web.csrf_refused", audit.Fields{Account: acc.Name, Extra: map[string]string{"path": r.URL.Path}}) // refused either way
				c.fail(w, r, http.StatusForbidden, "This form is missing its CSRF token, or it is stale: reload the page.")
				return
			}
		}
		h(w, r, &request{Viewer: Viewer{AccountID: acc.ID, Account: acc.Name, Roles: osh.RolesOf(acc)},
			Account: acc, Factors: e.id.Factors, Expires: e.expires, CSRF: e.csrf})
	}
}

// AccountRefusal says why an account may not use (or open) a console session bound to id, or ""
// when it may: gone, replaced by another account under the same name, frozen, or expired.
func AccountRefusal(acc store.Account, err error, id string, now time.Time) string {
	switch {
	case err != nil:
		return "the account no longer exists"
	case id == "" || acc.ID != id:
		return "the account was deleted"
	case acc.Frozen:
		return "the account is frozen"
	case !acc.ExpiresAt.IsZero() && !now.Before(acc.ExpiresAt):
		return "the account has expired"
	}
	return ""
}

func clearCookie(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{Name: CookieName, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, Secure: true, SameSite: http.SameSiteStrictMode})
}

func (c *Console) login(w http.ResponseWriter, r *http.Request) {
	now := c.o.Now()
	e, ok := c.logins.take(r.URL.Query().Get("t"), now)
	if !ok {
		_ = c.audit(r.Context(), "web.login", audit.Fields{Result: "refused", Extra: map[string]string{"reason": "unknown, used or expired link", "from": r.RemoteAddr}}) // refused either way
		c.fail(w, r, http.StatusForbidden, "This login link is not valid: it was used already, it expired (60 s), or it never existed. Run `--osh webLogin` again.")
		return
	}
	acc, err := c.o.Store.GetAccount(r.Context(), e.id.Account)
	if reason := AccountRefusal(acc, err, e.id.AccountID, now); reason != "" {
		_ = c.audit(r.Context(), "web.login", audit.Fields{Account: e.id.Account, Result: "refused", Extra: map[string]string{"reason": reason}}) // refused either way
		c.fail(w, r, http.StatusForbidden, "Login refused: "+reason+".")
		return
	}
	// Fail closed: a login the audit log cannot record does not open a session.
	if err := c.audit(r.Context(), "web.login", audit.Fields{Account: acc.Name, Result: "ok", Extra: map[string]string{"account_id": acc.ID, "factors": strings.Join(e.id.Factors, ","), "from": r.RemoteAddr}}); err != nil {
		c.fail(w, r, http.StatusServiceUnavailable, "The audit log of this bastion cannot be written right now, so the login is refused.")
		return
	}
	ttl := c.o.Config().Web.SessionLifetime()
	secret := newSecret()
	c.sessions.put(secret, entry{id: e.id, expires: now.Add(ttl), csrf: newSecret()}, now)
	http.SetCookie(w, &http.Cookie{Name: CookieName, Value: secret, Path: "/", MaxAge: int(ttl.Seconds()),
		HttpOnly: true, Secure: true, SameSite: http.SameSiteStrictMode})
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

func (c *Console) logout(w http.ResponseWriter, r *http.Request, q *request) {
	if ck, err := r.Cookie(CookieName); err == nil {
		c.sessions.drop(ck.Value)
	}
	clearCookie(w)
	_ = c.audit(r.Context(), "web.logout", audit.Fields{Account: q.Account.Name, Extra: map[string]string{"account_id": q.Account.ID}}) // after the fact: the log counts and alerts a failure
	c.render(w, r, http.StatusOK, "message.html", nil, map[string]any{"Title": "Logged out", "Message": "You are logged out."})
}

func (c *Console) home(w http.ResponseWriter, r *http.Request, q *request) {
	c.render(w, r, http.StatusOK, "home.html", q, map[string]any{"Title": "Console"})
}

// fail answers an error page with its status.
func (c *Console) fail(w http.ResponseWriter, r *http.Request, status int, msg string) {
	c.render(w, r, status, "message.html", nil, map[string]any{"Title": http.StatusText(status), "Message": msg})
}

func (c *Console) render(w http.ResponseWriter, r *http.Request, status int, name string, q *request, data map[string]any) {
	data["Q"] = q
	data["BastionName"] = c.o.Config().BastionName
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	if err := c.tmpl.ExecuteTemplate(w, name, data); err != nil {
		c.o.Log.Error("console template", "template", name, "err", err)
	}
}

var funcs = template.FuncMap{
	"when": func(t time.Time) string {
		if t.IsZero() {
			return "—"
		}
		return t.UTC().Format("2006-01-02 15:04:05Z")
	},
	"join":     strings.Join,
	"transfer": TransferOf,
}
