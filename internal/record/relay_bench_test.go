package record

// BenchmarkSSHRelay measures what recording costs where it runs: a relay
// between two real SSH connections (golang.org/x/crypto/ssh on loopback),
// target -> bastion -> user, 512 MiB of terminal output per operation.
//
//	go test -run '^$' -bench SSHRelay -benchtime 3x ./internal/record/

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"golang.org/x/crypto/ssh"
)

// serveSSH accepts connections on l and calls run for each "exec" request.
func serveSSH(b *testing.B, l net.Listener, run func(ch ssh.Channel)) {
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	signer, _ := ssh.NewSignerFromKey(priv)
	cfg := &ssh.ServerConfig{NoClientAuth: true}
	cfg.AddHostKey(signer)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				_, chans, reqs, err := ssh.NewServerConn(c, cfg)
				if err != nil {
					return
				}
				go ssh.DiscardRequests(reqs)
				for nc := range chans {
					ch, chReqs, err := nc.Accept()
					if err != nil {
						continue
					}
					go func() {
						for req := range chReqs {
							if req.Type != "exec" {
								req.Reply(false, nil)
								continue
							}
							req.Reply(true, nil)
							run(ch)
							ch.SendRequest("exit-status", false, binary.BigEndian.AppendUint32(nil, 0))
							ch.Close()
						}
					}()
				}
			}()
		}
	}()
}

func listen(b *testing.B) net.Listener {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { l.Close() })
	return l
}

// shmDir returns a fresh directory on /dev/shm (tmpfs), or fails.
func shmDir(b *testing.B) string {
	d, err := os.MkdirTemp("/dev/shm", "gatehouse-bench-")
	if err != nil {
		b.Fatalf("tmpfs variant needs /dev/shm: %v", err)
	}
	b.Cleanup(func() { os.RemoveAll(d) })
	return d
}

func clientConfig() *ssh.ClientConfig {
	return &ssh.ClientConfig{User: "bench", HostKeyCallback: ssh.InsecureIgnoreHostKey()}
}

func BenchmarkSSHRelay(b *testing.B) {
	for _, bc := range []struct{ mode, dir string }{
		{"off", ""}, {"ghrec", "disk"}, {"cast", "disk"}, {"ttyrec", "disk"}, {"cast", "tmpfs"}, {"ttyrec", "tmpfs"},
	} {
		mode := bc.mode
		name := mode
		if bc.dir != "" {
			name += "-" + bc.dir
		}
		b.Run(name, func(b *testing.B) {
			target := listen(b)
			serveSSH(b, target, func(ch ssh.Channel) {
				io.Copy(ch, &sourceReader{left: transferSize})
			})
			recDir := filepath.Join(b.TempDir(), "rec")
			if bc.dir == "tmpfs" {
				// Memory-backed: the recorder's CPU cost without the disk's
				// write bandwidth.
				recDir = filepath.Join(shmDir(b), "rec")
			}
			n := 0
			bastion := listen(b)
			serveSSH(b, bastion, func(user ssh.Channel) {
				conn, err := ssh.Dial("tcp", target.Addr().String(), clientConfig())
				if err != nil {
					b.Error(err)
					return
				}
				defer conn.Close()
				sess, _ := conn.NewSession()
				out, _ := sess.StdoutPipe()
				if err := sess.Start("cat"); err != nil {
					b.Error(err)
					return
				}
				var rec Recorder
				if mode != "off" {
					format := Asciicast
					switch mode {
					case "ttyrec":
						format = Ttyrec
					case "ghrec":
						format = Gatehouse
					}
					n++
					rec, _, err = Create(recDir, strconv.Itoa(n)+"."+format.Ext(), Options{Format: format})
					if err != nil {
						b.Error(err)
						return
					}
				}
				buf := make([]byte, 32<<10)
				for {
					k, err := out.Read(buf)
					if k > 0 {
						if rec != nil {
							rec.Output(buf[:k])
						}
						if _, werr := user.Write(buf[:k]); werr != nil {
							break
						}
					}
					if err != nil {
						break
					}
				}
				sess.Wait()
				if rec != nil {
					if _, _, err := rec.Close(); err != nil {
						b.Error(err)
					}
				}
			})

			conn, err := ssh.Dial("tcp", bastion.Addr().String(), clientConfig())
			if err != nil {
				b.Fatal(err)
			}
			defer conn.Close()
			b.SetBytes(transferSize)
			cpu := startCPU()
			for b.Loop() {
				sess, _ := conn.NewSession()
				out, _ := sess.StdoutPipe()
				if err := sess.Start("relay"); err != nil {
					b.Fatal(err)
				}
				got, _ := io.Copy(io.Discard, out)
				sess.Wait()
				sess.Close()
				if got != transferSize {
					b.Fatalf("relayed %d bytes, want %d", got, transferSize)
				}
			}
			cpu.report(b)
		})
	}
}
