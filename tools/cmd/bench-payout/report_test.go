package main

import (
	"bytes"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/scryptpool/poolmicrocloud/tools/internal/verdict"
)

func TestReportVerdicts(t *testing.T) {
	good := figure{wall: 666 * time.Millisecond, heap: 3.7, db: 14.4, shared: 220, credits: 10000, units: 1237500000}
	naive := figure{wall: 1378 * time.Millisecond, heap: 222.9, db: 3.2, shared: 218, credits: 10000, units: 1237500000}
	cases := []struct {
		name         string
		change       func(*figure)
		time, memory string
	}{
		{"both met", func(*figure) {}, verdict.Met, verdict.Met},
		{"too slow", func(f *figure) { f.wall = 1001 * time.Millisecond }, verdict.NotMet, verdict.Met},
		{"exactly 1 s", func(f *figure) { f.wall = time.Second }, verdict.NotMet, verdict.Met},
		{"client heap over", func(f *figure) { f.heap = 101 }, verdict.Met, verdict.NotMet},
		// The client's heap alone is far under the target; the work's
		// memory is in the database.
		{"database over", func(f *figure) { f.db = 150 }, verdict.Met, verdict.NotMet},
		{"together over", func(f *figure) { f.heap, f.db = 60, 45 }, verdict.Met, verdict.NotMet},
		{"database not measured", func(f *figure) { f.db = math.NaN() }, verdict.Met, verdict.NotMeasured},
		{"heap not measured", func(f *figure) { f.heap = math.NaN() }, verdict.Met, verdict.NotMeasured},
		{"time not measured", func(f *figure) { f.wall = 0 }, verdict.NotMeasured, verdict.Met},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ours := good
			tc.change(&ours)
			var out bytes.Buffer
			err := report(&out, ours, naive)
			line := targetLine(t, out.String())
			timePart, memoryPart, ok := strings.Cut(line, "), under ")
			require.True(t, ok, line)
			require.True(t, strings.HasSuffix(timePart, ": "+tc.time), "time: want %s in %q", tc.time, line)
			require.True(t, strings.HasSuffix(memoryPart, ": "+tc.memory+")"), "memory: want %s in %q", tc.memory, line)
			if tc.time == verdict.Met && tc.memory == verdict.Met {
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

func TestSummarize(t *testing.T) {
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	cases := []struct {
		name             string
		runs             []figure
		wall             time.Duration
		heap, db, shared float64
	}{
		{"one run", []figure{{wall: ms(600), heap: 4, db: 14, shared: 200}}, ms(600), 4, 14, 200},
		{
			name: "median time, most memory of any run",
			runs: []figure{{wall: ms(900), heap: 2, db: 30, shared: 100}, {wall: ms(600), heap: 9, db: 10, shared: 220}, {wall: ms(700), heap: 3, db: 12, shared: 150}},
			wall: ms(700), heap: 9, db: 30, shared: 220,
		},
		{
			name: "one run's database memory not measured",
			runs: []figure{{wall: ms(600), heap: 4, db: 14}, {wall: ms(650), heap: 4, db: math.NaN()}, {wall: ms(700), heap: 4, db: 14}},
			wall: ms(650), heap: 4, db: math.NaN(),
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := summarize(tc.runs)
			require.Equal(t, tc.wall, s.wall)
			require.Equal(t, tc.heap, s.heap)
			if math.IsNaN(tc.db) {
				require.True(t, math.IsNaN(s.db), "db %v", s.db)
			} else {
				require.Equal(t, tc.db, s.db)
				require.Equal(t, tc.shared, s.shared)
			}
		})
	}
}
