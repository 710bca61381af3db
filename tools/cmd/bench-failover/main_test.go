package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/scryptpool/poolmicrocloud/tools/internal/failover"
	"github.com/scryptpool/poolmicrocloud/tools/internal/verdict"
)

// The target lines the tests read, by their start.
const (
	lineAlways    = "a usable wallet"
	lineHang      = "hang detected"
	lineRestarted = "hung wallet restarted"
	lineLag       = "lag flagged"
	lineCrash     = "crash:"
)

// goodResults are the README's run: every target met.
func goodResults() []result {
	s := func(f float64) time.Duration { return time.Duration(f * float64(time.Second)) }
	avail := failover.Availability{Samples: 100}
	ours := []result{
		{fault: "crash", detected: s(0.5), detectedOK: true, restartedAfter: s(2.3), restarted: true, recovered: s(3.6), recoveredOK: true},
		{fault: "hang", detected: s(3.3), detectedOK: true, restartedAfter: s(12.1), restarted: true, recovered: s(13.7), recoveredOK: true},
		{fault: "lag", detected: s(1.2), detectedOK: true, recovered: s(2.9), recoveredOK: true},
		{fault: "power cut", detected: s(2.0), detectedOK: true, recovered: s(27.6), recoveredOK: true},
	}
	var all []result
	for _, r := range ours {
		r.system, r.ours, r.avail = "poolctl wallet (probe, check_restart)", true, avail
		all = append(all, r)
		// The baseline misses everything; it is never judged.
		all = append(all, result{system: "baseline (Nomad defaults, TCP check)", fault: r.fault, avail: failover.Availability{Samples: 100, Unserved: 50}})
	}
	return all
}

func ours(rs []result, fault string) *result {
	for i := range rs {
		if rs[i].ours && rs[i].fault == fault {
			return &rs[i]
		}
	}
	panic("no result for " + fault)
}

func TestJudgeTargets(t *testing.T) {
	cases := []struct {
		name   string
		change func([]result) []result
		want   map[string]string // line -> verdict; lines not named are met
	}{
		{name: "every target met", change: func(rs []result) []result { return rs }},
		{
			name:   "a moment without a usable wallet",
			change: func(rs []result) []result { ours(rs, "power cut").avail.Unserved = 1; return rs },
			want:   map[string]string{lineAlways: verdict.NotMet},
		},
		{
			name:   "a case not sampled",
			change: func(rs []result) []result { ours(rs, "lag").avail.Samples = 0; return rs },
			want:   map[string]string{lineAlways: verdict.NotMeasured},
		},
		{
			name:   "hang detected late",
			change: func(rs []result) []result { ours(rs, "hang").detected = 5100 * time.Millisecond; return rs },
			want:   map[string]string{lineHang: verdict.NotMet},
		},
		{
			name:   "hang never detected",
			change: func(rs []result) []result { ours(rs, "hang").detectedOK = false; return rs },
			want:   map[string]string{lineHang: verdict.NotMet},
		},
		{
			name:   "hung wallet never restarted",
			change: func(rs []result) []result { ours(rs, "hang").restarted = false; return rs },
			want:   map[string]string{lineRestarted: verdict.NotMet},
		},
		{
			name:   "hung wallet restarted late",
			change: func(rs []result) []result { ours(rs, "hang").restartedAfter = 21 * time.Second; return rs },
			want:   map[string]string{lineRestarted: verdict.NotMet},
		},
		{
			name:   "lag restarted the wallet",
			change: func(rs []result) []result { ours(rs, "lag").restarted = true; return rs },
			want:   map[string]string{lineLag: verdict.NotMet},
		},
		{
			name:   "lag flagged late",
			change: func(rs []result) []result { ours(rs, "lag").detected = 6 * time.Second; return rs },
			want:   map[string]string{lineLag: verdict.NotMet},
		},
		{
			name:   "crash restarted late",
			change: func(rs []result) []result { ours(rs, "crash").restartedAfter = 16 * time.Second; return rs },
			want:   map[string]string{lineCrash: verdict.NotMet},
		},
		{
			name:   "crash never healthy again",
			change: func(rs []result) []result { ours(rs, "crash").recoveredOK = false; return rs },
			want:   map[string]string{lineCrash: verdict.NotMet},
		},
		{
			name: "the pool's wallets not measured at all",
			change: func(rs []result) []result {
				var base []result
				for _, r := range rs {
					if !r.ours {
						base = append(base, r)
					}
				}
				return base
			},
			want: map[string]string{lineAlways: verdict.NotMeasured, lineHang: verdict.NotMeasured, lineRestarted: verdict.NotMeasured,
				lineLag: verdict.NotMeasured, lineCrash: verdict.NotMeasured},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			err := judgeTargets(&out, tc.change(goodResults()))
			for _, line := range []string{lineAlways, lineHang, lineRestarted, lineLag, lineCrash} {
				want := tc.want[line]
				if want == "" {
					want = verdict.Met
				}
				require.Equal(t, want, targetVerdict(t, out.String(), line), "line %q in\n%s", line, out.String())
			}
			if len(tc.want) == 0 {
				require.NoError(t, err, out.String())
			} else {
				require.Error(t, err, out.String())
			}
		})
	}
}

func targetVerdict(t *testing.T, report, start string) string {
	t.Helper()
	for _, line := range strings.Split(report, "\n") {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, start) {
			continue
		}
		for _, word := range []string{verdict.NotMeasured, verdict.NotMet, verdict.Met} {
			if strings.HasSuffix(line, " "+word) {
				return word
			}
		}
		t.Fatalf("line %q has no verdict", line)
	}
	t.Fatalf("no line %q in\n%s", start, report)
	return ""
}
