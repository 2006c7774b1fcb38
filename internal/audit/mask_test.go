package audit

import (
	"slices"
	"strings"
	"testing"
)

// TestSessionParams: a bastion command's secret options are masked; a connection's words,
// remote command included, are kept whole.
func TestSessionParams(t *testing.T) {
	for _, tc := range []struct {
		name       string
		words      []string
		connection bool
		want       []string
	}{
		{"osh password", []string{"--osh", "selfMFASetupPassword", "--password", "hunter2"}, false,
			[]string{"--osh", "selfMFASetupPassword", "--password", Masked}},
		{"osh password=", []string{"--osh", "x", "--password=hunter2"}, false, []string{"--osh", "x", "--password=" + Masked}},
		{"osh token", []string{"--json", "--osh", "x", "--token", "t0k"}, false, []string{"--json", "--osh", "x", "--token", Masked}},
		{"osh secret that looks like an option", []string{"--osh", "x", "--pass", "--json"}, false, []string{"--osh", "x", "--pass", Masked}},
		{"osh policy flag", []string{"--osh", "accountModify", "--mfa-password-required", "yes"}, false,
			[]string{"--osh", "accountModify", "--mfa-password-required", "yes"}},
		{"bad line, not a connection", []string{"--osh x --password 'unterminated"}, false, []string{"--osh x --password 'unterminated"}},
		{"interactive", []string{"-i"}, false, []string{"-i"}},
		{"empty", nil, false, []string{}},
		{"connection: token in the remote command", []string{"root@host", "true; echo --token \"$(payload)\""}, true,
			[]string{"root@host", "true; echo --token \"$(payload)\""}},
		{"connection: words of the remote command", []string{"root@host", "-p", "22", "echo", "--pass", "x", "--password=y"}, true,
			[]string{"root@host", "-p", "22", "echo", "--pass", "x", "--password=y"}},
		{"connection: long command", []string{"root@host", strings.Repeat("a", 200) + " --token x"}, true,
			[]string{"root@host", strings.Repeat("a", 200) + " --token x"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := SessionParams(tc.words, tc.connection)
			if len(got) != len(tc.want) || (len(got) > 0 && !slices.Equal(got, tc.want)) {
				t.Fatalf("SessionParams(%q, %v) = %q, want %q", tc.words, tc.connection, got, tc.want)
			}
			if len(tc.words) > 0 && &got[0] == &tc.words[0] {
				t.Fatal("SessionParams returned its input slice; callers may change it")
			}
		})
	}
}

// FuzzMaskArgs: masking keeps the number of words, changes only the value of a secret option
// (never an option name or a plain word), and a connection keeps every word.
func FuzzMaskArgs(f *testing.F) {
	for _, s := range []string{"--osh x --password p", "--token=t a b", "--pass --pass --pass", "root@h echo --token x", "--mfa-password-required yes", "-", "--=x", "--PASSWORD P"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		words := strings.Fields(line)
		got := MaskArgs(words)
		if len(got) != len(words) {
			t.Fatalf("MaskArgs(%q) has %d words, want %d", words, len(got), len(words))
		}
		for i, w := range words {
			if got[i] == w {
				continue
			}
			prevSecret := i > 0 && strings.HasPrefix(words[i-1], "-") && !strings.Contains(words[i-1], "=") && IsSecretOption(words[i-1]) && got[i-1] == words[i-1]
			name, _, hasValue := strings.Cut(w, "=")
			switch {
			case got[i] == Masked && prevSecret:
			case strings.HasPrefix(w, "-") && hasValue && IsSecretOption(name) && got[i] == name+"="+Masked:
			default:
				t.Fatalf("MaskArgs(%q)[%d] = %q: only a secret option's value may change", words, i, got[i])
			}
		}
		if conn := SessionParams(words, true); !slices.Equal(conn, words) {
			t.Fatalf("SessionParams(%q, connection) = %q, want the words whole", words, conn)
		}
	})
}
