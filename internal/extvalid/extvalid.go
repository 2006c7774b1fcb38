// Package extvalid is The Bastion's accountExternalValidationProgram: a program, called with the
// account name, says whether the account is active (may use the bastion) by its exit status:
// 0 active, 1 inactive, 2 unknown, 3 unknown (its stderr logged), 4 unknown (its stderr logged
// and shown to the user), anything else inactive. An unknown answer, or a program that cannot
// run, denies when accountExternalValidationDenyOnFailure is true (the default), except admins,
// who must stay able to repair it. Always-active accounts are not checked.
//
// Decide is pure; Run executes the program with a deadline.
package extvalid

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os/exec"
	"strings"
	"time"
)

// Verdict is what the gate does with one answer.
type Verdict struct {
	Allow      bool
	LogStderr  bool // put the program's stderr in the log (status 3 and 4)
	ShowStderr bool // also show it to the user (status 4)
	Failure    bool // the program could not say (status 2-4, or it did not run)
}

// Input is one check's facts.
type Input struct {
	Ran           bool // the program ran to its end (false: missing, not executable, timed out)
	Status        int  // its exit status when Ran
	DenyOnFailure bool // accountExternalValidationDenyOnFailure
	Admin         bool
	AlwaysActive  bool // the account's --always-active flag
}

// Decide applies The Bastion's meaning of the exit status (see the package comment).
func Decide(in Input) Verdict {
	if in.AlwaysActive {
		return Verdict{Allow: true}
	}
	failure := func(v Verdict) Verdict {
		v.Failure = true
		v.Allow = !in.DenyOnFailure || in.Admin
		return v
	}
	if !in.Ran {
		return failure(Verdict{})
	}
	switch in.Status {
	case 0:
		return Verdict{Allow: true}
	case 2:
		return failure(Verdict{})
	case 3:
		return failure(Verdict{LogStderr: true})
	case 4:
		return failure(Verdict{LogStderr: true, ShowStderr: true})
	}
	return Verdict{} // 1, and every other status: inactive
}

// Timeout bounds one run: the program is meant to read a local list, not to call a directory.
const Timeout = 10 * time.Second

// maxStderr bounds what is kept of the program's stderr.
const maxStderr = 4 << 10

// Run executes program with the account name as its only argument. ran is false when it could
// not start or did not finish within Timeout; stderr is at most 4 KiB.
func Run(ctx context.Context, program, account string) (ran bool, status int, stderr string) {
	ctx, cancel := context.WithTimeout(ctx, Timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, program, account)
	var errBuf bytes.Buffer
	cmd.Stderr = &limitWriter{w: &errBuf, n: maxStderr}
	cmd.Stdout = io.Discard
	cmd.WaitDelay = time.Second
	err := cmd.Run()
	stderr = strings.TrimSpace(errBuf.String())
	var ee *exec.ExitError
	switch {
	case err == nil:
		return true, 0, stderr
	case ctx.Err() != nil:
		return false, 0, stderr
	case errors.As(err, &ee) && ee.Exited():
		return true, ee.ExitCode(), stderr
	}
	return false, 0, stderr
}

type limitWriter struct {
	w io.Writer
	n int
}

func (l *limitWriter) Write(p []byte) (int, error) {
	if l.n > 0 {
		k := min(len(p), l.n)
		l.n -= k
		_, _ = l.w.Write(p[:k])
	}
	return len(p), nil
}
