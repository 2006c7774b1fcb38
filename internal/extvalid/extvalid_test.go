package extvalid

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

// Every status × deny-on-failure × admin × always-active.
func TestDecide(t *testing.T) {
	for _, ran := range []bool{true, false} {
		for status := -1; status <= 6; status++ {
			for _, deny := range []bool{true, false} {
				for _, admin := range []bool{true, false} {
					for _, always := range []bool{true, false} {
						in := Input{Ran: ran, Status: status, DenyOnFailure: deny, Admin: admin, AlwaysActive: always}
						got := Decide(in)
						unknown := !ran || status >= 2 && status <= 4
						want := Verdict{}
						switch {
						case always:
							want.Allow = true
						case ran && status == 0:
							want.Allow = true
						case unknown:
							want.Failure = true
							want.Allow = !deny || admin
							want.LogStderr = ran && (status == 3 || status == 4)
							want.ShowStderr = ran && status == 4
						}
						if got != want {
							t.Errorf("%+v: %+v, want %+v", in, got, want)
						}
					}
				}
			}
		}
	}
}

func TestRun(t *testing.T) {
	dir := t.TempDir()
	prog := filepath.Join(dir, "check")
	script := "#!/bin/sh\ncase \"$1\" in\n ok) exit 0;;\n noisy) echo 'directory unreachable' >&2; exit 4;;\n *) exit 1;;\nesac\n"
	if err := os.WriteFile(prog, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if ran, st, _ := Run(ctx, prog, "ok"); !ran || st != 0 {
		t.Fatalf("ok: %v %d", ran, st)
	}
	if ran, st, _ := Run(ctx, prog, "nobody"); !ran || st != 1 {
		t.Fatalf("nobody: %v %d", ran, st)
	}
	if ran, st, e := Run(ctx, prog, "noisy"); !ran || st != 4 || e != "directory unreachable" {
		t.Fatalf("noisy: %v %d %q", ran, st, e)
	}
	if ran, _, _ := Run(ctx, filepath.Join(dir, "missing"), "ok"); ran {
		t.Fatal("a missing program ran")
	}
}
