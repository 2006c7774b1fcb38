package egress

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// HostKeyMode is The Bastion's --egress-strict-host-key-checking value,
// with OpenSSH's StrictHostKeyChecking meaning.
type HostKeyMode string

const (
	// HostKeyYes trusts only keys already known: an unknown host is refused.
	HostKeyYes HostKeyMode = "yes"
	// HostKeyAcceptNew (the default) records the key of an unknown host
	// (trust on first use) and refuses a host whose key changed.
	HostKeyAcceptNew HostKeyMode = "accept-new"
	// HostKeyNo records unknown keys and, like OpenSSH, lets a changed key
	// through with a warning event, without replacing the recorded key.
	HostKeyNo HostKeyMode = "no"
	// HostKeyBypass neither reads nor writes known keys and accepts any key
	// (OpenSSH's UserKnownHostsFile=/dev/null StrictHostKeyChecking=no).
	HostKeyBypass HostKeyMode = "bypass"
)

// ParseHostKeyMode reads an --egress-strict-host-key-checking value. "ask"
// cannot prompt from a bastion, so it is treated as "yes" (fail closed);
// "" and "default" give the default, accept-new (the caller maps "default"
// to its configured value first if it has one).
func ParseHostKeyMode(s string) (HostKeyMode, error) {
	switch s {
	case "", "default":
		return HostKeyAcceptNew, nil
	case "ask":
		return HostKeyYes, nil
	case string(HostKeyYes), string(HostKeyAcceptNew), string(HostKeyNo), string(HostKeyBypass):
		return HostKeyMode(s), nil
	}
	return "", fmt.Errorf("invalid strict host key checking mode %q: use yes, accept-new, no, ask, default or bypass", s)
}

// KnownHosts stores the host keys each account has seen. hostport is in
// known_hosts form ("10.0.0.5" for port 22, "[10.0.0.5]:2222" otherwise, see
// knownhosts.Normalize). The lead implements it over the store; an error
// from Lookup or Add refuses the connection (fail closed).
type KnownHosts interface {
	Lookup(ctx context.Context, account, hostport string) ([]ssh.PublicKey, error)
	Add(ctx context.Context, account, hostport string, key ssh.PublicKey) error
}

// HostKeyEventKind says what happened to a host key during a dial.
type HostKeyEventKind string

const (
	HostKeyMatched         HostKeyEventKind = "matched"          // a known key was presented
	HostKeyLearned         HostKeyEventKind = "learned"          // unknown host, key recorded (accept-new, no)
	HostKeyUnknownRefused  HostKeyEventKind = "unknown-refused"  // unknown host under "yes"
	HostKeyChangedRefused  HostKeyEventKind = "changed-refused"  // key differs from the recorded ones
	HostKeyChangedAccepted HostKeyEventKind = "changed-accepted" // key differs, let through under "no"
	HostKeyBypassed        HostKeyEventKind = "bypassed"         // bypass mode, not checked
)

// HostKeyEvent reports a host key decision, for the audit log.
type HostKeyEvent struct {
	Kind        HostKeyEventKind
	Account     string
	HostPort    string
	Fingerprint string   // of the presented key
	KeyType     string   // of the presented key
	Known       []string // fingerprints already recorded, for changed keys
}

// HostKeyPolicy decides which target host keys are trusted.
type HostKeyPolicy struct {
	Mode    HostKeyMode // zero value: accept-new
	Account string      // whose known hosts are used
	Store   KnownHosts  // required unless Mode is bypass
	// OnEvent, when set, is called once per dial with the decision taken;
	// the caller writes changed-* and unknown-refused events to the audit log.
	OnEvent func(HostKeyEvent)
}

// HostKeyError is returned (wrapped in a *DialError) when a host key is
// refused.
type HostKeyError struct {
	Event HostKeyEvent
}

func (e *HostKeyError) Error() string {
	ev := e.Event
	if ev.Kind == HostKeyUnknownRefused {
		return fmt.Sprintf("No %s host key is known for %s and you have requested strict checking.\nHost key verification failed.", ev.KeyType, ev.HostPort)
	}
	var b strings.Builder
	b.WriteString("@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\n")
	b.WriteString("@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\n")
	b.WriteString("@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\n")
	b.WriteString("IT IS POSSIBLE THAT SOMEONE IS DOING SOMETHING NASTY!\n")
	fmt.Fprintf(&b, "The %s host key for %s has changed.\n", ev.KeyType, ev.HostPort)
	fmt.Fprintf(&b, "The fingerprint for the %s key sent by the remote host is\n%s.\n", ev.KeyType, ev.Fingerprint)
	fmt.Fprintf(&b, "The recorded key fingerprint(s): %s.\n", strings.Join(ev.Known, ", "))
	b.WriteString("If the change is expected, remove the recorded key with --osh selfForgetHostKey (or ask an admin for assetForgetHostKey), then connect again.\n")
	fmt.Fprintf(&b, "Host key for %s has changed and you have requested strict checking.\nHost key verification failed.", ev.HostPort)
	return b.String()
}

// hostKeyStoreError is a failure of KnownHosts.Add during the handshake.
type hostKeyStoreError struct{ err error }

