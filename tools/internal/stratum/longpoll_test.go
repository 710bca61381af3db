package stratum

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/scryptpool/poolmicrocloud/tools/internal/chain"
)

// What a long poll's answer does to the current job, judged against the
// job published last (on tipA at height 200, long poll id "id-A").
func TestLongPollAnswer(t *testing.T) {
	const wallet = "127.0.0.1:1" // refuses: a fetch fails at once
	answer := func(prev string, height int64, id string) *chain.Template {
		tm := template(prev, height, hardBits)
		tm.LongPollID = id
		return tm
	}
	cases := []struct {
		name      string
		template  *chain.Template
		err       error
		atOnce    bool // answered straight after the call began
		stale     bool // a poll the Source no longer waits on
		published bool
		clean     bool
		failing   int  // long polls failed in a row after it
		fetched   bool // asked afresh (the refusing wallet then failed)
	}{
		{name: "a new block is published as clean work", template: answer(tipB, 201, "id-B"), published: true, clean: true},
		{name: "new transactions on the same tip refresh the work", template: answer(tipA, 200, "id-A2"), published: true},
		{name: "the template the Poll already published is not sent again", template: answer(tipA, 200, "id-A")},
		{name: "a wallet that answers at once on the same tip is backed off", template: answer(tipA, 200, "id-A2"), atOnce: true, failing: 1},
		{name: "a new block answered at once is still a new block", template: answer(tipB, 201, "id-B"), atOnce: true, published: true, clean: true},
		{name: "a failed call is backed off", err: errors.New("connection reset"), failing: 1},
		{name: "another tip not above the job is asked afresh", template: answer(tipB, 200, "id-B"), fetched: true},
		{name: "the answer of a left poll is dropped", template: answer(tipB, 201, "id-B"), stale: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := startServer(t, testConfig())
			script, err := chain.OutputScript(regtestAddress, "regtest")
			require.NoError(t, err)
			s := &Source{
				Server: h.srv, Wallets: StaticWallets{wallet}, PayoutScript: script,
				Dial:       func(hostport string) *chain.Client { return chain.NewClient(hostport, "u", "p") },
				RPCTimeout: time.Second, Avoid: time.Minute, Poll: time.Hour,
				Log:   slog.New(slog.NewTextHandler(testLogWriter{}, nil)),
				avoid: map[string]time.Time{},
			}
			require.NoError(t, s.publish(answer(tipA, 200, "id-A"), wallet))
			s.current = wallet
			before := h.srv.CurrentJob()

			started := time.Now().Add(-time.Hour)
			if tc.atOnce {
				started = time.Now()
			}
			p := &longPoll{wallet: wallet, tip: tipA, started: started, cancel: func() {}, done: make(chan struct{})}
			if !tc.stale {
				s.lp.inFlight = p
			}
			got := s.longPollAnswered(context.Background(), longPollResult{poll: p, template: tc.template, err: tc.err})

			assert.Equal(t, tc.published, got, "reported as published")
			job := h.srv.CurrentJob()
			if tc.published {
				require.NotSame(t, before, job)
				assert.Equal(t, tc.template.PreviousBlockHash, s.tip)
				assert.Equal(t, tc.clean, job.Clean)
			} else {
				assert.Same(t, before, job, "nothing published")
			}
			assert.Equal(t, tc.failing, s.lp.failing)
			assert.Equal(t, tc.failing > 0, !s.lp.retryAt.IsZero(), "the next long poll waits")
			assert.Equal(t, tc.fetched, s.current == "", "a failed fetch leaves the wallet")
			assert.Nil(t, s.lp.inFlight, "no poll is left waiting")
		})
	}
}

// Failures in a row wait longer each time, up to the maximum.
func TestLongPollDelay(t *testing.T) {
	for failedBefore, want := range []time.Duration{1, 2, 4, 8, 16, 32, 60, 60, 60, 60, 60, 60} {
		assert.Equal(t, want*time.Second, longPollDelay(failedBefore), "after %d failures", failedBefore)
	}
}

// A run of failures is logged once, and its end once.
func TestLongPollFailuresLoggedOnce(t *testing.T) {
	logs := &logRecorder{}
	s := &Source{Poll: time.Second, Log: slog.New(slog.NewTextHandler(logs, nil))}
	for range 5 {
		s.longPollFailed("w", errors.New("cut"))
	}
	s.longPollWorked("w")
	s.longPollWorked("w")
	s.longPollFailed("w", errors.New("cut again"))
	assert.Equal(t, 2, logs.count("long poll failed"), "once per run of failures")
	assert.Equal(t, 1, logs.count("long poll works again"))
	assert.Equal(t, 1, s.lp.failing)
}
