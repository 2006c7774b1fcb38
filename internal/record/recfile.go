package record

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
)

// recFile is a recording's file, open only while there is something to write. Between the
// timed flushes of an idle session it is closed: a bastion holding thousands of idle sessions
// would otherwise hold a descriptor for each beside the two sockets of its relay (10,000
// sessions under a 20,000 open files limit need it). A session that writes again reopens it
// (one open per burst of output after a quiet flush).
//
// Reopening goes by path, so it checks that the path is still the file Create made (os.SameFile
// on the device and inode): a recording removed, renamed over or replaced by a link meanwhile
// is a write error of the recording, as a full disk is (the recording stops there, and the
// session's end logs and counts it as incomplete), never a write somewhere else.
type recFile struct {
	path string
	id   os.FileInfo // the file Create made
	f    *os.File    // nil while closed
}

func newRecFile(path string, f *os.File) (*recFile, error) {
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("record: recording file: %w", err)
	}
	return &recFile{path: path, id: fi, f: f}, nil
}

// errReplaced is the error of a reopen that found another file at the recording's path.
var errReplaced = errors.New("the recording file was removed or replaced during the session")

// open reopens the file if it is closed.
func (r *recFile) open() error {
	if r.f != nil {
		return nil
	}
	// O_APPEND without O_CREATE: only the file Create made, at its end.
	f, err := os.OpenFile(r.path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return fmt.Errorf("reopen %s: %w", r.path, err)
	}
	fi, err := f.Stat()
	if err == nil && !os.SameFile(fi, r.id) {
		err = errReplaced
	}
	if err != nil {
		_ = f.Close() // not the recording: the error is what matters
		return fmt.Errorf("reopen %s: %w", r.path, err)
	}
	r.f = f
	return nil
}

func (r *recFile) Write(p []byte) (int, error) {
	if err := r.open(); err != nil {
		return 0, err
	}
	return r.f.Write(p)
}

// seekEnd moves the descriptor to the file's end: direct writes (another descriptor) may have
// made the file longer, and the descriptor Create made is not O_APPEND.
func (r *recFile) seekEnd() error {
	if err := r.open(); err != nil {
		return err
	}
	_, err := r.f.Seek(0, io.SeekEnd)
	return err
}

// rest closes the file until the next write; what was written is in the file (a kill -9 after
// it loses nothing of it).
func (r *recFile) rest() error {
	if r.f == nil {
		return nil
	}
	err := r.f.Close()
	r.f = nil
	return err
}

// syncClose makes the recording durable (fsync, reopening the file if it rests) and closes it.
func (r *recFile) syncClose() error {
	if err := r.open(); err != nil {
		return err
	}
	err := r.f.Sync()
	if cerr := r.f.Close(); err == nil {
		err = cerr
	}
	r.f = nil
	return err
}

// sumOnDisk is the SHA-256 and size of the file as it is on disk, if the path is still the file
// Create made. A failed recording uses it: bytes taken for writing but never written (a direct
// stage refused by a full disk) must not be in the hash and size the audit gives for the file.
func (r *recFile) sumOnDisk() (string, int64, error) {
	f, err := os.Open(r.path)
	if err != nil {
		return "", 0, err
	}
	defer func() { _ = f.Close() }() // read only
	fi, err := f.Stat()
	if err != nil {
		return "", 0, err
	}
	if !os.SameFile(fi, r.id) {
		return "", 0, errReplaced
	}
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return "", 0, err
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}
