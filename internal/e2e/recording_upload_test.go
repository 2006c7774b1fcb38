package e2e

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"gatehouse/internal/record"
	"gatehouse/internal/testenv"
)

// recordedStreams exports a recording (record.Export, as `gatehouse replay --format` does; to
// gatehouse's own format, the one that keeps binary bytes as they came: asciicast's JSON
// strings would not) and returns its output and input streams, read back from the export.
func recordedStreams(t *testing.T, path string) (out, in []byte) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var cast bytes.Buffer
	if err := record.Export(&cast, f, record.Gatehouse); err != nil {
		t.Fatalf("export %s: %v", path, err)
	}
	rd, err := record.NewReader(&cast)
	if err != nil {
		t.Fatal(err)
	}
	for {
		ev, err := rd.Next()
		if errors.Is(err, io.EOF) {
			return out, in
		}
		if err != nil {
			t.Fatalf("read back %s: %v", path, err)
		}
		switch ev.Kind {
		case record.KindOutput:
			out = append(out, ev.Data...)
		case record.KindInput:
			in = append(in, ev.Data...)
		}
	}
}

// TestTransferRecordingFullUploads: with transferRecording = "full", the bytes a user uploads
// (scp -O, scp in SFTP mode, sftp) are in the recording as its input stream, found again after
// an export; with "metadata" (the default) no input is recorded, and a shell session's input is
// never recorded in either mode.
func TestTransferRecordingFullUploads(t *testing.T) {
	for _, mode := range []string{"metadata", "full"} {
		t.Run(mode, func(t *testing.T) {
			j := startJumpWith(t, testenv.Options{Config: "transferRecording = \"" + mode + "\"\n"})
			port := fmt.Sprint(j.sshd.Port)
			remote := t.TempDir()
			src := filepath.Join(j.dir, "up.bin")
			data := randomFile(t, src, 300*1024+7)
			// Pieces that lie inside one SFTP write (32 KiB blocks), and the whole file for scp.
			pieces := [][]byte{data[100:1100], data[5*32768+200 : 5*32768+1200], data[len(data)-500:]}
			check := func(marker string, whole bool) {
				t.Helper()
				row := closedSession(t, j.b, "alice", marker)
				_, in := recordedStreams(t, row.Recording)
				if mode == "metadata" {
					if len(in) != 0 {
						t.Errorf("%s: metadata mode recorded %d input bytes", marker, len(in))
					}
					return
				}
				if whole && !bytes.Contains(in, data) {
					t.Errorf("%s: the uploaded file is not in the recording's input (%d bytes)", marker, len(in))
				}
				for i, p := range pieces {
					if !bytes.Contains(in, p) {
						t.Errorf("%s: piece %d of the upload is not in the recording's input (%d bytes)", marker, i, len(in))
					}
				}
			}
			if out, errs, code := j.run(t, "", "scp", "-F", j.cfg, "-O", "-P", port, src, j.target()+":"+remote+"/legacy.bin"); code != 0 {
				t.Fatalf("scp -O: %d %q %q", code, out, errs)
			}
			sameFile(t, filepath.Join(remote, "legacy.bin"), data)
			check("scp -t "+remote, true)

			batch := filepath.Join(j.dir, "batch")
			if err := os.WriteFile(batch, []byte("put "+src+" "+remote+"/sftp.bin\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			if out, errs, code := j.run(t, "", "sftp", "-F", j.cfg, "-P", port, "-b", batch, j.target()); code != 0 {
				t.Fatalf("sftp -b: %d %q %q", code, out, errs)
			}
			sameFile(t, filepath.Join(remote, "sftp.bin"), data)
			check("subsystem sftp", false)

			// A shell session: what is typed is never recorded, whatever the mode.
			cmd := exec.Command("ssh", "-F", j.cfg, "-p", port, j.target(), "cat > "+remote+"/typed.txt # typed")
			cmd.Stdin = strings.NewReader("not-recorded-secret\n")
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("ssh cat: %v %s", err, out)
			}
			row := closedSession(t, j.b, "alice", "# typed")
			if _, in := recordedStreams(t, row.Recording); len(in) != 0 {
				t.Errorf("a shell command's input was recorded: %q", in)
			}
		})
	}
}
