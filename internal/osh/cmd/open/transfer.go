package open

import (
	"context"
	"fmt"
	"net"
	"regexp"
	"strings"

	"gatehouse/internal/osh"
)

// RegisterTransfer adds the commands that set up file transfers through the bastion:
// selfSshConfig (the transparent way, one ssh_config stanza) and scp, sftp and rsync (The
// Bastion's way: a small wrapper given to `scp -S`, `sftp -S`, `rsync -e`). Both end in the
// same place: the client's inner SSH session ends at the bastion (ProxyJump, docs/transfer.md),
// which checks the access, records and audits, and connects onward with the egress keys.
func RegisterTransfer(r *osh.Registry) {
	hostOpts := []osh.Option{
		{Name: "bastion-host", Kind: osh.String, Help: "the bastion's name or address as your client reaches it (default: the address you reached)"},
		{Name: "bastion-port", Kind: osh.Int, Help: "its port (default: the port you reached)"},
	}
	r.Add(
		&osh.Command{Name: "selfSshConfig", Category: osh.Open, Summary: "the ssh_config stanza and known_hosts line for plain ssh, scp, sftp, rsync and git through the bastion",
			MFASetupNotRequired: true,
			Options: append([]osh.Option{{Name: "hosts", Kind: osh.String, Help: "the servers reached through the bastion, ssh_config patterns separated by commas (default: *)"},
				{Name: "alias", Kind: osh.String, Help: "the bastion's Host alias (default: the bastion's name)"}}, hostOpts...),
			Run: selfSshConfig},
		&osh.Command{Name: "scp", Category: osh.Open, Summary: "the wrapper to give to scp -S", Options: hostOpts, Run: wrapperCommand("scp")},
		&osh.Command{Name: "sftp", Category: osh.Open, Summary: "the wrapper to give to sftp -S", Options: hostOpts, Run: wrapperCommand("sftp")},
		&osh.Command{Name: "rsync", Category: osh.Open, Summary: "the wrapper to give to rsync -e", Options: hostOpts, Run: wrapperCommand("rsync")},
	)
}

// sshWord is what may appear unquoted in ssh_config and in the wrappers: host names,
// addresses, patterns, account names.
var sshWord = regexp.MustCompile(`^[A-Za-z0-9._:\[\]*?!@%-]{1,253}$`)

// bastionAddr is the bastion as the client reaches it: the options, else the session's local
// address.
func bastionAddr(c *osh.Call) (host string, port int, r *osh.Result) {
	host, port = c.Args.String("bastion-host"), c.Args.Int("bastion-port")
	if la := c.Sess.LocalAddr; la != nil {
		if h, p, err := net.SplitHostPort(la.String()); err == nil {
			if host == "" {
				host = h
			}
			if port == 0 {
				// SplitHostPort of a listening address: p is a number; 0 keeps the default.
				_, _ = fmt.Sscan(p, &port)
			}
		}
	}
	if host == "" || !sshWord.MatchString(host) || strings.ContainsAny(host, "*?!@%") {
		f := osh.Fail("", "ERR_INVALID_PARAMETER", "give the bastion's address with --bastion-host NAME")
		return "", 0, &f
	}
	if port < 1 || port > 65535 {
		f := osh.Fail("", "ERR_INVALID_PARAMETER", "give the bastion's port with --bastion-port N")
		return "", 0, &f
	}
	return host, port, nil
}

func jumpCA(c *osh.Call) (string, *osh.Result) {
	if c.Env.JumpCA == nil {
		f := osh.Fail("", "ERR_UNAVAILABLE", "this bastion does not serve ProxyJump")
		return "", &f
	}
	return c.Env.JumpCA(), nil
}

