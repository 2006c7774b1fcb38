package common

import (
	"strings"
	"testing"
	"testing/iotest"
)

// TestConfirmed: the destructive commands go ahead only on The Bastion's exact sentence for the
// exact name; every near miss (other name, other case, extra blanks, a prefix, nothing) refuses.
func TestConfirmed(t *testing.T) {
	for _, tc := range []struct {
		cmd, name, typed string
		want             bool
	}{
		{"accountDelete", "bob", "Yes, do as I say and delete bob, kthxbye\n", true},
		{"accountDelete", "bob", "Yes, do as I say and delete bob, kthxbye\r\n", true},
		{"accountDelete", "bob", "Yes, do as I say and delete bob, kthxbye", true},
		{"accountDelete", "bob", "Yes, do as I say and delete bob\n", false}, // gatehouse's former sentence
		{"accountDelete", "bob", "yes, do as i say and delete bob, kthxbye\n", false},
		{"accountDelete", "bob", "Yes, do as I say and delete alice, kthxbye\n", false},
		{"accountDelete", "bob", " Yes, do as I say and delete bob, kthxbye\n", false},
		{"accountDelete", "bob", "Yes, do as I say and delete bob, kthxbye \n", false},
		{"accountDelete", "bob", "Yes, do as I say and delete bobby, kthxbye\n", false},
		{"accountDelete", "bob", "bob\n", false},
		{"accountDelete", "bob", "", false},
		{"groupDestroy", "web", "web\n", true},
		{"groupDelete", "web", "web\n", true},
		{"groupDelete", "web", "web", true},
		{"groupDelete", "web", "Web\n", false},
		{"groupDelete", "web", "we\n", false},
		{"groupDelete", "web", "web2\n", false},
		{"groupDelete", "web", "Yes, do as I say and delete web, kthxbye\n", false},
		{"groupDestroy", "web", "\n", false},
		{"realmDelete", "r1", "Yes, do as I say and delete r1, kthxbye\n", true},
	} {
		conf, ok := ConfirmationFor(tc.cmd, tc.name)
		if !ok {
			t.Fatalf("%s asks no confirmation", tc.cmd)
		}
		if got := Confirmed(conf.Want, readLine(strings.NewReader(tc.typed))); got != tc.want {
			t.Errorf("%s %s typed %q: confirmed = %v, want %v", tc.cmd, tc.name, tc.typed, got, tc.want)
		}
	}
	if _, ok := ConfirmationFor("accountList", "x"); ok {
		t.Error("accountList asks a confirmation")
	}
	if Confirmed("", "") {
		t.Error("an empty wanted line confirms")
	}
}

// TestReadLineStopsAtTheLine: the confirmation reads its line and nothing after it, whatever
// the reader's chunking, and at most maxConfirmLine bytes.
func TestReadLineStopsAtTheLine(t *testing.T) {
	r := strings.NewReader("web\nnext command\n")
	if got := readLine(iotest.HalfReader(r)); got != "web" {
		t.Fatalf("readLine = %q", got)
	}
	rest := make([]byte, 64)
	n, _ := r.Read(rest)
	if string(rest[:n]) != "next command\n" {
		t.Fatalf("after the line: %q", rest[:n])
	}
	if got := readLine(strings.NewReader(strings.Repeat("a", 5000))); len(got) != maxConfirmLine {
		t.Fatalf("long line read as %d bytes", len(got))
	}
	if readLine(nil) != "" || readLine(iotest.ErrReader(iotest.ErrTimeout)) != "" {
		t.Fatal("no input gives a line")
	}
}

func FuzzConfirmed(f *testing.F) {
	for _, s := range []string{"Yes, do as I say and delete bob, kthxbye\n", "bob\r\n", "", "\n\n", "Yes, do as I say and delete bob, kthxbye\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, typed string) {
		conf, _ := ConfirmationFor("accountDelete", "bob")
		line := readLine(strings.NewReader(typed))
		if Confirmed(conf.Want, line) && line != conf.Want {
			t.Fatalf("%q confirmed without being the sentence", typed)
		}
	})
}
