// Package history keeps each account's interactive-mode command history in the data directory,
// one file per account id (an account recreated under a deleted one's name starts afresh), so
// that the Up key brings back the lines of earlier sessions. It is bounded, written 0600, and
// holds only what its caller lets it persist: never what was typed at a password prompt (the
// line editor does not hand those over) nor lines that are not commands.
package history

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"unicode"
)

// DefaultMax is how many lines an account's history keeps.
const DefaultMax = 500

// maxLine is the longest line kept (a pasted key is shorter; anything longer is not history).
const maxLine = 4096

// Dir opens the histories kept in one directory.
type Dir struct {
	Path string
	Max  int // lines kept per account; DefaultMax when 0
}

var idRe = regexp.MustCompile(`^[A-Za-z0-9_-]{1,128}$`)

// History is one account's history: golang.org/x/term's History (At(0) is the most recent
// line). Every line added is kept for the session; those Persist accepts are also appended to
// the account's file. Safe for concurrent use.
type History struct {
	mu      sync.Mutex
	lines   []string // oldest first
	path    string   // "" : not persisted
	max     int
	onDisk  int // lines in the file, to know when to compact it
	Persist func(line string) bool
}

// Open loads account id's history (empty when it has none yet). An id that cannot name a file
// gets a history kept for the session only.
func (d Dir) Open(id string) (*History, error) {
	max := d.Max
	if max <= 0 {
		max = DefaultMax
	}
	h := &History{max: max}
	if !idRe.MatchString(id) || d.Path == "" {
		return h, nil
	}
	if err := os.MkdirAll(d.Path, 0o700); err != nil {
		return h, fmt.Errorf("history directory: %w", err)
	}
	h.path = filepath.Join(d.Path, id)
	f, err := os.Open(h.path)
	if errors.Is(err, os.ErrNotExist) {
		return h, nil
	}
	if err != nil {
		return h, fmt.Errorf("open history: %w", err)
	}
	defer func() { _ = f.Close() }() // read only: a close error loses nothing
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64*1024), maxLine+1)
	for sc.Scan() {
		if l := clean(sc.Text()); l != "" {
			h.lines = append(h.lines, l)
			h.onDisk++
		}
	}
	if len(h.lines) > max {
		h.lines = h.lines[len(h.lines)-max:]
	}
	return h, sc.Err()
}

// clean drops control characters (a line replayed by Up must not move the cursor) and lines
// too long to be a command.
func clean(l string) string {
	if len(l) > maxLine {
		return ""
	}
	l = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return -1
		}
		return r
	}, l)
	return strings.TrimSpace(l)
}

// Add records a line the user entered (the line editor calls it).
func (h *History) Add(entry string) {
	entry = clean(entry)
	h.mu.Lock()
	defer h.mu.Unlock()
	if entry == "" || (len(h.lines) > 0 && h.lines[len(h.lines)-1] == entry) {
		return
	}
	h.lines = append(h.lines, entry)
	if len(h.lines) > h.max {
		h.lines = h.lines[len(h.lines)-h.max:]
	}
	if h.path == "" || h.Persist == nil || !h.Persist(entry) {
		return
	}
	_ = h.persist(entry) // history is a convenience: a full disk must not end the session
}

func (h *History) persist(entry string) error {
	if h.onDisk >= 2*h.max {
		return h.compact()
	}
	f, err := os.OpenFile(h.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	_, err = f.WriteString(entry + "\n")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	h.onDisk++
	return err
}

// compact rewrites the file with the lines kept in memory that were persisted (approximated
// by the filter), through a temporary file and a rename.
func (h *History) compact() error {
	var b strings.Builder
	n := 0
	for _, l := range h.lines {
		if h.Persist(l) {
			b.WriteString(l + "\n")
			n++
		}
	}
	tmp := h.path + ".tmp"
	if err := os.WriteFile(tmp, []byte(b.String()), 0o600); err != nil {
		return err
	}
	if err := os.Rename(tmp, h.path); err != nil {
		return err
	}
	h.onDisk = n
	return nil
}

// Len is the number of lines.
func (h *History) Len() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.lines)
}

// At is the idx-th most recent line (0: the last one).
func (h *History) At(idx int) string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.lines[len(h.lines)-1-idx]
}
