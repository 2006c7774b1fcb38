package mfaauth

import (
	"gatehouse/internal/audit"
	"gatehouse/internal/netaddr"

	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/ssh"

	"gatehouse/internal/mfa"
	"gatehouse/internal/mfa/policy"
	"gatehouse/internal/store"
)

// kbdCountdownEvery is how often the approval countdown is shown during SSH authentication: each
// line is one keyboard-interactive message the client prints (a line of its own).
const kbdCountdownEvery = 5 * time.Second

// immediateChat asks the chat factors during SSH authentication, over keyboard-interactive: the
// code as a prompt, the approval's banner, countdown and outcome as messages without questions
// (OpenSSH prints them). The wait is bounded by loginGraceTime, which also bounds the
// connection. passed are the factors the Challenger already validated.
func (a *Auth) immediateChat(ctx context.Context, conn ssh.ConnMetadata, acct store.Account, client ssh.KeyboardInteractiveChallenge,
	f Factors, ch *mfa.Challenger, chat, passed policy.Factors) error {
	return a.kbdChat(ctx, conn, acct, client, f, ch, chat, passed, "immediate", "")
}

// kbdChat asks chat factors over keyboard-interactive at stage ("immediate" at login, "jit" for
// a jump's or a user name's target, which target names).
func (a *Auth) kbdChat(ctx context.Context, conn ssh.ConnMetadata, acct store.Account, client ssh.KeyboardInteractiveChallenge,
	f Factors, ch *mfa.Challenger, chat, passed policy.Factors, stage, target string) error {
	say := func(_ context.Context, line string) error {
		_, err := client("", line, nil, nil)
		return err
	}
	last := time.Duration(-1)
	step := &chatStep{a: a, f: f, pa: PolicyAccount(acct, f.Configured),
		base: audit.Fields{IPFrom: netaddr.IP(conn.RemoteAddr()), User: conn.User(), Extra: map[string]string{"stage": stage}},
		req: ChatRequest{Account: acct.Name, SourceIP: netaddr.IP(conn.RemoteAddr()), Groups: a.memberGroups(ctx, acct.Name),
			Stage: stage, Target: target, MaxWait: time.Duration(a.Config().LoginGraceTime) * time.Second},
		ask: func(_ context.Context, instruction, question string) (string, error) {
			answers, err := client("", instruction, []string{question}, []bool{false})
			if err != nil {
				return "", err
			}
			if len(answers) != 1 {
				return "", errRefused
			}
			return answers[0], nil
		},
		say: say,
		tick: func(ctx context.Context, label string, left time.Duration) error {
			if last >= 0 && last-left < kbdCountdownEvery {
				return nil
			}
			last = left
			return say(ctx, policy.ApprovalWaitLine(label, left))
		},
		other: func(ctx context.Context, ask policy.Factors) error {
			_, err := a.challenge(ctx, ch, mfa.KeyboardInteractive(client), f, ask)
			return err
		},
	}
	if target != "" {
		step.base = step.base.With(map[string]string{"target": target})
	}
	if err := step.run(ctx, chat, passed); err != nil {
		return errKbdChatRefused
	}
	return nil
}

// errKbdChatRefused is a chat factor refused (denied, unanswered, a wrong or expired code): final
// for the connection, whose automatic keyboard-interactive retries are then refused without
// posting another request (finalChat).
var errKbdChatRefused = fmt.Errorf("%w: a chat factor was refused", errRefused)

// finalChat wraps a connection's keyboard-interactive callback: once a chat factor was refused
// on it, later attempts are refused at once. A denial stays final (no second request that
// someone else could approve) and the team's chat gets no request nobody asked for.
func finalChat(cb func(ssh.ConnMetadata, ssh.KeyboardInteractiveChallenge) (*ssh.Permissions, error)) func(ssh.ConnMetadata, ssh.KeyboardInteractiveChallenge) (*ssh.Permissions, error) {
	var refused atomic.Bool
	return func(conn ssh.ConnMetadata, client ssh.KeyboardInteractiveChallenge) (*ssh.Permissions, error) {
		if refused.Load() {
			return nil, errKbdChatRefused
		}
		p, err := cb(conn, client)
		if errors.Is(err, errKbdChatRefused) {
			refused.Store(true)
		}
		return p, err
	}
}
