package common

import (
	"crypto/rsa"
	"errors"
	"strings"

	"golang.org/x/crypto/ssh"

	"gatehouse/internal/osh"
	"gatehouse/internal/sshkey"
)

// KeyErrorCode names why sshkey refused an ingress key line with The Bastion's error codes,
// which scripts test: KO_PRIVATE_KEY for a private key pasted by mistake, KO_NOT_A_KEY for what
// is no public key, KO_FORBIDDEN_ALGORITHM and KO_KEY_SIZE_TOO_SMALL for a key of a refused
// kind or strength, ERR_INVALID_PARAMETER for a refused option (from="…").
func KeyErrorCode(line string) string {
	if strings.Contains(line, "PRIVATE KEY") {
		return "KO_PRIVATE_KEY"
	}
	pub, _, _, _, err := ssh.ParseAuthorizedKey([]byte(strings.TrimSpace(line)))
	if err != nil || len(line) > sshkey.MaxLineLen {
		return "KO_NOT_A_KEY"
	}
	switch k := pub.(type) {
	case *ssh.Certificate:
		return "KO_FORBIDDEN_ALGORITHM"
	case ssh.CryptoPublicKey:
		if r, ok := k.CryptoPublicKey().(*rsa.PublicKey); ok && r.N.BitLen() < sshkey.MinRSABits {
			return "KO_KEY_SIZE_TOO_SMALL"
		}
	}
	// The key alone, without the line's options: refused, its kind is; accepted, an option was.
	if _, err := sshkey.Parse(string(ssh.MarshalAuthorizedKey(pub))); err != nil {
		return "KO_FORBIDDEN_ALGORITHM"
	}
	return "ERR_INVALID_PARAMETER"
}

// KeyError is an ingress key refused, with The Bastion's code for why.
type KeyError struct {
	Code string
	Err  error
}

func (e *KeyError) Error() string { return e.Err.Error() }
func (e *KeyError) Unwrap() error { return e.Err }

// KeyFailure is the result of a command whose key was refused (KeyFromArgs's error): The
// Bastion's code when the key was read, KO_NOT_A_KEY when none could be.
func KeyFailure(err error) osh.Result {
	code := "KO_NOT_A_KEY"
	var ke *KeyError
	if errors.As(err, &ke) {
		code = ke.Code
	}
	if code == "KO_PRIVATE_KEY" {
		// Never echo a pasted private key back (nor keep it in the audit of the result).
		return osh.Fail("", code, "This is a PRIVATE key: never paste it anywhere. Give the public key (the .pub file) instead, and consider this private key compromised")
	}
	return osh.Fail("", code, "%v", err)
}
