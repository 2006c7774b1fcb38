package e2e

import (
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"gatehouse/internal/testenv"
)

func TestSyslogSink(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	b := testenv.Start(t, testenv.Options{Config: fmt.Sprintf("syslogAddress = \"udp://%s\"\n", pc.LocalAddr())})
	b.Admin("--osh", "accountList")
	deadline := time.Now().Add(10 * time.Second)
	buf := make([]byte, 65536)
	for time.Now().Before(deadline) {
		pc.SetReadDeadline(deadline)
		n, _, err := pc.ReadFrom(buf)
		if err != nil {
			break
		}
		msg := string(buf[:n])
		// The Bastion's form: <msgtype> key="value" …
		if strings.Contains(msg, `plugin="accountList"`) && strings.Contains(msg, `account="admin"`) {
			return
		}
	}
	t.Fatal("no syslog line for the accountList command")
}
