package open

import (
	"net"
	"strings"
)

// BastionAlias fills in bastionCommand for account: ACCOUNT (or USER, The Bastion's word)
// becomes the account, HOST and PORT the address the client reached (local, the bastion's
// side of the connection), and The Bastion's own placeholders keep working: HOSTNAME is the
// machine's name (hostname), BASTIONNAME (or CACHENAME) the bastion's name. One pass, longest
// placeholder first: HOSTNAME is never read as HOST followed by "NAME", and a value that happens
// to hold a placeholder's letters is not replaced again.
func BastionAlias(command, account, bastionName, hostname string, local net.Addr) string {
	host, port := "HOST", "PORT"
	if local != nil {
		if h, p, err := net.SplitHostPort(local.String()); err == nil {
			host, port = h, p
		}
	}
	if hostname == "" {
		hostname = host
	}
	return strings.NewReplacer("HOSTNAME", hostname, "BASTIONNAME", bastionName, "CACHENAME", bastionName,
		"ACCOUNT", account, "USER", account, "HOST", host, "PORT", port).Replace(command)
}
