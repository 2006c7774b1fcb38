package connect

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"gatehouse/internal/session"
	"gatehouse/internal/ticket"
)

// PromptFunc asks the person questions (x/crypto/ssh's KeyboardInteractiveChallenge, with a
// context); mfa.PromptFunc converts to it.
type PromptFunc func(ctx context.Context, name, instruction string, questions []string, echos []bool) ([]string, error)

// maxTargetRounds bounds the keyboard-interactive rounds one dial answers: a target that asks
// forever must not hold the person's session forever.
const maxTargetRounds = 8

// targetQuestions answers a target's keyboard-interactive rounds: ticket.Prompt with the
// session's ticket, every other question — once the target has asked for the ticket, in that
// round or an earlier one — by asking the person (TargetPrompt). The ticket is
// what the session's env request carries anyway, bound to this target by the bastion's
// signature (a target that replays it elsewhere is refused there).
func (c *Connector) targetQuestions(s *session.Session, tkt string) func(ctx context.Context, name, instruction string, questions []string, echos []bool) ([]string, error) {
	rounds, sawTicket := 0, false
	return func(ctx context.Context, name, instruction string, questions []string, echos []bool) ([]string, error) {
		rounds++
		if rounds > maxTargetRounds {
			return nil, errors.New("the target asked too many questions")
		}
		answers, ask := TargetAnswers(questions, tkt)
		sawTicket = sawTicket || len(ask) < len(questions)
		if len(ask) > 0 && !sawTicket {
			// Only a target that runs pam_gatehouse (it asked for the ticket first) gets the
			// person's answers: a target asking for a password where the egress key failed
			// is refused, as it was before keyboard-interactive was answered at all.
			return nil, errors.New("the target asks questions before the gatehouse ticket: not relayed")
		}
		if len(ask) == 0 {
			if instruction = targetText(instruction); instruction != "" {
				fmt.Fprintln(s.Err, instruction)
			}
			return answers, nil
		}
		if c.TargetPrompt == nil {
			return nil, errors.New("the target asks questions and this bastion cannot relay them")
		}
		qs := make([]string, len(ask))
		es := make([]bool, len(ask))
		for j, i := range ask {
			qs[j] = targetText(questions[i])
			if i < len(echos) {
				es[j] = echos[i]
			}
		}
		got, err := c.TargetPrompt(s)(ctx, targetText(name), targetText(instruction), qs, es)
		if err != nil {
			return nil, err
		}
		if len(got) != len(ask) {
			return nil, errors.New("unanswered questions")
		}
		for j, i := range ask {
			answers[i] = got[j]
		}
		return answers, nil
	}
}

// TargetAnswers is the pure part: the ticket prompt gets the ticket; the indexes of the other
// questions are returned, for the person. Only the exact prompt gets the ticket.
func TargetAnswers(questions []string, tkt string) (answers []string, ask []int) {
	answers = make([]string, len(questions))
	for i, q := range questions {
		if q == ticket.Prompt && tkt != "" {
			answers[i] = tkt
		} else {
			ask = append(ask, i)
		}
	}
	return answers, ask
}

// targetText keeps what a target sends to the person's terminal printable (as OpenSSH does):
// no escape sequence from a target reaches it; line breaks stay.
func targetText(s string) string {
	s = strings.Map(func(r rune) rune {
		if (r < 0x20 && r != '\n') || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return -1
		}
		return r
	}, s)
	if len(s) > 1024 {
		s = s[:1024]
	}
	return strings.TrimRight(s, "\n")
}

// targetQuietAfter is how long a target may stay silent, once its questions were answered,
// before the person is told what the wait is. sshd's keyboard-interactive holds back PAM's
// informational messages until its next question or the end of the login, so pam_gatehouse's
// "waiting for approval" line cannot reach the person while a colleague decides.
const targetQuietAfter = 3 * time.Second

// TargetQuietNotice is what the person reads when the target stays silent after its questions.
const TargetQuietNotice = "[gatehouse: the target is still checking this login (a second factor on its side, or a colleague's approval); waiting...]"

// quietTarget wraps a keyboard-interactive answerer: after each answered round, if the target
// asks nothing more within after, the notice is written to w, once per dial. stop (called when
// the dial returns) ends the watch, so nothing is written after the login.
func quietTarget(answer func(ctx context.Context, name, instruction string, questions []string, echos []bool) ([]string, error), w io.Writer, after time.Duration) (
	wrapped func(ctx context.Context, name, instruction string, questions []string, echos []bool) ([]string, error), stop func()) {
	var mu sync.Mutex
	var timer *time.Timer
	done, told := false, false
	halt := func() {
		if timer != nil {
			timer.Stop()
			timer = nil
		}
	}
	wrapped = func(ctx context.Context, name, instruction string, questions []string, echos []bool) ([]string, error) {
		mu.Lock()
		halt()
		mu.Unlock()
		answers, err := answer(ctx, name, instruction, questions, echos)
		if err != nil {
			return answers, err
		}
		mu.Lock()
		defer mu.Unlock()
		if !done && !told {
			var t *time.Timer
			t = time.AfterFunc(after, func() {
				mu.Lock()
				defer mu.Unlock()
				if done || told || timer != t {
					return
				}
				told = true
				fmt.Fprintln(w, TargetQuietNotice)
			})
			timer = t
		}
		return answers, nil
	}
	stop = func() {
		mu.Lock()
		defer mu.Unlock()
		done = true
		halt()
	}
	return wrapped, stop
}
