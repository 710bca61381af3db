package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/scryptpool/poolmicrocloud/tools/internal/verdict"
)

// The rows of the report whose verdicts the tests read, by their start.
const (
	rowShares  = "1. shares validated"
	rowConnGo  = "2. memory per idle connection, Go runtime"
	rowConnRSS = "   memory per idle connection, RSS"
	rowMedian  = "3. new block to all"
	rowWorst   = "   new block to all"
)

func goodShares() sharesResult {
	return sharesResult{RawHashes: 5000, RawCPU: time.Second, Shares: 4800, ServerCPU: time.Second, Rounds: 1}
}

func goodConns(conns int) connsResult {
	r := connsResult{Conns: conns, Before: memory{GoBytes: 1 << 20, RSSBytes: 1 << 20}}
	r.After = memory{GoBytes: r.Before.GoBytes + uint64(conns)*8*1024, RSSBytes: r.Before.RSSBytes + uint64(conns)*8*1024}
	for i := 0; i < 5; i++ {
		r.Rounds = append(r.Rounds, pushRound{PublishReturned: time.Millisecond, AllReceived: 60 * time.Millisecond, Received: conns})
	}
	return r
}

func TestReportVerdicts(t *testing.T) {
	cases := []struct {
		name   string
		change func(s *sharesResult, ours, naive *connsResult)
		want   map[string]string // row -> verdict; rows not named are met
	}{
		{name: "every target met", change: func(*sharesResult, *connsResult, *connsResult) {}},
		{
			name: "no miner received any job",
			// As the miners' process reports it: no receipt time (0), so
			// the difference to the start is hugely negative.
			change: func(_ *sharesResult, ours, _ *connsResult) {
				for i := range ours.Rounds {
					ours.Rounds[i].Received, ours.Rounds[i].AllReceived = 0, -time.Duration(time.Now().UnixNano())
				}
			},
			want: map[string]string{rowMedian: verdict.NotMeasured, rowWorst: verdict.NotMeasured},
		},
		{
			name: "one round missed one miner",
			change: func(_ *sharesResult, ours, _ *connsResult) {
				ours.Rounds[2].Received--
			},
			want: map[string]string{rowWorst: verdict.NotMeasured},
		},
		{
			name: "most rounds missed a miner",
			change: func(_ *sharesResult, ours, _ *connsResult) {
				for i := 0; i < 3; i++ {
					ours.Rounds[i].Received--
				}
			},
			want: map[string]string{rowMedian: verdict.NotMeasured, rowWorst: verdict.NotMeasured},
		},
		{
			name:   "no round pushed",
			change: func(_ *sharesResult, ours, _ *connsResult) { ours.Rounds = nil },
			want:   map[string]string{rowMedian: verdict.NotMeasured, rowWorst: verdict.NotMeasured},
		},
		{
			name: "push too slow",
			change: func(_ *sharesResult, ours, _ *connsResult) {
				for i := range ours.Rounds {
					ours.Rounds[i].AllReceived = 250 * time.Millisecond
				}
			},
			want: map[string]string{rowMedian: verdict.NotMet, rowWorst: verdict.NotMet},
		},
		{
			name: "one slow round",
			change: func(_ *sharesResult, ours, _ *connsResult) {
				ours.Rounds[4].AllReceived = 250 * time.Millisecond
			},
			want: map[string]string{rowWorst: verdict.NotMet},
		},
		{
			name:   "shares below 90% of raw",
			change: func(s *sharesResult, _, _ *connsResult) { s.Shares = 4000 },
			want:   map[string]string{rowShares: verdict.NotMet},
		},
		{
			name:   "server CPU not measured",
			change: func(s *sharesResult, _, _ *connsResult) { s.ServerCPU = 0 },
			want:   map[string]string{rowShares: verdict.NotMeasured},
		},
		{
			name:   "no share validated",
			change: func(s *sharesResult, _, _ *connsResult) { s.Shares = 0 },
			want:   map[string]string{rowShares: verdict.NotMet},
		},
		{
			name: "memory per connection over",
			change: func(_ *sharesResult, ours, _ *connsResult) {
				ours.After.GoBytes = ours.Before.GoBytes + uint64(ours.Conns)*17*1024
				ours.After.RSSBytes = ours.Before.RSSBytes + uint64(ours.Conns)*17*1024
			},
			want: map[string]string{rowConnGo: verdict.NotMet, rowConnRSS: verdict.NotMet},
		},
		{
			name: "memory shrank: not a measurement",
			change: func(_ *sharesResult, ours, _ *connsResult) {
				ours.After.RSSBytes = ours.Before.RSSBytes - 1024
			},
			want: map[string]string{rowConnRSS: verdict.NotMeasured},
		},
		{
			name: "no connection held",
			change: func(_ *sharesResult, ours, _ *connsResult) {
				ours.Conns = 0
			},
			want: map[string]string{rowConnGo: verdict.NotMeasured, rowConnRSS: verdict.NotMeasured, rowMedian: verdict.NotMeasured, rowWorst: verdict.NotMeasured},
		},
		{
			name: "the baseline missing miners judges nothing",
			change: func(_ *sharesResult, _, naive *connsResult) {
				for i := range naive.Rounds {
					naive.Rounds[i].Received = 0
				}
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, ours, naive := goodShares(), goodConns(100), goodConns(100)
			tc.change(&s, &ours, &naive)
			var out bytes.Buffer
			err := printReport(&out, machine{}, s, ours, naive, time.Second)
			for _, row := range []string{rowShares, rowConnGo, rowConnRSS, rowMedian, rowWorst} {
				want := tc.want[row]
				if want == "" {
					want = verdict.Met
				}
				require.Equal(t, want, rowVerdict(t, out.String(), row), "row %q in\n%s", row, out.String())
			}
			if len(tc.want) == 0 {
				require.NoError(t, err, out.String())
			} else {
				require.Error(t, err, out.String())
			}
		})
	}
}

// rowVerdict is the verdict ending the report's row that starts with row.
func rowVerdict(t *testing.T, report, row string) string {
	t.Helper()
	for _, line := range strings.Split(report, "\n") {
		if !strings.HasPrefix(line, row) {
			continue
		}
		line = strings.TrimSpace(line)
		for _, word := range []string{verdict.NotMeasured, verdict.NotMet, verdict.Met} {
			if strings.HasSuffix(line, " "+word) {
				return word
			}
		}
		t.Fatalf("row %q has no verdict: %q", row, line)
	}
	t.Fatalf("no row %q in\n%s", row, report)
	return ""
}
