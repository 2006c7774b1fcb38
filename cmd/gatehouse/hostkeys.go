package main

import (
	"fmt"
	"io"
	"net"
	"strings"

	"golang.org/x/crypto/ssh"

	"gatehouse/internal/ingress"
)

// printHostKeys prints the fingerprints of the host keys gatehouse offers (SHA256, as
// `ssh-keygen -lf` shows them and as ssh asks about them) and the known_hosts lines for
// host:port, so that the first login checks the bastion instead of trusting it blindly, and a
// first login without a terminal (BatchMode, scripts) can succeed at all.
func printHostKeys(w io.Writer, dataDir string, algos []string, host, port string) error {
	keys, err := ingress.OfferedHostKeys(dataDir, algos)
	if err != nil {
		return err
	}
	fmt.Fprintln(w, "Host key fingerprints (ssh shows one of these on the first login: compare before answering yes):")
	for _, k := range keys {
		fmt.Fprintf(w, "  %s %s\n", ssh.FingerprintSHA256(k), k.Type())
	}
	fmt.Fprintln(w, "Or add these lines to ~/.ssh/known_hosts (then no question is asked):")
	for _, k := range keys {
		fmt.Fprintln(w, "  "+knownHostsLine(host, port, k))
	}
	return nil
}

// knownHostsLine is OpenSSH's known_hosts line for host:port: the bare host on port 22,
// "[host]:port" otherwise, IPv6 addresses unbracketed inside.
func knownHostsLine(host, port string, k ssh.PublicKey) string {
	name := host
	if port != "22" {
		name = "[" + host + "]:" + port
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		// Listening on every address: clients use the bastion's name, which we cannot know.
		name = strings.Replace(name, host, "BASTION", 1)
	}
	return name + " " + strings.TrimSpace(string(ssh.MarshalAuthorizedKey(k)))
}
