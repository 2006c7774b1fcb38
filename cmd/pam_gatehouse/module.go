// Command pam_gatehouse is the helper of the PAM module pam_gatehouse.so (module/pam_gatehouse.c,
// plain C, which execs it and runs the PAM conversation it asks for; see main.go). It asks the
// gatehouse bastion to verify a second factor for the person behind a sudo or a login on a target: it
// sends the session's GATEHOUSE_TICKET (who opened the session through the bastion), the code
// the person types, and what is being done, over HTTPS with the server's own token, and lets PAM
// go on only on the bastion's yes.
//
// Fail closed: a missing or unreadable configuration or token, no ticket (unless no_ticket=ask),
// a module that speaks the protocol wrongly,
// a conversation that returns nothing, an unreachable, slow or badly certified bastion, any
// answer but a well-formed yes: PAM_AUTH_ERR. See docs/pam.md.
package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"gatehouse/internal/ticket"
)

// DefaultConfigFile is read when it exists; module arguments override it.
const DefaultConfigFile = "/etc/gatehouse/pam.conf"

// settings are the module's options: key=value lines in the file, key=value module arguments.
type settings struct {
	URL       string        // https://bastion:8443 (the path /v1/verify is added)
	TokenFile string        // the server's token, mode 0600
	CAFile    string        // PEM roots for the bastion's certificate ("": the system's)
	Timeout   time.Duration // whole request (default 10s)
	NoTicket  string        // refuse (default) or ask: ask the account name
	// AskTicket: with no ticket in the environment, ask it through the conversation with
	// ticket.Prompt, which gatehouse's egress client answers itself (sshd: the PAM auth runs
	// before the session's environment arrives). An empty answer goes on as no ticket.
	AskTicket bool
	// ApprovalWait bounds the wait for a colleague's approval (default 2m); each request to
	// the bastion meanwhile is still bounded by Timeout.
	ApprovalWait time.Duration
	Debug        bool
}

func parseSettings(fileData []byte, args []string) (settings, error) {
	s := settings{Timeout: 10 * time.Second, NoTicket: "refuse", ApprovalWait: 2 * time.Minute}
	var kvs []string
	sc := bufio.NewScanner(bytes.NewReader(fileData))
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		kvs = append(kvs, l)
	}
	if err := sc.Err(); err != nil {
		return s, err
	}
	kvs = append(kvs, args...)
	for _, kv := range kvs {
		if kv == "debug" {
			s.Debug = true
			continue
		}
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return s, fmt.Errorf("%q: want key=value", kv)
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		switch k {
		case "config":
		case "url":
			s.URL = v
		case "token_file":
			s.TokenFile = v
		case "ca_file":
			s.CAFile = v
		case "timeout":
			d, err := time.ParseDuration(v)
			if err != nil || d <= 0 || d > 5*time.Minute {
				return s, fmt.Errorf("timeout %q: a duration up to 5m", v)
			}
			s.Timeout = d
		case "approval_wait":
			d, err := time.ParseDuration(v)
			if err != nil || d <= 0 || d > 10*time.Minute {
				return s, fmt.Errorf("approval_wait %q: a duration up to 10m", v)
			}
			s.ApprovalWait = d
		case "ask_ticket":
			if v != "yes" && v != "no" {
				return s, fmt.Errorf("ask_ticket %q: yes or no", v)
			}
			s.AskTicket = v == "yes"
		case "no_ticket":
			if v != "refuse" && v != "ask" {
				return s, fmt.Errorf("no_ticket %q: refuse or ask", v)
			}
			s.NoTicket = v
		default:
			return s, fmt.Errorf("unknown option %q", k)
		}
	}
	u, err := url.Parse(s.URL)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return s, fmt.Errorf("url %q: an https:// URL of the bastion's pam endpoint", s.URL)
	}
	if s.TokenFile == "" {
		return s, errors.New("token_file is required")
	}
	return s, nil
}

// configFile is the config= argument ("none": no file), else DefaultConfigFile.
func configFile(args []string) string {
	for _, a := range args {
		if v, ok := strings.CutPrefix(a, "config="); ok {
			return v
		}
	}
	return DefaultConfigFile
}

// pamEnv is what the module learns from PAM and how it talks to the person.
type pamEnv struct {
	Service, User, RUser, RHost, TTY string
	Ticket                           string
	Command                          string
	Program                          string // the PAM application (sudo, sshd, su …), from /proc/self/comm
	// Prompt asks one question; an error or an empty answer refuses.
	Prompt func(msg string, echo bool) (string, error)
	// Say shows a message (errors and the bastion's answer).
	Say func(msg string)
	// Info shows an informational message (waiting for an approval).
	Info func(msg string)
}

