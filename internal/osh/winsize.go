package osh

import (
	"sync"
	"sync/atomic"

	"gatehouse/internal/termsize"
)

// sizeFollower keeps the interactive mode's idea of the terminal's size current: the client's
// window changes arrive on the session's Resize channel, which relays read while they run. It
// reads that channel for the whole mode and hands it a copy (Resize) that receives the changes
// only while a relay runs; between relays it resizes the line editor, and the size it keeps is
// what the box and the Tab-Tab listing are drawn for, and what the next relay asks the target.
type sizeFollower struct {
	cols, rows atomic.Int64
	relaying   atomic.Bool
	Resize     chan termsize.Size // what relays read instead of the session's channel
	editor     interface{ SetSize(int, int) error }
	mu         sync.Mutex // orders SetSize calls between the follower and the relay's end
	done       chan struct{}
}

// followSize starts following in (nil: no pty, nothing to follow) from cols×rows.
func followSize(in <-chan termsize.Size, cols, rows int, editor interface{ SetSize(int, int) error }) *sizeFollower {
	f := &sizeFollower{Resize: make(chan termsize.Size, 1), editor: editor, done: make(chan struct{})}
	f.cols.Store(int64(cols))
	f.rows.Store(int64(rows))
	if in == nil {
		return f
	}
	go func() {
		for {
			select {
			case <-f.done:
				return
			case sz, ok := <-in:
				if !ok {
					return
				}
				f.cols.Store(int64(sz.Cols))
				f.rows.Store(int64(sz.Rows))
				if f.relaying.Load() {
					select {
					case f.Resize <- sz:
					default: // as the session's own channel: a slow relay loses intermediate sizes
					}
					continue
				}
				f.mu.Lock()
				_ = f.editor.SetSize(int(sz.Cols), int(sz.Rows))
				f.mu.Unlock()
			}
		}
	}()
	return f
}

// size is the terminal's size now.
func (f *sizeFollower) size() (cols, rows int) { return int(f.cols.Load()), int(f.rows.Load()) }

// relay marks a relay running (true) or over (false); at its end the editor gets the size the
// window has now, whatever changed meanwhile.
func (f *sizeFollower) relay(on bool) {
	f.relaying.Store(on)
	if !on {
		f.mu.Lock()
		c, r := f.size()
		if c > 0 && r > 0 {
			_ = f.editor.SetSize(c, r)
		}
		f.mu.Unlock()
	}
}

func (f *sizeFollower) stop() { close(f.done) }
