package audit

import (
	"errors"
	"fmt"
	"os"
)

// SignedPrefix returns how many bytes at the start of the log file at path end with a signed
// checkpoint line: the part of the current file that can be copied elsewhere (the archive) and
// verified there on its own, its last line a checkpoint. 0 when no line is a checkpoint. It does
// not check signatures (Verify does, on the copy).
func SignedPrefix(path string) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer func() { _ = f.Close() }() // read only
	var off, signed int64
	err = eachLine(f, func(line []byte, complete bool) error {
		if !complete {
			return errPrefixEnd
		}
		off += int64(len(line)) + 1
		if rec, err := parseRecord(line); err == nil && rec.Type == TypeCheckpoint {
			signed = off
		}
		return nil
	})
	if err != nil && !errors.Is(err, errPrefixEnd) {
		return signed, fmt.Errorf("audit: read %s: %w", path, err)
	}
	return signed, nil
}

var errPrefixEnd = errors.New("incomplete last line")
