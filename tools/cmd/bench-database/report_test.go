package main

import (
	"bytes"
	"math"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/scryptpool/poolmicrocloud/tools/internal/verdict"
)

// The target lines the test reads, by what they start with.
const (
	lineRatio      = "target: synchronous"
	lineFailover   = "first share acknowledged after the cut"
	lineMissing    = "acknowledged shares missing"
	lineDuplicates = "duplicates"
)

func goodRun() (environment, throughput, failoverResult) {
	on := settings{fsync: "on", synchronousCommit: "on"}
	env := environment{cpus: 2, load: "3.10", filesystem: "ext4 (/dev/vda)", goVersion: "go1.26.8", postgres: "postgres (PostgreSQL) 15.14", patroni: "Patroni 3.0.2",
		sharedBuffersMB: 64, maxConnections: 50, single: on, synced: on}
	env.synced.syncStandbyNames = `"pi-02"`
	tp := throughput{shares: 200_000, miners: 100, single: []float64{30_000, 28_000, 31_000}, synced: []float64{27_000, 26_500, 28_000}}
	fo := failoverResult{primary: "pi-01", standby: "pi-02", feedRate: 1000, promoted: 21.3, firstWrite: 23.9,
		acked: 35_000, ackedBeforeCut: 5_000, inPrimary: 35_000}
	return env, tp, fo
}

func TestReportVerdicts(t *testing.T) {
	nan := math.NaN()
	cases := []struct {
		name   string
		change func(*throughput, *failoverResult)
		want   map[string]string // line -> verdict; lines not named are met
	}{
		{name: "every target met", change: func(*throughput, *failoverResult) {}},
		{name: "synchronous writes at 79%", change: func(tp *throughput, _ *failoverResult) {
			tp.single, tp.synced = []float64{10_000}, []float64{7_900}
		}, want: map[string]string{lineRatio: verdict.NotMet}},
		{name: "synchronous writes at exactly 80%", change: func(tp *throughput, _ *failoverResult) {
			tp.single, tp.synced = []float64{10_000}, []float64{8_000}
		}},
		{name: "the median run's ratio is judged, not the best run's", change: func(tp *throughput, _ *failoverResult) {
			tp.single, tp.synced = []float64{10_000, 10_000, 10_000}, []float64{9_500, 5_000, 6_000}
		}, want: map[string]string{lineRatio: verdict.NotMet}},
		{name: "runs are compared with their pair, not the overall medians", change: func(tp *throughput, _ *failoverResult) {
			// The machine's pace changed from run to run: two pairs are
			// at 90%, one at 77.5%; the overall medians (40,000 and
			// 31,000) would say 77.5%.
			tp.single, tp.synced = []float64{60_000, 30_000, 40_000}, []float64{54_000, 27_000, 31_000}
		}},
		{name: "no synchronous run", change: func(tp *throughput, _ *failoverResult) { tp.synced = nil },
			want: map[string]string{lineRatio: verdict.NotMeasured}},
		{name: "failover in 29.9 s", change: func(_ *throughput, fo *failoverResult) { fo.firstWrite = 29.9 }},
		{name: "failover in exactly 30 s", change: func(_ *throughput, fo *failoverResult) { fo.firstWrite = 30 },
			want: map[string]string{lineFailover: verdict.NotMet}},
		{name: "no share written within the wait", change: func(_ *throughput, fo *failoverResult) { fo.firstWrite = nan },
			want: map[string]string{lineFailover: verdict.NotMeasured}},
		{name: "one acknowledged share lost", change: func(_ *throughput, fo *failoverResult) { fo.missing, fo.inPrimary = 1, fo.acked-1 },
			want: map[string]string{lineMissing: verdict.NotMet}},
		{name: "a duplicate", change: func(_ *throughput, fo *failoverResult) { fo.duplicates = 1 },
			want: map[string]string{lineDuplicates: verdict.NotMet}},
		{name: "shares not counted", change: func(_ *throughput, fo *failoverResult) {
			fo.inPrimary, fo.missing, fo.duplicates, fo.unexpected = -1, -1, -1, -1
		}, want: map[string]string{lineMissing: verdict.NotMeasured, lineDuplicates: verdict.NotMeasured}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			env, tp, fo := goodRun()
			tc.change(&tp, &fo)
			var out bytes.Buffer
			err := report(&out, env, tp, fo)
			for _, line := range []string{lineRatio, lineFailover, lineMissing, lineDuplicates} {
				want, ok := tc.want[line]
				if !ok {
					want = verdict.Met
				}
				got := lineStarting(t, out.String(), line)
				require.True(t, strings.HasSuffix(strings.TrimRight(got, " "), ": "+want),
					"%s: want %s in %q\n%s", line, want, got, out.String())
			}
			if len(tc.want) == 0 {
				require.NoError(t, err, out.String())
			} else {
				require.Error(t, err, out.String())
			}
		})
	}
}

func TestReportSaysWhatItRanOn(t *testing.T) {
	env, tp, fo := goodRun()
	var out bytes.Buffer
	require.NoError(t, report(&out, env, tp, fo))
	for _, want := range []string{
		"2 CPUs (load average 3.10 at the start), go1.26.8, postgres (PostgreSQL) 15.14, Patroni 3.0.2",
		"on loopback, data on ext4 (/dev/vda)",
		"shared_buffers 64 MB, max_connections 50",
		"fsync on, synchronous_commit on",
		`single instance none, replicated "pi-02"`,
		"30000/s\n", // the single instance's median
		"27000/s\n", // the synchronous median
		"median of the runs' ratios: 90%",
		"21.3 s after the cut",
		"35000 (5000 before the cut)",
	} {
		require.Contains(t, out.String(), want)
	}
	ratios := strings.Fields(strings.TrimPrefix(lineStarting(t, out.String(), "synchronous / single, run by run"), "synchronous / single, run by run"))
	require.Equal(t, []string{"90%", "95%", "90%", "90%"}, ratios, "run by run, and their median")
}

func TestMedian(t *testing.T) {
	for _, tc := range []struct {
		xs   []float64
		want float64
	}{
		{[]float64{3}, 3},
		{[]float64{9, 1, 5}, 5},
		{[]float64{4, 1, 3, 2}, 2.5},
	} {
		require.Equal(t, tc.want, median(tc.xs), "%v", tc.xs)
	}
	require.True(t, math.IsNaN(median(nil)))
}

func TestCompareFindsMissingDuplicateAndUnexpectedShares(t *testing.T) {
	f := &feeder{acked: []bool{true, true, false, true, true}}
	key := func(n string) string { return failoverInstance + "-" + n }
	in, missing, dup, unexpected := f.compare([]string{key("0"), key("1"), key("1"), key("2"), key("4"), key("9"), "other"})
	require.Equal(t, int64(3), in, "0, 1 and 4")
	require.Equal(t, int64(1), missing, "3")
	require.Equal(t, int64(1), dup, "1 twice")
	require.Equal(t, int64(3), unexpected, "2 was refused, 9 never fed, and a key not the feeder's")
}

func lineStarting(t *testing.T, report, prefix string) string {
	t.Helper()
	for _, line := range strings.Split(report, "\n") {
		if strings.HasPrefix(line, prefix) {
			return line
		}
	}
	t.Fatalf("no line starting %q in\n%s", prefix, report)
	return ""
}
