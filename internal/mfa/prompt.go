package mfa

import (
	"context"
	"errors"
	"fmt"
	"io"
)

// KeyboardInteractive adapts x/crypto/ssh's KeyboardInteractiveChallenge (the client argument
// of ServerConfig.KeyboardInteractiveCallback) to a PromptFunc. The challenge cannot be
// interrupted, so the context is checked before each round.
func KeyboardInteractive(client func(name, instruction string, questions []string, echos []bool) ([]string, error)) PromptFunc {
	return func(ctx context.Context, name, instruction string, questions []string, echos []bool) ([]string, error) {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		return client(name, instruction, questions, echos)
	}
}

// PasswordReader is a line editor that reads a secret without echo (*term.Terminal is one).
type PasswordReader interface {
	io.Writer
	ReadPassword(prompt string) (string, error)
}

// TerminalPrompt asks on an interactive terminal inside a session (JIT MFA): it prints the
// instruction, then reads each answer without echo (echos is ignored: the Challenger only asks
// secrets, and echoing would need to change the terminal's prompt). A closed channel makes ReadPassword return
// an error, which ends the challenge without access. Answers are read whole and checked for
// length by the Challenger; the terminal itself bounds nothing.
func TerminalPrompt(t PasswordReader) PromptFunc {
	return func(ctx context.Context, name, instruction string, questions []string, echos []bool) ([]string, error) {
		if t == nil {
			return nil, errors.New("mfa: no terminal")
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if instruction != "" {
			// term.Terminal turns \n into \r\n itself.
			if _, err := fmt.Fprint(t, instruction+"\n"); err != nil {
				return nil, err
			}
		}
		answers := make([]string, 0, len(questions))
		for _, q := range questions {
			a, err := t.ReadPassword(q) // restores the terminal's own prompt afterwards
			if err != nil {
				return nil, err
			}
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			answers = append(answers, a)
		}
		return answers, nil
	}
}
