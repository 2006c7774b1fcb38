package procfs

import "testing"

func TestParseStat(t *testing.T) {
	tests := []struct {
		name string
		line string
		want Stat
		bad  bool
	}{
		{
			name: "plain",
			line: "1234 (sshd) S 1 1234 1234 0 -1 4194560 100 0 0 0 7 3 11 5 20 0 1 0 100 1000 200",
			want: Stat{PPID: 1, UTime: 7, STime: 3, CUTime: 11, CSTime: 5},
		},
		{
			name: "name with spaces and parentheses",
			line: "99 (sshd: root (priv)) S 42 99 99 0 -1 0 0 0 0 0 1 2 3 4 20 0 1 0 1 1 1",
			want: Stat{PPID: 42, UTime: 1, STime: 2, CUTime: 3, CSTime: 4},
		},
		{name: "no name", line: "1 sshd S 1", bad: true},
		{name: "truncated", line: "1 (x) S 1 1 1", bad: true},
		{name: "not a number", line: "1 (x) S 1 1 1 0 -1 0 0 0 0 0 u 2 3 4 20", bad: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseStat(tc.line)
			if tc.bad {
				if err == nil {
					t.Fatalf("ParseStat accepted %q: %+v", tc.line, got)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("ParseStat = %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}

func TestParsePss(t *testing.T) {
	rollup := "55d0-7ffd ---p 00000000 00:00 0 [rollup]\nRss:  9000 kB\nPss:  4321 kB\nPss_Anon: 4000 kB\n"
	if got, err := ParsePss([]byte(rollup)); err != nil || got != 4321 {
		t.Fatalf("ParsePss = %d, %v; want 4321", got, err)
	}
	if _, err := ParsePss([]byte("Rss: 1 kB\n")); err == nil {
		t.Fatal("ParsePss accepted a rollup without Pss")
	}
}
