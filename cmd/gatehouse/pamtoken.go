package main

import (
	"flag"
	"fmt"
	"io"
	"regexp"
	"strings"

	"gatehouse/internal/pamverify"
)

// pamTokenCmd makes a target's token for the PAM endpoint: the token goes to the target
// (token_file of pam_gatehouse.so), only its hash to the bastion's configuration.
// pamTokenFlags are pam-token's options, for the command and for its help and man page.
func pamTokenFlags(stderr io.Writer) (fs *flag.FlagSet, server, addrs *string) {
	fs = flag.NewFlagSet("pam-token", flag.ContinueOnError)
	fs.SetOutput(stderr)
	server = fs.String("server", "", "the server's name in [pam.servers]")
	addrs = fs.String("addresses", "", "comma-separated addresses the bastion dials it by")
	return fs, server, addrs
}

func pamTokenCmd(args []string, stdout, stderr io.Writer) error {
	fs, server, addrs := pamTokenFlags(stderr)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if !regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`).MatchString(*server) {
		return fmt.Errorf("--server: give the server's name (letters, digits, '.', '_', '-')")
	}
	token, sum, err := pamverify.NewToken()
	if err != nil {
		return err
	}
	var quoted []string
	for _, a := range strings.Split(*addrs, ",") {
		if a = strings.TrimSpace(a); a != "" {
			quoted = append(quoted, fmt.Sprintf("%q", a))
		}
	}
	fmt.Fprintf(stdout, "# On %s, in /etc/gatehouse/pam.token (mode 0600, owner root):\n%s\n\n", *server, token)
	fmt.Fprintf(stdout, "# In the bastion's configuration:\n[pam.servers.%s]\ntoken_sha256 = %q\naddresses = [%s]\nfactor = \"totp\"\n",
		*server, sum, strings.Join(quoted, ", "))
	return nil
}
