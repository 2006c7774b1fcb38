package record

// Output without a copy. A relay reads the target's output into a 256 KiB buffer and hands it to
// the user's channel and to the recorder; Output copies it into a batch on the session's
// goroutine, and the worker copies the batch again into the chunk it builds (perf: those two
// copies were a fifth of the recorder's CPU on random output, as much as a third of SHA-256's).
// OutputOwned takes the buffer itself instead: the batch is the relay's buffer, and the relay
// reads on into a buffer the recorder is done with.

// maxOwned bounds the buffers OutputOwned took that a recorder holds (queued, at the worker, or
// done with and kept for the caller): with the one the caller reads into, a busy recording
// holds at most maxOwned+1 of the relay's 256 KiB buffers (1 MiB; Output's batches held 512
// KiB and the relay's buffer 256 KiB), and an idle one none (the worker drops the spares when
// it goes idle, as it does the batches). At the bound, OutputOwned waits for the worker to be
// done with one (back-pressure, as a full queue makes Output wait).
const maxOwned = queueLen + 1

// minOwned is the least output OutputOwned takes whole: smaller output is gathered into a batch
// as Output does (a batch wakes the worker once per batchBytes, where each small read would).
const minOwned = batchBytes / 2

// OutputOwned records p as Output does, and may keep p's array instead of copying it: the caller
// must not touch p again. It returns the buffer for the caller's next read: p itself when it
// was not kept (stealth, small, closed), a buffer of an earlier call that the recorder is done
// with (len = cap), or nil (kept, none to give back: the caller takes a new one).
//
// One goroutine per recorder may call it (a relay of the target's output): a buffer is given
// back only in a later call, so whatever the caller did with it after the call that gave it
// (writing it to the user) is over. Two callers could get each other's buffer while still
// writing it.
func (r *recorder) OutputOwned(p []byte) []byte {
	if r.stealth || len(p) < minOwned {
		r.Output(p)
		return p
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return p
	}
	at := r.now()
	r.flushBatch() // what was gathered before goes first
	r.enqueue(item{kind: KindOutput, at: at, data: p, marks: []mark{{end: len(p), at: at}}, owned: true})
	r.owned++
	var it item
	if r.owned < maxOwned {
		select {
		case it = <-r.ownedFree:
		default:
			return nil // the caller takes a buffer of its own: one more in circulation
		}
	} else {
		it = <-r.ownedFree // the worker holds p or an earlier one: it gives one back soon
	}
	r.owned--
	return it.data[:cap(it.data)]
}
