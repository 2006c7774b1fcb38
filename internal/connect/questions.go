package connect

import (
	"context"
	"errors"
	"fmt"
	"strings"

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
