package egress

import (
	"bytes"
	"crypto/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"gatehouse/internal/sshtest"
)

const bulkBytes = 512 << 20

// BenchmarkBulk512MiB compares 512 MiB of output from a real sshd target
// relayed by Dial+RunSession with the plain OpenSSH client fetching the
// same output from the same sshd, key exchange pinned to curve25519-sha256
// on both sides. Each iteration runs both, connection setup included, and
// reports both throughputs and their ratio. Run it alone:
//
//	go test -run '^$' -bench Bulk512MiB -benchtime 3x ./internal/egress
//
// Sub-benchmarks: "default" lets each client pick its preferred cipher
// (x/crypto: aes128-gcm, OpenSSH: chacha20-poly1305); "aes128-gcm" pins
// the same cipher on both.
func BenchmarkBulk512MiB(b *testing.B) {
	const kex = "curve25519-sha256"
	s := sshtest.StartSSHDWith(b, sshtest.Options{KexAlgorithms: kex})
	g, err := GenerateKey(rand.Reader, AlgoEd25519, 0, "bench")
	if err != nil {
		b.Fatal(err)
	}
	s.Authorize(b, g.AuthorizedKey)
	signer, err := ParseSigner(g.PrivatePEM)
	if err != nil {
		b.Fatal(err)
	}
	keyFile := filepath.Join(b.TempDir(), "id")
	if err := os.WriteFile(keyFile, g.PrivatePEM, 0o600); err != nil {
		b.Fatal(err)
	}
	cmd := "head -c " + strconv.Itoa(bulkBytes) + " /dev/zero"
	tgt := Target{User: s.User, Host: s.Host, Port: s.Port}

	for _, bc := range []struct{ name, cipher string }{{"default", ""}, {"aes128-gcm", "aes128-gcm@openssh.com"}} {
		b.Run(bc.name, func(b *testing.B) {
			var egressTotal, sshTotal time.Duration
			for i := 0; i < b.N; i++ {
				// gatehouse's egress client
				start := time.Now()
				d := Dialer{KeyExchanges: []string{kex}}
				if bc.cipher != "" {
					d.Ciphers = []string{bc.cipher}
				}
				c, err := d.Dial(b.Context(), tgt, []ssh.Signer{signer}, HostKeyPolicy{Mode: HostKeyBypass})
				if err != nil {
					b.Fatal(err)
				}
				var n countWriter
				status, _, err := RunSession(b.Context(), c, Request{Command: cmd}, Streams{Stdout: &n})
				c.Close()
				if err != nil || status != 0 || n != bulkBytes {
					b.Fatalf("egress: status %d err %v, %d bytes", status, err, n)
				}
				egressTotal += time.Since(start)

				// OpenSSH's client, straight to the same sshd
				args := []string{"-F", "none", "-i", keyFile, "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes",
					"-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
					"-o", "KexAlgorithms=" + kex, "-p", strconv.Itoa(s.Port)}
				if bc.cipher != "" {
					args = append(args, "-o", "Ciphers="+bc.cipher)
				}
				args = append(args, s.User+"@"+s.Host, cmd)
				start = time.Now()
				ssh := exec.Command("ssh", args...)
				devnull, _ := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
				var stderr bytes.Buffer
				ssh.Stdout, ssh.Stderr = devnull, &stderr
				err = ssh.Run()
				devnull.Close()
				if err != nil {
					b.Fatalf("ssh: %v %s", err, stderr.String())
				}
				sshTotal += time.Since(start)
			}
			mib := float64(bulkBytes) / (1 << 20) * float64(b.N)
			egressRate, sshRate := mib/egressTotal.Seconds(), mib/sshTotal.Seconds()
			b.ReportMetric(egressRate, "egress-MiB/s")
			b.ReportMetric(sshRate, "openssh-MiB/s")
			b.ReportMetric(egressRate/sshRate, "ratio")
		})
	}
}
