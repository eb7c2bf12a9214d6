package edge

import "testing"

func TestQuantileMS(t *testing.T) {
	// 10 samples: 4 in (0, 1ms], 4 in (1ms, 2ms], 2 in (2ms, 4ms].
	h := histSnap{bounds: []float64{.001, .002, .004}, cum: []uint64{4, 8, 10}, count: 10}
	for _, c := range []struct{ q, want float64 }{{0.2, 0.5}, {0.5, 1.25}, {0.9, 3}, {1, 4}} {
		if got := quantileMS(h, c.q); got == nil || *got != c.want {
			t.Errorf("q%.2f = %v, want %v ms", c.q, got, c.want)
		}
	}
	if quantileMS(histSnap{}, 0.5) != nil {
		t.Error("a quantile of nothing")
	}
	// Samples over the last bound: the bound.
	h = histSnap{bounds: []float64{.001}, cum: []uint64{1}, count: 4}
	if got := quantileMS(h, 0.99); got == nil || *got != 1 {
		t.Errorf("over the last bound: %v", got)
	}
	d := diffHist(histSnap{bounds: h.bounds, cum: []uint64{5}, count: 9}, h)
	if d.cum[0] != 4 || d.count != 5 {
		t.Errorf("diff %+v", d)
	}
}