func (e *hostKeyStoreError) Error() string { return e.err.Error() }
func (e *hostKeyStoreError) Unwrap() error { return e.err }

// hostKeyCheck is the per-dial state of a HostKeyPolicy: the keys looked up
// before the handshake, and the event decided by the callback.
type hostKeyCheck struct {
	policy   HostKeyPolicy
	hostport string
	known    []ssh.PublicKey
}

// newHostKeyCheck looks the host up (unless bypassed) so the handshake can
// prefer the algorithms of keys already known.
func newHostKeyCheck(ctx context.Context, p HostKeyPolicy, addr string) (*hostKeyCheck, error) {
	if p.Mode == "" {
		p.Mode = HostKeyAcceptNew
	}
	c := &hostKeyCheck{policy: p, hostport: knownhosts.Normalize(addr)}
	switch p.Mode {
	case HostKeyBypass:
		return c, nil
	case HostKeyYes, HostKeyAcceptNew, HostKeyNo:
	default:
		return nil, fmt.Errorf("invalid host key mode %q", p.Mode)
	}
	if p.Store == nil {
		return nil, fmt.Errorf("host key mode %s needs a known hosts store", p.Mode)
	}
	known, err := p.Store.Lookup(ctx, p.Account, c.hostport)
	if err != nil {
		return nil, fmt.Errorf("look up known host keys of %s: %w", c.hostport, err)
	}
	c.known = known
	return c, nil
}

// algorithms lists the host key algorithms to offer: those of known keys
// first, so a server with several keys presents the one we recorded, then
// the rest in x/crypto's order.
func (c *hostKeyCheck) algorithms() []string {
	var out []string
	for _, k := range c.known {
		for _, a := range algorithmsFor(k.Type()) {
			if !slices.Contains(out, a) {
				out = append(out, a)
			}
		}
	}
	if out == nil {
		return nil // x/crypto's default
	}
	for _, a := range ssh.SupportedAlgorithms().HostKeys {
		if !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	return out
}

func algorithmsFor(keyType string) []string {
	if keyType == ssh.KeyAlgoRSA {
		return []string{ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256}
	}
	return []string{keyType}
}

// callback is the ssh.HostKeyCallback. ctx bounds the store write.
func (c *hostKeyCheck) callback(ctx context.Context) ssh.HostKeyCallback {
	return func(_ string, _ net.Addr, key ssh.PublicKey) error {
		ev := HostKeyEvent{Account: c.policy.Account, HostPort: c.hostport, Fingerprint: ssh.FingerprintSHA256(key), KeyType: keyTypeName(key)}
		var err error
		switch {
		case c.policy.Mode == HostKeyBypass:
			ev.Kind = HostKeyBypassed
		case c.isKnown(key):
			ev.Kind = HostKeyMatched
		case len(c.known) > 0:
			// Any recorded key for this host, of any type, makes another key
			// a change: a known host never silently gains a new identity.
			for _, k := range c.known {
				ev.Known = append(ev.Known, ssh.FingerprintSHA256(k))
			}
			ev.Kind = HostKeyChangedRefused
			if c.policy.Mode == HostKeyNo {
				ev.Kind = HostKeyChangedAccepted
			}
		case c.policy.Mode == HostKeyYes:
			ev.Kind = HostKeyUnknownRefused
		default:
			ev.Kind = HostKeyLearned
			if aerr := c.policy.Store.Add(ctx, c.policy.Account, c.hostport, key); aerr != nil {
				err = &hostKeyStoreError{fmt.Errorf("record host key of %s: %w", c.hostport, aerr)}
			}
		}
		if c.policy.OnEvent != nil {
			c.policy.OnEvent(ev)
		}
		if err != nil {
			return err
		}
		if ev.Kind == HostKeyChangedRefused || ev.Kind == HostKeyUnknownRefused {
			return &HostKeyError{Event: ev}
		}
		return nil
	}
}

func (c *hostKeyCheck) isKnown(key ssh.PublicKey) bool {
	m := key.Marshal()
	for _, k := range c.known {
		if string(k.Marshal()) == string(m) {
			return true
		}
	}
	return false
}

func keyTypeName(k ssh.PublicKey) string {
	family, _ := KeyInfo(k)
	return family
}

// MemoryKnownHosts is an in-memory KnownHosts, for tests and for callers
// without a store. It is safe for concurrent use.
type MemoryKnownHosts struct {
	mu   sync.Mutex
	keys map[string][]ssh.PublicKey // account + "\x00" + hostport
}

func (m *MemoryKnownHosts) Lookup(_ context.Context, account, hostport string) ([]ssh.PublicKey, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.keys[account+"\x00"+hostport]), nil
}

func (m *MemoryKnownHosts) Add(_ context.Context, account, hostport string, key ssh.PublicKey) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.keys == nil {
		m.keys = map[string][]ssh.PublicKey{}
	}
	k := account + "\x00" + hostport
	m.keys[k] = append(m.keys[k], key)
	return nil
}

// Forget removes every key recorded for hostport by account
// (selfForgetHostKey).
func (m *MemoryKnownHosts) Forget(account, hostport string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.keys, account+"\x00"+hostport)
}
