package mfaauth

import (
	"errors"
	"testing"

	"golang.org/x/crypto/ssh"
)

// TestFinalChat: after a chat factor is refused on a connection, its later keyboard-interactive
// attempts are refused without asking (the callback is not run again); any other refusal (a
// mistyped TOTP) leaves the next attempt to be asked; a success is passed through.
func TestFinalChat(t *testing.T) {
	for _, c := range []struct {
		name    string
		results []error // what the wrapped callback returns, attempt after attempt
		calls   int     // how many times it runs over 3 attempts
		errs    []bool  // whether each attempt fails
	}{
		{"chat refused", []error{errKbdChatRefused, nil, nil}, 1, []bool{true, true, true}},
		{"totp typo then ok", []error{errRefused, nil, nil}, 3, []bool{true, false, false}},
		{"totp typo then chat refused", []error{errRefused, errKbdChatRefused, nil}, 2, []bool{true, true, true}},
		{"ok", []error{nil, nil, nil}, 3, []bool{false, false, false}},
	} {
		t.Run(c.name, func(t *testing.T) {
			calls := 0
			cb := finalChat(func(ssh.ConnMetadata, ssh.KeyboardInteractiveChallenge) (*ssh.Permissions, error) {
				err := c.results[calls]
				calls++
				if err != nil {
					return nil, err
				}
				return &ssh.Permissions{}, nil
			})
			for i, wantErr := range c.errs {
				_, err := cb(nil, nil)
				if (err != nil) != wantErr {
					t.Fatalf("attempt %d: %v", i, err)
				}
				if err != nil && !errors.Is(err, errRefused) {
					t.Fatalf("attempt %d: %v is not a refusal", i, err)
				}
			}
			if calls != c.calls {
				t.Fatalf("the callback ran %d times, want %d", calls, c.calls)
			}
		})
	}
}
