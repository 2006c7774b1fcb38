// Package egress is the bastion's SSH client to targets: egress key pairs,
// known host keys, the connection and the session relay.
//
// Lifecycle of one connection:
//
//  1. The caller decides the access (package access) and loads the signers
//     of the keys it chose (ParseSigner on the unsealed private PEM).
//  2. Dial connects, checks the host key with a HostKeyPolicy backed by a
//     KnownHosts store, and authenticates by offering every signer. Every
//     failure is a *DialError whose Reason classifies it and whose message
//     names the target, like OpenSSH's; the process should exit ExitStatus
//     (255). Dial is bounded by DialTimeout and HandshakeTimeout and by ctx.
//  3. RunSession opens one session channel and relays it with the user's
//     streams until either side ends; it returns the exit status or signal.
//  4. The caller closes the *ssh.Client.
//
// Invariants: host key checks fail closed (a store error refuses the
// connection, an unknown key under "yes" or a changed key under "yes" or
// "accept-new" refuses it); the only goroutine a connection from Dial keeps
// is the one refusing what the target asks of it (channels back, global
// requests), which RunSession's loop takes over while a session runs and
// which ends with the connection; RunSession's goroutines end with it (see
// RunSession for the stdin reader). Nothing
// here logs; events (host keys) go to a callback, and private keys never
// leave the values the caller holds.
package egress
