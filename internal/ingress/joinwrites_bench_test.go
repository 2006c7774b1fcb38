package ingress

import (
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
)

// BenchmarkJumpDownload moves bytes the way a download crosses a jump: an inner SSH connection
// (AES-GCM, as gatehouse offers by default) whose server writes into a channel of an outer SSH
// connection over loopback TCP, both ends x/crypto, in this process. joined=false is the path
// before internal/sshwrite (two writes per packet on the socket, two outer packets per inner
// packet), joined=true today's. Beside MB/s it reports the process's CPU seconds per GiB (both
// ends, both connections: only the difference is gatehouse's) and write system calls per MiB,
// which hold on a loaded machine where MB/s does not:
//
//	go test ./internal/ingress -run XXX -bench 'Jump(Down|Up)load' -benchtime 512x -count 3
func BenchmarkJumpDownload(b *testing.B) { benchJump(b, false) }

// BenchmarkJumpUpload is BenchmarkJumpDownload the other way: the inner client writes, the inner
// server reads from the outer channel (ahead, with joined=true).
func BenchmarkJumpUpload(b *testing.B) { benchJump(b, true) }

func benchJump(b *testing.B, upload bool) {
	for _, joined := range []bool{false, true} {
		name := "joined=false"
		if joined {
			name = "joined=true"
		}
		b.Run(name, func(b *testing.B) {
			rawSrv, rawCli := tcpPair(b)
			var srvConn net.Conn = rawSrv
			if joined {
				srvConn = newJoinConn(rawSrv)
			}
			const cipher = "aes128-gcm@openssh.com"
			outerSrv, outerCli := sshOver(b, srvConn, rawCli, cipher)
			var innerConn *chanConn
			if joined {
				innerConn = newChanConn(outerSrv, rawSrv.LocalAddr(), rawSrv.RemoteAddr())
			} else {
				innerConn = &chanConn{Channel: outerSrv, local: rawSrv.LocalAddr(), remote: rawSrv.RemoteAddr()}
			}
			clientSide := &chanConn{Channel: outerCli, local: rawCli.LocalAddr(), remote: rawCli.RemoteAddr()}
			srv, cli := sshOver(b, innerConn, clientSide, cipher)
			if upload {
				srv, cli = cli, srv
			}
			chunk := make([]byte, 1<<20)
			done := make(chan error, 1)
			go func() {
				_, err := io.CopyBuffer(io.Discard, cli, make([]byte, 256<<10))
				done <- err
			}()
			b.SetBytes(int64(len(chunk)))
			writes0 := writeSyscalls(b)
			cpu0 := cpuSeconds()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				// innerChunk pieces, as sftpAuditChannel writes on a jump.
				for p := chunk; len(p) > 0; {
					k := min(len(p), innerChunk)
					if _, err := srv.Write(p[:k]); err != nil {
						b.Fatal(err)
					}
					p = p[k:]
				}
			}
			_ = srv.CloseWrite()
			_ = srv.Close()
			<-done
			b.StopTimer()
			mib := float64(b.N)
			b.ReportMetric((cpuSeconds()-cpu0)/(mib/1024), "CPU-s/GiB")
			b.ReportMetric(float64(writeSyscalls(b)-writes0)/mib, "writes/MiB")
		})
	}
}

// writeSyscalls is the process's write system calls so far (write and writev: /proc/self/io).
func writeSyscalls(b *testing.B) uint64 {
	n, err := procIOField("syscw")
	if err != nil {
		b.Fatal(err)
	}
	return n
}

// procIOField is a counter of /proc/self/io (Linux).
func procIOField(name string) (uint64, error) {
	data, err := os.ReadFile("/proc/self/io")
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(data), "\n") {
		if k, v, ok := strings.Cut(line, ": "); ok && k == name {
			return strconv.ParseUint(strings.TrimSpace(v), 10, 64)
		}
	}
	return 0, fmt.Errorf("no %s in /proc/self/io", name)
}
