package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/scryptpool/poolmicrocloud/tools/internal/verdict"
)

func msList(ms ...float64) []time.Duration {
	out := make([]time.Duration, len(ms))
	for i, m := range ms {
		if m < 0 {
			out[i] = never
			continue
		}
		out[i] = time.Duration(m * float64(time.Millisecond))
	}
	return out
}

func TestSummarize(t *testing.T) {
	cases := []struct {
		name string
		in   []time.Duration
		want stats
	}{
		{name: "none", want: stats{never, never, never, 0}},
		{name: "one", in: msList(3), want: stats{3 * time.Millisecond, 3 * time.Millisecond, 3 * time.Millisecond, 0}},
		{
			name: "ten, unordered",
			in:   msList(10, 1, 9, 2, 8, 3, 7, 4, 6, 5),
			want: stats{5 * time.Millisecond, 9 * time.Millisecond, 10 * time.Millisecond, 0},
		},
		{
			name: "a missed block is the worst",
			in:   msList(1, 2, 3, -1),
			want: stats{2 * time.Millisecond, never, never, 1},
		},
		{
			name: "most blocks missed: no median",
			in:   msList(1, -1, -1),
			want: stats{never, never, never, 2},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, summarize(tc.in))
		})
	}
}

// The long poll's row carries the verdict; the poll's is the baseline.
func TestReportVerdict(t *testing.T) {
	cases := []struct {
		name     string
		longPoll []time.Duration
		want     string
	}{
		{name: "fast", longPoll: msList(1, 2, 3), want: verdict.Met},
		{name: "median at the target", longPoll: msList(1, 20, 30), want: verdict.NotMet},
		{name: "one slow block does not move the median", longPoll: msList(1, 2, 400), want: verdict.Met},
		{name: "most blocks never came", longPoll: msList(1, -1, -1), want: verdict.NotMeasured},
		{name: "no block measured", want: verdict.NotMeasured},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := &result{blocks: len(tc.longPoll), poll: 500 * time.Millisecond, machine: "test", version: "test", modes: []*mode{
				{name: "long poll", latencies: tc.longPoll},
				{name: "poll", noLongPoll: true, latencies: msList(300, 400, 500)},
			}}
			var out bytes.Buffer
			err := report(&out, r, time.Second)
			var row string
			for _, line := range strings.Split(out.String(), "\n") {
				if strings.HasPrefix(line, "long poll ") {
					row = line
				}
			}
			require.NotEmpty(t, row, out.String())
			assert.True(t, strings.HasSuffix(strings.TrimSpace(row), tc.want), "row %q wants %q", row, tc.want)
			assert.Equal(t, tc.want == verdict.Met, err == nil, "the run fails unless the target is met: %v", err)
		})
	}
}