func selfSshConfig(ctx context.Context, c *osh.Call) osh.Result {
	host, port, bad := bastionAddr(c)
	if bad != nil {
		return *bad
	}
	ca, bad := jumpCA(c)
	if bad != nil {
		return *bad
	}
	alias := c.Args.String("alias")
	if alias == "" {
		alias = c.Cfg().BastionName
	}
	hosts := c.Args.String("hosts")
	if hosts == "" {
		hosts = "*"
	}
	patterns := strings.Split(hosts, ",")
	for _, p := range patterns {
		if !sshWord.MatchString(p) || strings.ContainsAny(p, "@%") {
			return osh.Fail("", "ERR_INVALID_PARAMETER", "--hosts: %q is not an ssh_config host pattern", p)
		}
	}
	if !sshWord.MatchString(alias) || strings.ContainsAny(alias, "*?!@%") {
		return osh.Fail("", "ERR_INVALID_PARAMETER", "--alias: %q is not a host alias", alias)
	}
	account := c.Caller().Name
	stanza := fmt.Sprintf("Host %s\n    HostName %s\n    Port %d\n    User %s\n\nHost %s !%s\n    ProxyJump %s\n",
		alias, host, port, account, strings.Join(patterns, " "), alias, alias)
	// known_hosts names a server on another port than 22 as [host]:port.
	var khPatterns []string
	for _, p := range patterns {
		khPatterns = append(khPatterns, p, "["+p+"]:*")
	}
	known := "@cert-authority " + strings.Join(khPatterns, ",") + " " + ca
	c.P.Line("Add this to your ~/.ssh/config:")
	c.P.Line("")
	c.P.Line("%s", stanza)
	c.P.Line("and this line to your ~/.ssh/known_hosts (the servers behind the bastion are then")
	c.P.Line("known by the bastion's certificates):")
	c.P.Line("")
	c.P.Line("%s", known)
	c.P.Line("")
	c.P.Line("Then ssh, scp, sftp, rsync and git reach them as usual, e.g. scp file root@10.0.0.5:/tmp/")
	return osh.OK("", map[string]any{"ssh_config": stanza, "known_hosts": known, "bastion": alias})
}

// wrapperCommand prints The Bastion's kind of wrapper: a script the client's -S/-e runs in
// place of ssh. It opens the same inner session through the bastion as the stanza does, so the
// transfer gets the same checks, MFA, recording and audit.
func wrapperCommand(tool string) func(context.Context, *osh.Call) osh.Result {
	return func(ctx context.Context, c *osh.Call) osh.Result {
		host, port, bad := bastionAddr(c)
		if bad != nil {
			return *bad
		}
		ca, bad := jumpCA(c)
		if bad != nil {
			return *bad
		}
		account := c.Caller().Name
		if strings.Contains(host, ":") {
			host = "[" + host + "]"
		}
		script := fmt.Sprintf(`#!/bin/sh
# gatehouse %[1]s wrapper for %[2]s: the transfer goes through the bastion, which checks the
# access, records and audits it. Save as ~/bin/gatehouse-%[1]s, chmod +x, then:
#   %[5]s
kh="${HOME}/.ssh/gatehouse_known_hosts"
if [ ! -f "$kh" ]; then
    mkdir -p "${HOME}/.ssh" && printf '%%s\n' '@cert-authority * %[4]s' > "$kh" || exit 255
fi
exec ssh -J '%[2]s@%[3]s' -o UserKnownHostsFile="$kh" -o StrictHostKeyChecking=yes "$@"
`, tool, account, fmt.Sprintf("%s:%d", host, port), ca, usage(tool))
		c.P.Line("%s", script)
		return osh.OK("", map[string]any{"script": script, "usage": usage(tool)})
	}
}

func usage(tool string) string {
	switch tool {
	case "scp":
		return "scp -S ~/bin/gatehouse-scp FILE root@10.0.0.5:/tmp/"
	case "sftp":
		return "sftp -S ~/bin/gatehouse-sftp root@10.0.0.5"
	}
	return "rsync -av -e ~/bin/gatehouse-rsync DIR/ root@10.0.0.5:/srv/DIR/"
}