type request struct {
	Ticket    string `json:"ticket,omitempty"`
	Account   string `json:"account,omitempty"`
	Code      string `json:"code,omitempty"`
	Challenge string `json:"challenge,omitempty"`
	Service   string `json:"service"`
	User      string `json:"user"`
	RUser     string `json:"ruser,omitempty"`
	RHost     string `json:"rhost,omitempty"`
	TTY       string `json:"tty,omitempty"`
	Command   string `json:"command,omitempty"`
	Program   string `json:"program,omitempty"`
}

type response struct {
	Allow     bool   `json:"allow"`
	Message   string `json:"message"`
	Factor    string `json:"factor,omitempty"`
	Prompt    string `json:"prompt,omitempty"`
	Challenge string `json:"challenge,omitempty"`
	Pending   bool   `json:"pending,omitempty"`
}

// authenticate is the whole module: true only on the bastion's yes.
func authenticate(args []string, e pamEnv) bool {
	var fileData []byte
	cf := configFile(args)
	if cf == "none" {
		// config=none: the module arguments are the whole configuration.
	} else if data, err := os.ReadFile(cf); err == nil {
		fileData = data
	} else if !errors.Is(err, os.ErrNotExist) || cf != DefaultConfigFile {
		e.Say(fmt.Sprintf("gatehouse: cannot read %s: %v", cf, err))
		return false
	}
	s, err := parseSettings(fileData, args)
	if err != nil {
		e.Say("gatehouse: configuration: " + err.Error())
		return false
	}
	tokenData, err := os.ReadFile(s.TokenFile)
	token := strings.TrimSpace(string(tokenData))
	if err != nil || token == "" {
		e.Say("gatehouse: cannot read the server token")
		return false
	}
	req := request{Ticket: e.Ticket, Service: e.Service, User: e.User, RUser: e.RUser, RHost: e.RHost, TTY: e.TTY, Command: e.Command, Program: e.Program}
	if req.Ticket == "" && s.AskTicket {
		t, err := e.Prompt(ticket.Prompt, false)
		if err != nil {
			return false
		}
		req.Ticket = strings.TrimSpace(t)
	}
	if req.Ticket == "" {
		if s.NoTicket != "ask" {
			e.Say("gatehouse: no GATEHOUSE_TICKET: connect through the bastion")
			return false
		}
		acct, err := e.Prompt("Gatehouse account: ", true)
		if err != nil || strings.TrimSpace(acct) == "" {
			return false
		}
		req.Account = strings.TrimSpace(acct)
	}
	// Start: the bastion checks who asks and says what to answer (and posts a chat code when
	// that is the server's factor). No prompt in the answer: refused.
	started, err := ask(s, token, "/v1/start", req)
	if err != nil {
		e.Say("gatehouse: the bastion could not be asked: " + err.Error())
		return false
	}
	if !started.Allow && started.Factor == "approval" && started.Pending && started.Challenge != "" {
		req.Challenge = started.Challenge
		return waitApproval(s, token, req, e, started.Message)
	}
	if started.Allow || started.Prompt == "" {
		if started.Message != "" {
			e.Say(printable(started.Message))
		}
		return false
	}
	code, err := e.Prompt(printable(started.Prompt), false)
	if err != nil || strings.TrimSpace(code) == "" {
		return false
	}
	req.Code, req.Challenge = strings.TrimSpace(code), started.Challenge
	resp, err := ask(s, token, "/v1/verify", req)
	if err != nil {
		e.Say("gatehouse: the bastion could not be asked: " + err.Error())
		return false
	}
	if resp.Message != "" {
		e.Say(printable(resp.Message))
	}
	return resp.Allow
}

// waitApproval tells the person a colleague is asked, then asks the bastion again every
// second until the approval is decided or ApprovalWait ends: only an explicit yes is a yes.
func waitApproval(s settings, token string, req request, e pamEnv, msg string) bool {
	if msg == "" {
		msg = "gatehouse: waiting for approval…"
	}
	e.Info(printable(msg))
	deadline := time.Now().Add(s.ApprovalWait)
	for {
		resp, err := ask(s, token, "/v1/verify", req)
		if err != nil {
			e.Say("gatehouse: the bastion could not be asked: " + err.Error())
			return false
		}
		if !resp.Pending {
			if resp.Message != "" {
				e.Say(printable(resp.Message))
			}
			return resp.Allow
		}
		left := time.Until(deadline)
		if left <= 0 {
			e.Say("gatehouse: no approval in time")
			return false
		}
		time.Sleep(min(time.Second, left)) // the module's own pace between questions, not a wait on a condition
	}
}

