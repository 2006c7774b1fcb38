package ingress

// maxRefusedForwards bounds the refused tcpip-forward requests (ssh -R) of one connection.
// Each refusal is an audit entry (and, with a target, a log line, a name resolution and store
// reads), and a global request costs the client no round trip: one connection sent 50,000 in
// under a second, 20 MB of audit log, at which pace it fills the disk the audit log shares, and
// a full audit log refuses every login (fail closed). An OpenSSH client asks once per -R
// (maxRemoteListens of them at most are granted): past this many refusals the connection is
// closed, and what more it would have written costs a new login each time.
const maxRefusedForwards = 16

// refusedForwardVerdict decides a tcpip-forward request that comes after refused others on the
// same connection: it is decided (and audited) as usual while fewer than maxRefusedForwards
// were refused; from then on the connection is closed instead, with one audit entry that says
// so (closing), and nothing more (the requests already queued behind it are not audited).
func refusedForwardVerdict(refused int, closing bool) (decide, closeNow bool) {
	switch {
	case closing:
		return false, false
	case refused < maxRefusedForwards:
		return true, false
	}
	return false, true
}

// tooManyRefusedForwards is the comment of the audit entry that closes the connection.
const tooManyRefusedForwards = "too many refused remote forwarding (-R) requests on this connection: it is closed"
