package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"gatehouse/internal/testenv"
)

// TestReplayExport: `gatehouse replay --export asciicast -o OUT` and `--format ttyrec` turn a
// default (gatehouse format) recording into files the real players play unchanged; -o never
// overwrites; a bad format is refused with nothing written.
func TestReplayExport(t *testing.T) {
	b := testenv.Start(t, testenv.Options{})
	b.Admin("--osh", "info")
	b.Stop()
	files, _ := filepath.Glob(filepath.Join(b.DataDir, "recordings", "admin", "*.ghrec"))
	if len(files) == 0 {
		t.Fatal("no recording in the default format")
	}
	dir := t.TempDir()
	cast := filepath.Join(dir, "out.cast")
	var out, errb bytes.Buffer
	if code := run([]string{"replay", "--export", "asciicast", "-o", cast, files[0]}, &out, &errb); code != 0 {
		t.Fatalf("export asciicast: %d %s", code, errb.String())
	}
	if got := testenv.AsciinemaCat(t, cast); !strings.Contains(got, "You are admin") {
		t.Fatalf("asciinema cat of the export:\n%s", got)
	}
	if st, _ := os.Stat(cast); st.Mode().Perm() != 0o600 {
		t.Fatalf("export mode %v", st.Mode().Perm())
	}
	errb.Reset()
	if code := run([]string{"replay", "--export", "asciicast", "-o", cast, files[0]}, &out, &errb); code == 0 {
		t.Fatal("export overwrote an existing file")
	}

	out.Reset()
	if code := run([]string{"replay", "--format", "ttyrec", files[0]}, &out, &errb); code != 0 {
		t.Fatalf("export ttyrec: %d %s", code, errb.String())
	}
	ttyrec := filepath.Join(dir, "out.ttyrec")
	os.WriteFile(ttyrec, out.Bytes(), 0o600)
	played, err := exec.Command("ttyplay", "-n", ttyrec).Output()
	if err != nil || !strings.Contains(string(played), "You are admin") {
		t.Fatalf("ttyplay -n of the export: %v\n%s", err, played)
	}

	out.Reset()
	if code := run([]string{"replay", "--format", "text", files[0]}, &out, &errb); code != 0 || !strings.Contains(out.String(), "You are admin") {
		t.Fatalf("--format text: %d %q", code, out.String())
	}
	bad := filepath.Join(dir, "bad")
	if code := run([]string{"replay", "--format", "mp4", "-o", bad, files[0]}, &out, &errb); code == 0 {
		t.Fatal("--format mp4 accepted")
	}
	if _, err := os.Stat(bad); err == nil {
		t.Fatal("a refused export left a file")
	}
}
