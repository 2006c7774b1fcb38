package egress

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"

	"gatehouse/internal/crash"
	"gatehouse/internal/termsize"
)

// PtyRequest is what the user's client asked for on the ingress side, to
// be asked of the target in turn.
type PtyRequest struct {
	Term          string
	Cols, Rows    uint32
	Width, Height uint32 // pixels, usually 0
	Modes         ssh.TerminalModes
}

// WindowChange is a terminal resize from the user.
type WindowChange = termsize.Size

// Request describes the session to open on the target.
type Request struct {
	Pty     *PtyRequest       // nil: no pty
	Command string            // "": a login shell
	Env     map[string]string // sent as "env" requests; refusals by the target are ignored
	// Subsystem, when set, is asked instead of Command (sftp); RunSession also takes it from
	// its context (WithSubsystem).
	Subsystem string
}

// Streams connects the session to the user.
type Streams struct {
	Stdin          io.Reader // nil: no input (EOF at once, except on a pty)
	Stdout, Stderr io.Writer // nil: discarded
	WindowChanges  <-chan WindowChange
	Signals        <-chan string // "INT", "TERM", … (a SIG prefix is removed)
	// Requests, when set, is the user's session channel's request loop, which RunSession takes
	// over while it runs: its goroutine ends, and RunSession's own loop answers the requests
	// (window changes, signals) until it gives them back, before waiting for its copiers.
	Requests RequestLoop
}

// RequestLoop is the request loop of the user's session channel, lent to RunSession. Lend stops
// it (its goroutine ends) and gives its requests, false when it is ending (nothing lent);
// Handle answers one; Closed says they ended (the client closed the channel); Return starts
// the loop again. An idle relayed session then holds one goroutine fewer (4 KiB of stack).
type RequestLoop interface {
	Lend() (<-chan *ssh.Request, bool)
	Handle(*ssh.Request)
	Closed()
	Return()
}

// closeGrace is how long RunSession waits for the target to acknowledge a
// close after ctx ended.
const closeGrace = 2 * time.Second

// ErrNoExitStatus is returned when the target closed the session without
// an exit status or signal; the exit status is then ExitStatus (255).
var ErrNoExitStatus = errors.New("the target closed the session without an exit status")

