package main

import "testing"

func TestParseStat(t *testing.T) {
	tests := []struct {
		name string
		line string
		want procStat
		bad  bool
	}{
		{
			name: "plain",
			line: "1234 (sshd) S 1 1234 1234 0 -1 4194560 100 0 0 0 7 3 11 5 20 0 1 0 100 1000 200",
			want: procStat{PPID: 1, UTime: 7, STime: 3, CUTime: 11, CSTime: 5},
		},
		{
			name: "name with spaces and parentheses",
			line: "99 (sshd: root (priv)) S 42 99 99 0 -1 0 0 0 0 0 1 2 3 4 20 0 1 0 1 1 1",
			want: procStat{PPID: 42, UTime: 1, STime: 2, CUTime: 3, CSTime: 4},
		},
		{name: "no name", line: "1 sshd S 1", bad: true},
		{name: "truncated", line: "1 (x) S 1 1 1", bad: true},
		{name: "not a number", line: "1 (x) S 1 1 1 0 -1 0 0 0 0 0 u 2 3 4 20", bad: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseStat(tc.line)
			if tc.bad {
				if err == nil {
					t.Fatalf("parseStat accepted %q: %+v", tc.line, got)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("parseStat = %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}

func TestParsePss(t *testing.T) {
	rollup := "55d0-7ffd ---p 00000000 00:00 0 [rollup]\nRss:  9000 kB\nPss:  4321 kB\nPss_Anon: 4000 kB\n"
	if got, err := parsePss([]byte(rollup)); err != nil || got != 4321 {
		t.Fatalf("parsePss = %d, %v; want 4321", got, err)
	}
	if _, err := parsePss([]byte("Rss: 1 kB\n")); err == nil {
		t.Fatal("parsePss accepted a rollup without Pss")
	}
}

func TestQuantile(t *testing.T) {
	tests := []struct {
		in   []float64
		q    float64
		want float64
	}{
		{[]float64{5, 1, 3}, 0.5, 3},
		{[]float64{4, 1, 3, 2}, 0.5, 2.5},
		{[]float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, 0.9, 9.1},
		{[]float64{7}, 0.9, 7},
	}
	for _, tc := range tests {
		if got := quantile(tc.in, tc.q); got < tc.want-1e-9 || got > tc.want+1e-9 {
			t.Errorf("quantile(%v, %v) = %v, want %v", tc.in, tc.q, got, tc.want)
		}
	}
}
