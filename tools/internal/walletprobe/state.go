// Package walletprobe is the health probe that runs beside each wallet
// (poolctl wallet probe). It asks its wallet over RPC, every second, how it
// is doing, compares its height with the other instances of the coin and
// with its peers, and answers Consul's HTTP checks from what it last saw,
// so that its own answer stays instant when the wallet hangs:
//
//   - /v1/live: is the daemon there and answering at all? Critical when it
//     is gone or hangs; Nomad's check_restart restarts it then.
//   - /v1/sync: can the pool use it? Passing when synced at the best known
//     height, warning (429) when a few blocks behind, critical (503) when
//     too far behind, in initial block download, stuck on an old tip while
//     others have newer blocks, or refusing credentials. No restart: a
//     lagging wallet is catching up, and killing it would start it over.
//   - /v1/status: the same as JSON, for poolctl status.
package walletprobe

import (
	"fmt"
	"net/http"
	"time"

	"github.com/scryptpool/poolmicrocloud/tools/internal/chain"
)

// Status of a check, as Consul reads it from the HTTP status code.
const (
	Passing  = "passing"
	Warning  = "warning"
	Critical = "critical"
)

// Verdict is one check's answer.
type Verdict struct {
	Status string `json:"status"`
	Reason string `json:"reason"`
}

// HTTPCode is what Consul's HTTP check maps back to the status.
func (v Verdict) HTTPCode() int {
	switch v.Status {
	case Passing:
		return http.StatusOK
	case Warning:
		return http.StatusTooManyRequests
	}
	return http.StatusServiceUnavailable
}

// State is what the probe last saw of its wallet.
type State struct {
	// CheckedAt is when the last RPC call ended; AnsweredAt when the
	// daemon last answered anything at all (even an error).
	CheckedAt  time.Time `json:"checked_at"`
	AnsweredAt time.Time `json:"answered_at"`
	// Failure is how the last call failed, if it did.
	Failure     chain.Kind `json:"failure,omitempty"`
	FailureText string     `json:"failure_text,omitempty"`

	Height  int64     `json:"height"`
	Headers int64     `json:"headers"`
	TipTime time.Time `json:"tip_time"`
	IBD     bool      `json:"initial_block_download"`
	Peers   int       `json:"peers"`
	// Progress is the daemon's estimate of how much of the chain it has
	// verified (0 to 1); ProgressRate how fast that grows, per hour,
	// measured since the probe first saw the download (0: not known yet).
	Progress     float64 `json:"verification_progress"`
	ProgressRate float64 `json:"progress_per_hour,omitempty"`
	// Best is the highest height known: the wallet's own headers, the
	// other instances of the coin, its peers; BestFrom says whose.
	Best     int64  `json:"best_height"`
	BestFrom string `json:"best_from"`
	// Others is how many other instances answered the last comparison.
	Others int `json:"other_instances"`
}

// Lag is how many blocks the wallet is behind the best known height.
func (s State) Lag() int64 {
	if s.Best > s.Height {
		return s.Best - s.Height
	}
	return 0
}

// Limits are what the checks hold the wallet to.
type Limits struct {
	// Hung: no answer for this long means the daemon hangs.
	Hung         time.Duration
	MaxLagBlocks int64
	MaxTipAge    time.Duration
}

// Live says whether the daemon is there and answering.
func (s State) Live(now time.Time, l Limits) Verdict {
	switch {
	case s.AnsweredAt.IsZero() && s.Failure == "":
		return Verdict{Critical, "starting: no RPC answer yet"}
	case s.Failure == chain.Unreachable:
		// Nothing listens: the daemon crashed or is not up yet.
		return Verdict{Critical, "unreachable: " + s.FailureText}
	case s.AnsweredAt.IsZero():
		// Something listens but has never answered: not up yet, or not a
		// wallet (a port taken by another program).
		return Verdict{Critical, fmt.Sprintf("no RPC answer yet (%s: %s)", s.Failure, s.FailureText)}
	case now.Sub(s.AnsweredAt) > l.Hung:
		return Verdict{Critical, fmt.Sprintf("hung: no RPC answer for %s", now.Sub(s.AnsweredAt).Round(100*time.Millisecond))}
	}
	return Verdict{Passing, fmt.Sprintf("answers RPC (height %d)", s.Height)}
}

// Sync says whether the pool can use the wallet now.
func (s State) Sync(now time.Time, l Limits) Verdict {
	if live := s.Live(now, l); live.Status != Passing {
		return live
	}
	switch s.Failure {
	case chain.Timeout:
		// One call went unanswered: not hung yet, but not usable now.
		return Verdict{Critical, "slow: " + s.FailureText}
	case chain.Auth:
		return Verdict{Critical, "credentials refused: " + s.FailureText + " (check the wallet's Nomad variable)"}
	case chain.Garbage, chain.HTTPStatus:
		return Verdict{Critical, "answers garbage: " + s.FailureText}
	case chain.RPC:
		// -28: loading the block index, verifying blocks at start-up.
		return Verdict{Critical, "not ready: " + s.FailureText}
	}
	tipAge := now.Sub(s.TipTime).Round(time.Second)
	switch lag := s.Lag(); {
	case s.IBD:
		return Verdict{Critical, "syncing: " + s.DownloadProgress()}
	case lag > l.MaxLagBlocks:
		return Verdict{Critical, fmt.Sprintf("behind by %d blocks (max_lag_blocks %d): height %d, best %d from %s", lag, l.MaxLagBlocks, s.Height, s.Best, s.BestFrom)}
	case lag > 0 && tipAge > l.MaxTipAge:
		// Only a little behind, but stuck there: its tip is old while
		// others have moved on.
		return Verdict{Critical, fmt.Sprintf("tip is %s old (max_tip_age %s) while %s has newer blocks", tipAge, l.MaxTipAge, s.BestFrom)}
	case lag > 0:
		return Verdict{Warning, fmt.Sprintf("lagging %d block(s), within max_lag_blocks %d: height %d, best %d from %s", lag, l.MaxLagBlocks, s.Height, s.Best, s.BestFrom)}
	}
	return Verdict{Passing, fmt.Sprintf("synced at height %d, tip %s old, %d peer(s)", s.Height, tipAge, s.Peers)}
}

// DownloadProgress says how far an initial block download is: height,
// headers, verified share of the chain and, once measured, an estimate of
// the time left.
func (s State) DownloadProgress() string {
	out := fmt.Sprintf("initial block download, height %d of %d headers, %.1f%% verified", s.Height, s.Headers, 100*s.Progress)
	if s.ProgressRate > 0 && s.Progress < 1 {
		left := time.Duration((1 - s.Progress) / s.ProgressRate * float64(time.Hour))
		out += ", about " + roughly(left) + " left"
	}
	return out
}

// roughly writes a long duration the way people estimate one.
func roughly(d time.Duration) string {
	switch {
	case d >= 48*time.Hour:
		return fmt.Sprintf("%d days", int(d.Hours()/24+0.5))
	case d >= 2*time.Hour:
		return fmt.Sprintf("%d hours", int(d.Hours()+0.5))
	case d >= 2*time.Minute:
		return fmt.Sprintf("%d minutes", int(d.Minutes()+0.5))
	}
	return "a minute"
}
