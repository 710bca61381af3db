package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/scryptpool/poolmicrocloud/tools/internal/verdict"
)

func TestReportVerdicts(t *testing.T) {
	ms := func(f float64) time.Duration { return time.Duration(f * float64(time.Millisecond)) }
	cases := []struct {
		name                    string
		inProc, procs, baseline time.Duration
		under, faster           string
	}{
		{"both met", ms(9), ms(27), ms(344), verdict.Met, verdict.Met},
		// The in-process figure alone would say 38x; the operator's two
		// processes are what counts.
		{"fast in process, under 10x as two processes", ms(9), ms(40), ms(344), verdict.Met, verdict.NotMet},
		{"two processes over 100 ms", ms(9), ms(120), ms(3440), verdict.NotMet, verdict.Met},
		{"both missed", ms(90), ms(150), ms(344), verdict.NotMet, verdict.NotMet},
		{"exactly 10x", ms(9), ms(30), ms(300), verdict.Met, verdict.Met},
		{"two processes not measured", ms(9), 0, ms(344), verdict.NotMeasured, verdict.NotMeasured},
		{"baseline not measured", ms(9), ms(27), 0, verdict.Met, verdict.NotMeasured},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			err := report(&out, 8, 12,
				result{what: "in process", runs: 200, median: tc.inProc, min: tc.inProc},
				result{what: "two processes", runs: 20, median: tc.procs, min: tc.procs},
				result{what: "baseline", runs: 5, median: tc.baseline, min: tc.baseline})
			line := targetLine(t, out.String())
			under, faster, ok := strings.Cut(line, " and at least ")
			require.True(t, ok, line)
			require.True(t, strings.HasSuffix(under, ": "+tc.under+")"), "under 100 ms: want %s in %q", tc.under, line)
			require.True(t, strings.HasSuffix(faster, ": "+tc.faster+")"), "10x: want %s in %q", tc.faster, line)
			if tc.under == verdict.Met && tc.faster == verdict.Met {
				require.NoError(t, err, out.String())
			} else {
				require.Error(t, err, out.String())
			}
		})
	}
}

func targetLine(t *testing.T, report string) string {
	t.Helper()
	for _, line := range strings.Split(report, "\n") {
		if strings.HasPrefix(line, "target") {
			return line
		}
	}
	t.Fatalf("no target line in\n%s", report)
	return ""
}