// RunSession opens a session channel on client, sets it up as req says and
// relays it with st until the target closes it or ctx ends.
//
// It returns the target's exit status, or its exit signal name ("KILL")
// with status ExitStatus, as the ingress side should forward them. If ctx
// ends first, the channel is closed (the target gets EOF and hangs up) and
// ctx.Err() is returned.
//
// Goroutines while it runs: its own (the caller's, which also answers
// what the target asks of a connection Dial made, see refusingConn), one
// per output stream (stdout, stderr) and one for the input.
//
// Lifecycle: every goroutine RunSession starts has ended when it returns,
// with two exceptions. The one reading st.Stdin may still be blocked in
// Read: it ends as soon as Read returns (the caller closes stdin when the
// user's channel ends), its writes to the closed channel failing. And if we
// closed the channel (ctx ended, or writing to the user failed) and the
// target did not acknowledge within closeGrace, the remaining readers end
// when the caller closes client, which it must do anyway, or after another
// closeGrace for the request drain.
func RunSession(ctx context.Context, client ssh.Conn, req Request, st Streams) (exitStatus int, exitSignal string, err error) {
	if req.Subsystem == "" {
		req.Subsystem = SubsystemFrom(ctx)
	}
	ch, reqs, err := client.OpenChannel("session", nil)
	if err != nil {
		return ExitStatus, "", fmt.Errorf("open session on target: %w", err)
	}
	// Requests the target sends before we read reqs wait in x/crypto's
	// per-channel queue, so setup can run first.
	if err := setup(ch, req); err != nil {
		_ = ch.Close() // the setup error is the one to report
		drain(reqs)
		return ExitStatus, "", err
	}

	// Few goroutines per session (idle sessions are many): the output
	// readers and the input reader; everything else runs in the loop below
	// on the caller's goroutine.
	var wg sync.WaitGroup
	var outErr error
	var outMu sync.Mutex
	failed := make(chan struct{}, 3) // one per copier below, so none blocks
	copyOut := func(w io.Writer, r io.Reader, idle int, owned bool) {
		defer wg.Done()
		if w == nil {
			w = io.Discard
		}
		if !owned {
			// Both streams may end in the same recorder, which takes buffers (OwnedWriter)
			// from one goroutine only: stdout's, the bulk one.
			w = writerOnly{w}
		}
		// The writers are the session's (recording, idle gate, the user's channel): a panic
		// in them stops this relay like a write error and is carried on by closedErr.
		var err error
		if p := crash.Catch(func() { err = relay(w, r, idle) }); p != nil {
			err = p
		}
		if err != nil {
			// The user went away: stop the target too.
			outMu.Lock()
			if outErr == nil {
				outErr = err
			}
			outMu.Unlock()
			_ = ch.Close() // stopping the target: the write error is the one to report
			failed <- struct{}{}
			_, _ = io.Copy(io.Discard, r) // drain so the mux never blocks on this channel
		}
	}
	wg.Add(2)
	go copyOut(st.Stdout, ch, idleBuffer, true)
	go copyOut(st.Stderr, ch.Stderr(), quietBuffer, false)

	// Input: user → target, then EOF. Not in wg: see Lifecycle above.
	// Without stdin on a pty session we send no EOF at all: OpenSSH's sshd
	// closes the pty master on EOF, after which it can no longer apply
	// window changes.
	if st.Stdin != nil || req.Pty == nil {
		go func() {
			if st.Stdin != nil {
				// A panic in the session's reader ends the relay as a failed output does
				// (carried on by closedErr); one after RunSession returned only ends the
				// input, since nothing waits for this goroutine.
				if p := crash.Catch(func() { _ = relay(ch, st.Stdin, quietBuffer) }); p != nil {
					outMu.Lock()
					if outErr == nil {
						outErr = p
					}
					outMu.Unlock()
					_ = ch.Close() // stopping the target: the panic is the one to report
					select {
					case failed <- struct{}{}:
					default:
					}
				}
			}
			_ = ch.CloseWrite()
		}()
	}

	// What the target asks of the connection itself (channel opens, global requests) is
	// answered in the loop below while it runs, instead of by a goroutine of its own; it is
	// handed back before waiting for the readers, which need x/crypto's loop to go on.
	// The user's channel's requests likewise, when its loop is lent (Streams.Requests).
	lt := takeOver(client, st.Requests)
	defer lt.handBack()

	// Relay control messages until the target closes the channel (reqs
	// ends). After we close it (ctx, or a failed writer), a target that
	// does not acknowledge cannot hold us past closeGrace; the readers then
	// end when the caller closes client.
	var status int
	var signal string
	gotExit := false
	ctxDone := ctx.Done()
	var grace <-chan time.Time
	closeNow := func() {
		_ = ch.Close() // closing is the request; the target acknowledges or closeGrace ends the wait
		if grace == nil {
			grace = time.After(closeGrace)
		}
	}
loop:
	for {
		select {
		case r, ok := <-reqs:
			if !ok {
				break loop
			}
			exitOf(r, &status, &signal, &gotExit)
		case <-ctxDone:
			ctxDone = nil
			closeNow()
		case <-failed:
			closeNow()
		case nch, ok := <-lt.incChans:
			if !ok {
				lt.incChans = nil
				continue
			}
			refuseChannel(nch)
		case r, ok := <-lt.incReqs:
			if !ok {
				lt.incReqs = nil
				continue
			}
			refuseRequest(r)
		case <-grace:
			lt.handBack()
			go drain(reqs)
			return ExitStatus, "", closedErr(ctx, &outMu, &outErr)
		case wc, ok := <-st.WindowChanges:
			if !ok {
				st.WindowChanges = nil
				continue
			}
			sendWindowChange(ch, wc)
		case sig, ok := <-st.Signals:
			if !ok {
				st.Signals = nil
				continue
			}
			sendSignal(ch, sig)
		case r, ok := <-lt.userReqs:
			lt.userRequest(r, ok)
		}
	}
	_ = ch.Close() // the target closed first or closeGrace passed: nothing left to report
	lt.handBack()
	wg.Wait()
	if err := closedErr(ctx, &outMu, &outErr); err != nil {
		return ExitStatus, "", err
	}
	if !gotExit {
		return ExitStatus, "", ErrNoExitStatus
	}
	return status, signal, nil
}

// The loop's cases below are functions of their own: the session's goroutine waits in that
// loop for the session's whole life, and what its frame holds stays on the stack.

// exitOf answers a request of the target's session channel, keeping its exit status or signal.
func exitOf(r *ssh.Request, status *int, signal *string, gotExit *bool) {
	switch r.Type {
	case "exit-status":
		var m struct{ Status uint32 }
		if ssh.Unmarshal(r.Payload, &m) == nil {
			*status, *gotExit = int(m.Status), true
		}
	case "exit-signal":
		var m struct {
			Signal     string
			CoreDumped bool
			Error      string
			Lang       string
		}
		if ssh.Unmarshal(r.Payload, &m) == nil {
			*signal, *status, *gotExit = m.Signal, ExitStatus, true
		}
	}
	if r.WantReply {
		_ = r.Reply(false, nil)
	}
}

func sendWindowChange(ch ssh.Channel, wc WindowChange) {
	_, _ = ch.SendRequest("window-change", false, ssh.Marshal(struct {
		Cols, Rows, Width, Height uint32
	}{wc.Cols, wc.Rows, wc.Width, wc.Height}))
}

