package common

import (
	"errors"
	"fmt"
	"io"

	"gatehouse/internal/osh"
)

// ErrInputAborted is ReadAllInput's answer to ^C typed on a terminal.
var ErrInputAborted = errors.New("aborted (^C)")

// ReadAllInput reads what a command takes whole from standard input (a server list, a
// ~/.google_authenticator file), at most limit+1 bytes so that the caller can tell a larger
// input. From a pipe it reads to the end. On a terminal (ssh -t, the -i prompt) there is no end:
// the client's terminal is raw and the bastion has no line discipline, so the ^D the prompt asks
// for is a plain byte, and a read to the end waited for ever (the session was stuck until the
// client cut it). There, ^D ends the input, ^C aborts it, and Enter's CR is a line break.
func ReadAllInput(c *osh.Call, limit int64) ([]byte, error) {
	in := io.LimitReader(c.Sess.In, limit+1)
	if !c.Sess.HasTerminal() {
		return io.ReadAll(in)
	}
	var data []byte
	b := make([]byte, 1) // a byte at a time: what is typed after ^D is the next prompt's
	for int64(len(data)) <= limit {
		n, err := in.Read(b)
		if n == 1 {
			switch b[0] {
			case 4: // ^D
				return data, nil
			case 3: // ^C
				return nil, ErrInputAborted
			case '\r':
				b[0] = '\n'
			}
			data = append(data, b[0])
		}
		if errors.Is(err, io.EOF) {
			return data, nil
		}
		if err != nil {
			return nil, fmt.Errorf("reading standard input: %w", err)
		}
	}
	return data, nil
}
