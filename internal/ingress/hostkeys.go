package ingress

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/crypto/ssh"
)

// LoadOrCreateHostKeys returns the bastion's host keys (ed25519 and ecdsa-p256) from dir,
// generating the missing ones (0600) so that clients see the same host across restarts.
func LoadOrCreateHostKeys(dir string) ([]ssh.Signer, error) {
	var out []ssh.Signer
	for _, kind := range HostKeyKinds {
		path := filepath.Join(dir, "ssh_host_"+kind+"_key")
		data, err := os.ReadFile(path)
		if errors.Is(err, os.ErrNotExist) {
			data, err = newHostKey(path, kind)
		}
		if err != nil {
			return nil, fmt.Errorf("host key %s: %w", path, err)
		}
		signer, err := ssh.ParsePrivateKey(data)
		if err != nil {
			return nil, fmt.Errorf("host key %s does not parse: %w (remove it to make a new one)", path, err)
		}
		out = append(out, signer)
	}
	return out, nil
}

// HostKeyKinds are the host key kinds gatehouse serves, in the order it offers them.
var HostKeyKinds = []string{"ed25519", "ecdsa"}

// NewHostKeyPEM generates a host key of kind ("ed25519" or "ecdsa") in OpenSSH PEM form (the
// cluster keeps it sealed in the store instead of a file).
func NewHostKeyPEM(kind string) ([]byte, crypto.Signer, error) {
	var priv crypto.Signer
	var err error
	switch kind {
	case "ed25519":
		_, priv, err = ed25519.GenerateKey(rand.Reader)
	default:
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	}
	if err != nil {
		return nil, nil, err
	}
	block, err := ssh.MarshalPrivateKey(priv, "gatehouse host key")
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(block), priv, nil
}

func newHostKey(path, kind string) ([]byte, error) {
	data, priv, err := NewHostKeyPEM(kind)
	if err != nil {
		return nil, err
	}
	if err := writeFileAtomic(path, data, 0o600); err != nil {
		return nil, err
	}
	pub, _ := ssh.NewPublicKey(priv.Public())
	if err := writeFileAtomic(path+".pub", ssh.MarshalAuthorizedKey(pub), 0o644); err != nil {
		return nil, err
	}
	return data, nil
}

// writeFileAtomic writes through a temporary file and a rename, so a crash never leaves half a key.
func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return err
	}
	defer func() { _ = os.Remove(tmp.Name()) }() // gone after the rename: the error is expected
	if err := tmp.Chmod(mode); err != nil {
		_ = tmp.Close() // the chmod error is the one to report
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		_ = tmp.Close() // the write error is the one to report
		return err
	}
	if err := tmp.Sync(); err != nil {
		_ = tmp.Close() // the sync error is the one to report
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// offeredHostKeys keeps the host keys whose algorithm is in algos (config hostKeyAlgorithms),
// in their order. The ecdsa key stays on disk either way, so that turning it back on shows
// clients the key they knew.
func offeredHostKeys(keys []ssh.Signer, algos []string) []ssh.Signer {
	var out []ssh.Signer
	for _, a := range algos {
		for _, k := range keys {
			if k.PublicKey().Type() == a {
				out = append(out, k)
			}
		}
	}
	return out
}

// OfferedHostKeys returns the public halves of the host keys in dir that the server offers
// under algos (config hostKeyAlgorithms), for the fingerprints printed at start.
func OfferedHostKeys(dir string, algos []string) ([]ssh.PublicKey, error) {
	keys, err := LoadOrCreateHostKeys(dir)
	if err != nil {
		return nil, err
	}
	var out []ssh.PublicKey
	for _, k := range offeredHostKeys(keys, algos) {
		out = append(out, k.PublicKey())
	}
	return out, nil
}

// HostKeys are the keys the server offers (the cluster tests compare the nodes').
func (s *Server) HostKeys() []ssh.Signer { return s.hostKeys }
