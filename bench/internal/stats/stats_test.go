package stats

import "testing"

func TestQuantile(t *testing.T) {
	for _, tc := range []struct {
		in      []float64
		q, want float64
	}{
		{[]float64{3, 1, 2}, 0.5, 2},
		{[]float64{1, 2, 3, 4}, 0.5, 2.5},
		{[]float64{10, 20}, 0.9, 19},
		{[]float64{5}, 0.9, 5},
		{nil, 0.5, 0},
	} {
		if got := Quantile(tc.in, tc.q); got < tc.want-1e-9 || got > tc.want+1e-9 {
			t.Errorf("Quantile(%v, %v) = %v, want %v", tc.in, tc.q, got, tc.want)
		}
	}
}
