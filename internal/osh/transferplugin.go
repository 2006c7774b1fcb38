package osh

import (
	"strings"

	"gatehouse/internal/access"
)

// transferPlugins are The Bastion's plugins that take a target (--host, --user, --port before
// --osh) and relay a transfer to it: its scp and sftp wrappers, and its Ansible wrapper, send
// them. Without --host they print the wrapper (internal/osh/cmd/open/transfer.go).
var transferPlugins = map[string]bool{"scp": true, "sftp": true}

// TransferPlugin turns The Bastion's `--user U --port P --host H --osh scp --scp-cmd CMD` and
// `… --osh sftp` into the target request they stand for, so that they go through the same
// connector as `U@H -p P -- CMD` (access decision, protocol grant, MFA, recording, audit):
//   - sftp: the target's sftp subsystem, relayed on the session's streams (and audited
//     operation by operation);
//   - scp --scp-cmd CMD: CMD with The Bastion's encoding undone ('#' for a space, "##" for '#');
//     it must be scp's server side (scp … -t or -f) and nothing else: no shell syntax;
//     "sftp" (a recent scp in its SFTP mode) is the sftp subsystem.
//
// Any other request is returned unchanged. A bad one is a grammar error (nothing runs).
func TransferPlugin(r Request) (Request, error) {
	if !transferPlugins[r.Osh] || r.Host == "" {
		return r, nil
	}
	out := r
	out.Osh, out.OshArgs = "", nil
	switch r.Osh {
	case "sftp":
		if len(r.OshArgs) != 0 {
			return r, gerr("--osh sftp with a host takes no option, got %q", r.OshArgs[0])
		}
		out.Subsystem = "sftp"
	case "scp":
		enc, err := scpCmdOption(r.OshArgs)
		if err != nil {
			return r, err
		}
		cmd := DecodeScpCmd(enc)
		if cmd == "sftp" {
			out.Subsystem = "sftp"
			break
		}
		if p := access.TransferOf(cmd); p != access.ProtoSCPUp && p != access.ProtoSCPDown {
			return r, gerr("--scp-cmd must be scp's server side (scp … -t PATH or scp … -f PATH), got %q", cmd)
		}
		if strings.ContainsAny(cmd, "\x00\r\n;&|`$<>(){}\\") {
			return r, gerr("--scp-cmd %q holds shell syntax: only scp's own command line is relayed", cmd)
		}
		out.RemoteCommand, out.RemoteCommandLine = []string{cmd}, cmd
	}
	return out, nil
}

// scpCmdOption reads --scp-cmd VALUE (or --scp-cmd=VALUE), the one option taken.
func scpCmdOption(args []string) (string, error) {
	switch {
	case len(args) == 1 && strings.HasPrefix(args[0], "--scp-cmd="):
		return strings.TrimPrefix(args[0], "--scp-cmd="), nil
	case len(args) == 2 && args[0] == "--scp-cmd":
		return args[1], nil
	case len(args) == 0:
		return "", gerr("--osh scp with a host needs --scp-cmd")
	}
	return "", gerr("--osh scp with a host takes --scp-cmd CMD only, got %q", args)
}

// DecodeScpCmd undoes The Bastion's wrappers' encoding of scp's command: '#' stands for a space
// and "##" for '#'.
func DecodeScpCmd(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '#' {
			b.WriteByte(s[i])
			continue
		}
		if i+1 < len(s) && s[i+1] == '#' {
			b.WriteByte('#')
			i++
			continue
		}
		b.WriteByte(' ')
	}
	return b.String()
}