// printable keeps a bastion's text to one line of printable characters (it goes to a terminal).
func printable(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return -1
		}
		return r
	}, s)
	if len(s) > 200 {
		s = s[:200]
	}
	return s
}

// ask posts the request and reads a yes or a no; every error is a no.
func ask(s settings, token, path string, req request) (response, error) {
	tlsConf := &tls.Config{MinVersion: tls.VersionTLS12}
	if s.CAFile != "" {
		pem, err := os.ReadFile(s.CAFile)
		if err != nil {
			return response{}, fmt.Errorf("ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return response{}, errors.New("ca_file: no certificate in it")
		}
		tlsConf.RootCAs = pool
	}
	// No keep-alive: one request after the other, then the helper exits; nothing to pool.
	tr := &http.Transport{TLSClientConfig: tlsConf, Proxy: nil, ResponseHeaderTimeout: s.Timeout, DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Timeout: s.Timeout, Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error {
		return errors.New("redirects are not followed")
	}}
	body, err := json.Marshal(req)
	if err != nil {
		return response{}, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.Timeout)
	defer cancel()
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(s.URL, "/")+path, bytes.NewReader(body))
	if err != nil {
		return response{}, err
	}
	hr.Header.Set("Authorization", "Bearer "+token)
	hr.Header.Set("Content-Type", "application/json")
	res, err := client.Do(hr)
	if err != nil {
		return response{}, err
	}
	defer func() { _ = res.Body.Close() }() // read only: closing the body loses nothing
	if res.StatusCode != http.StatusOK {
		return response{}, fmt.Errorf("HTTP %d", res.StatusCode)
	}
	data, err := io.ReadAll(io.LimitReader(res.Body, 4096+1))
	if err != nil {
		return response{}, err
	}
	return parseResponse(data)
}

// parseResponse reads the bastion's answer strictly: one JSON object with known fields and
// nothing after it; anything else is an error (a no).
func parseResponse(data []byte) (response, error) {
	if len(data) > 4096 {
		return response{}, errors.New("answer too long")
	}
	var r response
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		return response{}, fmt.Errorf("garbled answer: %w", err)
	}
	if dec.More() {
		return response{}, errors.New("garbled answer: trailing data")
	}
	if len(r.Message) > 512 {
		r.Message = r.Message[:512]
	}
	return r, nil
}

// hostInfo is what the helper learns of the PAM application's process (sudo, sshd …).
type hostInfo struct {
	Ticket  string // GATEHOUSE_TICKET in the environment it was started with
	Program string // its name (/proc/PID/comm)
	Cmdline string // its command line, for the audit and the per-command factor
}

// procInfo reads a process's hostInfo (a stand-in in tests).
type procInfo func(pid int) hostInfo

// hostProc reads /proc/PID of the process that ran the module, which is the helper's parent.
// A pid that is not (or no longer, checked again after reading) the parent's gives nothing:
// the helper never reads a stranger's environment on a module's word.
func hostProc(pid int) hostInfo {
	if os.Getppid() != pid {
		return hostInfo{}
	}
	dir := fmt.Sprintf("/proc/%d/", pid)
	h := hostInfo{Ticket: ticketFromEnviron(readProc(dir + "environ")), Program: program(readProc(dir + "comm")), Cmdline: cmdline(readProc(dir + "cmdline"))}
	if os.Getppid() != pid {
		return hostInfo{}
	}
	return h
}

func readProc(path string) []byte {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer func() { _ = f.Close() }() // read only
	data, _ := io.ReadAll(io.LimitReader(f, 1<<20))
	return data
}

// ticketFromEnviron finds GATEHOUSE_TICKET in a NUL-separated environment block: sudo clears
// its own environ before the PAM conversation, but what the shell passed it is still in
// /proc/PID/environ. It is the caller's environment, as getenv would be: a ticket is a signed
// identity, not a factor, so its source need not be trusted.
func ticketFromEnviron(data []byte) string {
	for _, kv := range bytes.Split(data, []byte{0}) {
		if v, ok := bytes.CutPrefix(kv, []byte(ticket.EnvName+"=")); ok {
			return string(v)
		}
	}
	return ""
}

// program is the PAM application's name from its comm.
func program(comm []byte) string {
	p := strings.TrimSpace(string(comm))
	if len(p) > 64 {
		p = p[:64]
	}
	return p
}

// cmdline is what the calling process runs (sudo's own command line), for the audit.
func cmdline(data []byte) string {
	c := strings.TrimSpace(strings.ReplaceAll(strings.TrimRight(string(data), "\x00"), "\x00", " "))
	if len(c) > 1024 {
		c = c[:1024]
	}
	return c
}
