package main

import (
	"bytes"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestPercentile(t *testing.T) {
	var r result
	assert.Equal(t, time.Duration(-1), r.percentile(0.99), "nothing measured")
	for i := 1; i <= 100; i++ {
		r.Latencies = append(r.Latencies, time.Duration(i)*time.Millisecond)
	}
	assert.Equal(t, 50*time.Millisecond, r.percentile(0.5))
	assert.Equal(t, 99*time.Millisecond, r.percentile(0.99))
	assert.Equal(t, 100*time.Millisecond, r.percentile(1))
}

// The verdicts follow the front page's cached figures; a run that
// measured nothing fails.
func TestReportVerdicts(t *testing.T) {
	o := options{duration: 10 * time.Second, warmup: time.Second, uncachedDuration: 5 * time.Second, pacedDuration: 16 * time.Second,
		rate: 500, clients: 200, serverCPU: 0, clientCPU: 1}
	targets := []target{{"front page", "/"}}
	page := func(rate float64, p99 time.Duration, errs int64) result {
		// Saturated at rate; at 500 offered, the same latencies.
		r := result{Elapsed: 10 * time.Second, Requests: int64(rate * 10), Errors: errs}
		for range r.Requests {
			r.Latencies = append(r.Latencies, p99)
		}
		return r
	}
	for _, tc := range []struct {
		name string
		r    result
		ok   bool
	}{
		{"met", page(600, 50*time.Millisecond, 0), true},
		{"slow", page(400, 50*time.Millisecond, 0), false},
		{"late", page(600, 150*time.Millisecond, 0), false},
		{"errors", page(600, 50*time.Millisecond, 3), false},
		{"nothing measured", result{Elapsed: 10 * time.Second}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			paced := tc.r
			if paced.Requests > 0 {
				paced.Requests = min(paced.Requests, 5000) // 500/s for 10 s at most
			}
			runs := []measured{{cached: true, results: []result{tc.r}, paced: paced, cpus: "0"}, {cached: false, results: []result{{}}, cpus: "0"}}
			var out bytes.Buffer
			err := report(&out, o, filled{}, targets, runs, [2]string{"1.0", "1.0"})
			if tc.ok {
				require.NoError(t, err, out.String())
			} else {
				require.Error(t, err, out.String())
			}
		})
	}
}
