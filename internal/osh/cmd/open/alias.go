package open

import (
	"net"
	"strings"
)

// BastionAlias fills in bastionCommand for account: ACCOUNT (or USER, The Bastion's word)
// becomes the account, HOST and PORT the address the client reached (local, the bastion's
// side of the connection). One pass: a value that happens to hold a placeholder's letters is
// not replaced again.
func BastionAlias(command, account string, local net.Addr) string {
	host, port := "HOST", "PORT"
	if local != nil {
		if h, p, err := net.SplitHostPort(local.String()); err == nil {
			host, port = h, p
		}
	}
	return strings.NewReplacer("ACCOUNT", account, "USER", account, "HOST", host, "PORT", port).Replace(command)
}