func sendSignal(ch ssh.Channel, sig string) {
	_, _ = ch.SendRequest("signal", false, ssh.Marshal(struct{ Signal string }{strings.TrimPrefix(sig, "SIG")}))
}

// taken is what RunSession's loop answers in place of the goroutines that usually do: what
// the target asks of its connection (a refusingConn's loop) and the user's channel's requests
// (a lent RequestLoop). On the heap, not in RunSession's frame, which stays on the session
// goroutine's stack while it waits (TestRunSessionFrameIsSmall).
type taken struct {
	incChans <-chan ssh.NewChannel
	incReqs  <-chan *ssh.Request
	back     func(<-chan ssh.NewChannel, <-chan *ssh.Request) // nil: nothing taken from the connection
	user     RequestLoop                                      // nil: no loop lent
	userReqs <-chan *ssh.Request
	given    bool
}

func takeOver(client ssh.Conn, user RequestLoop) *taken {
	t := &taken{}
	if rc, ok := client.(*refusingConn); ok {
		if c, r, b, ok := rc.takeOver(); ok {
			t.incChans, t.incReqs, t.back = c, r, b
		}
	}
	if user != nil {
		if r, ok := user.Lend(); ok {
			t.user, t.userReqs = user, r
		}
	}
	return t
}

// handBack gives back what was taken, once; on RunSession's goroutine only.
func (t *taken) handBack() {
	if t.given {
		return
	}
	t.given = true
	if t.back != nil {
		t.back(t.incChans, t.incReqs)
	}
	if t.user != nil {
		t.user.Return()
	}
}

// userRequest answers a request of the user's channel, or notes that they ended.
func (t *taken) userRequest(r *ssh.Request, ok bool) {
	if !ok {
		t.userReqs = nil
		t.user.Closed()
		return
	}
	t.user.Handle(r)
}

// closedErr is why we closed the channel ourselves, if we did.
func closedErr(ctx context.Context, mu *sync.Mutex, outErr *error) error {
	mu.Lock()
	err := *outErr
	mu.Unlock()
	var p *crash.Panic
	if errors.As(err, &p) {
		// A writer or the reader panicked: carry it on to the session's recovery point.
		crash.Rethrow(p)
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if err != nil {
		return fmt.Errorf("relay output to user: %w", err)
	}
	return nil
}

// drain answers a closed channel's remaining requests until x/crypto ends
// the stream, bounded by closeGrace when the target never acknowledges.
func drain(reqs <-chan *ssh.Request) {
	timeout := time.After(closeGrace)
	for {
		select {
		case r, ok := <-reqs:
			if !ok {
				return
			}
			if r.WantReply {
				_ = r.Reply(false, nil)
			}
		case <-timeout:
			return
		}
	}
}

// setup sends env, pty-req and the shell or exec request.
func setup(ch ssh.Channel, req Request) error {
	keys := make([]string, 0, len(req.Env))
	for k := range req.Env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		_, _ = ch.SendRequest("env", true, ssh.Marshal(struct{ Name, Value string }{k, req.Env[k]}))
	}
	if p := req.Pty; p != nil {
		ok, err := ch.SendRequest("pty-req", true, ssh.Marshal(struct {
			Term          string
			Cols, Rows    uint32
			Width, Height uint32
			Modes         string
		}{p.Term, p.Cols, p.Rows, p.Width, p.Height, encodeModes(p.Modes)}))
		if err == nil && !ok {
			err = errors.New("the target refused to allocate a pty")
		}
		if err != nil {
			return fmt.Errorf("request pty on target: %w", err)
		}
	}
	var ok bool
	var err error
	switch {
	case req.Subsystem != "":
		ok, err = ch.SendRequest("subsystem", true, ssh.Marshal(struct{ Name string }{req.Subsystem}))
	case req.Command == "":
		ok, err = ch.SendRequest("shell", true, nil)
	default:
		ok, err = ch.SendRequest("exec", true, ssh.Marshal(struct{ Command string }{req.Command}))
	}
	if err == nil && !ok {
		err = errors.New("the target refused to start the command")
	}
	if err != nil {
		return fmt.Errorf("start session on target: %w", err)
	}
	return nil
}

// encodeModes encodes terminal modes as RFC 4254 8 wants (opcode, uint32
// value, …, TTY_OP_END), in opcode order so the request is deterministic.
func encodeModes(m ssh.TerminalModes) string {
	ops := make([]int, 0, len(m))
	for k := range m {
		ops = append(ops, int(k))
	}
	sort.Ints(ops)
	var b []byte
	for _, op := range ops {
		v := m[uint8(op)]
		b = append(b, byte(op), byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
	}
	return string(append(b, 0))
}
