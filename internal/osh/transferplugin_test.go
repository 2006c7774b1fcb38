package osh

import (
	"strings"
	"testing"
)

// TestTransferPlugin: The Bastion's `--user U --port P --host H --osh scp|sftp …` lines (its scp,
// sftp and Ansible wrappers send them) become the target request they stand for, or a grammar
// error: only scp's server side, never shell syntax, never an unknown option.
func TestTransferPlugin(t *testing.T) {
	for _, c := range []struct {
		line      string
		ok        bool
		cmd, sub  string
		user, hst string
		port      int
	}{
		{"--user root --port 2222 --host 10.0.0.5 --osh scp --scp-cmd scp#-t#/tmp/x", true, "scp -t /tmp/x", "", "root", "10.0.0.5", 2222},
		{"--user root --host 10.0.0.5 --osh scp --scp-cmd=scp#-v#-f#/etc/hostname", true, "scp -v -f /etc/hostname", "", "root", "10.0.0.5", 0},
		{"--user root --host 10.0.0.5 --osh scp --scp-cmd scp#-t#/tmp/a##b", true, "scp -t /tmp/a#b", "", "root", "10.0.0.5", 0},
		{"--user root --host 10.0.0.5 --osh scp --scp-cmd sftp", true, "", "sftp", "root", "10.0.0.5", 0},
		{"--user root --port 22 --host 10.0.0.5 --osh sftp", true, "", "sftp", "root", "10.0.0.5", 22},
		{"-q -T --never-escape --user root --port 22 10.0.0.5 -- /bin/sh -c 'echo ~root && sleep 0'", true, "/bin/sh -c 'echo ~root && sleep 0'", "", "root", "10.0.0.5", 22},
		{"--osh scp", true, "", "", "", "", 0}, // no host: prints the wrapper (unchanged)
		// refused
		{"--host 10.0.0.5 --osh scp", false, "", "", "", "", 0},
		{"--host 10.0.0.5 --osh scp --scp-cmd rm#-rf#/", false, "", "", "", "", 0},
		{"--host 10.0.0.5 --osh scp --scp-cmd scp#-t#/x;id", false, "", "", "", "", 0},
		{"--host 10.0.0.5 --osh scp --scp-cmd scp#-t#$(id)", false, "", "", "", "", 0},
		{"--host 10.0.0.5 --osh scp --scp-cmd scp#/x", false, "", "", "", "", 0},
		{"--host 10.0.0.5 --osh scp --scp-cmd scp#-t#/x --other", false, "", "", "", "", 0},
		{"--host 10.0.0.5 --osh sftp --scp-cmd x", false, "", "", "", "", 0},
		{"--host 10.0.0.5 --osh accountList", false, "", "", "", "", 0},
		{"-i --osh sftp", false, "", "", "", "", 0},
	} {
		r, err := ParseLine(c.line)
		if err == nil {
			r, err = TransferPlugin(r)
		}
		if (err == nil) != c.ok {
			t.Errorf("%q: err %v, want ok=%v", c.line, err, c.ok)
			continue
		}
		if !c.ok || c.line == "--osh scp" {
			continue
		}
		if r.Osh != "" || r.Command() != c.cmd || r.Subsystem != c.sub || r.User != c.user || r.Host != c.hst || r.Port != c.port {
			t.Errorf("%q: %+v", c.line, r)
		}
	}
}

// FuzzDecodeScpCmd: decoding undoes the wrappers' encoding ('#' doubled, then ' ' as '#') for
// every command where it is not ambiguous, and whatever --scp-cmd holds, an accepted one is scp's server side without shell
// syntax.
func FuzzDecodeScpCmd(f *testing.F) {
	for _, s := range []string{"scp -t /tmp/x", "scp -f /a#b", "sftp", "scp -t /x;id", "##", "#"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, cmd string) {
		enc := strings.ReplaceAll(strings.ReplaceAll(cmd, "#", "##"), " ", "#")
		// The encoding is ambiguous where a space touches another space or a '#' (The
		// Bastion's own decoder is too); scp's command lines have neither.
		ambiguous := strings.Contains(cmd, "  ") || strings.Contains(cmd, " #") || strings.Contains(cmd, "# ")
		if got := DecodeScpCmd(enc); got != cmd && !ambiguous {
			t.Fatalf("%q encoded as %q decodes to %q", cmd, enc, got)
		}
		r, err := TransferPlugin(Request{Osh: "scp", Host: "h", OshArgs: []string{"--scp-cmd", cmd}})
		if err != nil || r.Subsystem != "" {
			return
		}
		got := r.Command()
		if strings.ContainsAny(got, ";&|`$<>(){}\\\n\r\x00") || !strings.HasPrefix(strings.TrimLeft(got, "/usrbin"), "scp") && !strings.Contains(strings.Fields(got)[0], "scp") {
			t.Fatalf("--scp-cmd %q accepted as %q", cmd, got)
		}
	})
}
