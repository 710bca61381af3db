package walletprobe

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/scryptpool/poolmicrocloud/tools/internal/chain"
)

func TestVerdicts(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	limits := Limits{Hung: 3 * time.Second, MaxLagBlocks: 2, MaxTipAge: 30 * time.Minute}
	fresh := State{AnsweredAt: now.Add(-time.Second), CheckedAt: now.Add(-time.Second), Height: 100, Headers: 100, Best: 100, BestFrom: "itself", TipTime: now.Add(-5 * time.Minute)}
	with := func(f func(*State)) State { s := fresh; f(&s); return s }
	for _, tc := range []struct {
		name       string
		state      State
		live, sync string
		reason     string
	}{
		{"synced", fresh, Passing, Passing, "synced at height 100"},
		{"starting", State{}, Critical, Critical, "starting"},
		{"never answered", State{Failure: chain.Timeout, FailureText: "no answer within 2s"}, Critical, Critical, "no RPC answer yet (timeout: no answer within 2s)"},
		{"crashed", with(func(s *State) {
			s.AnsweredAt, s.Failure, s.FailureText = now.Add(-10*time.Second), chain.Unreachable, "connection refused"
		}), Critical, Critical, "unreachable: connection refused"},
		{"hung", with(func(s *State) { s.AnsweredAt = now.Add(-4 * time.Second) }), Critical, Critical, "hung: no RPC answer for 4s"},
		{"one call timed out, not yet hung", with(func(s *State) { s.Failure, s.FailureText = chain.Timeout, "no answer in time" }), Passing, Critical, "slow: no answer in time"},
		{"just crashed", with(func(s *State) { s.Failure, s.FailureText = chain.Unreachable, "connection refused" }), Critical, Critical, "unreachable"},
		{"credentials refused", with(func(s *State) { s.Failure, s.FailureText = chain.Auth, "credentials refused (HTTP 401)" }), Passing, Critical, "credentials refused"},
		{"garbage", with(func(s *State) { s.Failure, s.FailureText = chain.Garbage, `answer is not JSON-RPC: "<html>"` }), Passing, Critical, "answers garbage"},
		{"warming up", with(func(s *State) { s.Failure, s.FailureText = chain.RPC, "RPC error -28: Loading block index..." }), Passing, Critical, "not ready"},
		{"initial block download", with(func(s *State) { s.IBD = true }), Passing, Critical, "syncing: initial block download, height 100 of 100 headers, 0.0% verified"},
		{"initial block download with an estimate", with(func(s *State) { s.IBD, s.Headers, s.Progress, s.ProgressRate = true, 2_900_000, 0.25, 0.01 }),
			Passing, Critical, "height 100 of 2900000 headers, 25.0% verified, about 3 days left"},
		{"lagging within limits", with(func(s *State) { s.Best, s.BestFrom = 102, "instance x" }), Passing, Warning, "lagging 2 block(s)"},
		{"too far behind", with(func(s *State) { s.Best, s.BestFrom = 103, "instance x" }), Passing, Critical, "behind by 3 blocks (max_lag_blocks 2)"},
		{"stuck on an old tip", with(func(s *State) { s.Best, s.TipTime = 101, now.Add(-time.Hour) }), Passing, Critical, "tip is 1h0m0s old"},
		{"old tip but nobody has newer", with(func(s *State) { s.TipTime = now.Add(-time.Hour) }), Passing, Passing, "synced"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			live, sync := tc.state.Live(now, limits), tc.state.Sync(now, limits)
			assert.Equal(t, tc.live, live.Status, live.Reason)
			assert.Equal(t, tc.sync, sync.Status, sync.Reason)
			assert.Contains(t, sync.Reason, tc.reason)
		})
	}
}

func TestHTTPCodesAreWhatConsulReads(t *testing.T) {
	assert.Equal(t, 200, Verdict{Status: Passing}.HTTPCode())
	assert.Equal(t, 429, Verdict{Status: Warning}.HTTPCode())
	assert.Equal(t, 503, Verdict{Status: Critical}.HTTPCode())
}

func TestDownloadRate(t *testing.T) {
	start := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	p := &Probe{}
	ibd := func(progress float64) chain.BlockchainInfo {
		return chain.BlockchainInfo{InitialBlockDownload: true, VerificationProgress: progress}
	}
	assert.Zero(t, p.downloadRate(start, ibd(0.10)), "no rate from one poll")
	assert.Zero(t, p.downloadRate(start.Add(30*time.Second), ibd(0.11)), "nor before a minute has passed")
	assert.InDelta(t, 0.10, p.downloadRate(start.Add(time.Hour), ibd(0.20)), 1e-9, "ten points an hour")
	assert.Zero(t, p.downloadRate(start.Add(2*time.Hour), chain.BlockchainInfo{VerificationProgress: 1}), "synced: no download")
	assert.Zero(t, p.downloadRate(start.Add(3*time.Hour), ibd(0.5)), "a new download is measured afresh")
}
