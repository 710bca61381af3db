package deploy

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/scryptpool/poolmicrocloud/tools/internal/jobspec"
	"github.com/scryptpool/poolmicrocloud/tools/internal/payout"
)

var update = flag.Bool("update", false, "rewrite the golden files from what the code produces now")

// The periodic runs as status prints them: owed, miners owed and held only
// for the jobs that move money; every run's message and details; held
// miners with their reasons; the largest pending balances; and a launch
// that never recorded anything.
func TestStatusPeriodicRuns(t *testing.T) {
	at := time.Date(2026, 11, 25, 3, 17, 4, 0, time.UTC)
	s := &Status{Pool: "scryptpool", Runs: []RunStatus{
		{JobID: "ltc-payout", Coin: "ltc", Kind: jobspec.KindPayout, Next: at.Add(time.Hour),
			LatestLaunch: "ltc-payout/periodic-1795575424", LatestStatus: "complete",
			Record: &payout.Record{Job: "payout", Finished: at, Outcome: "waiting", Message: "paid 1.00000000 in 1 transaction(s); insufficient funds",
				OwedUnits: 1_234_000_000, OwedMiners: 2,
				Held:  map[string]string{"Lbad": "not a mainnet address"},
				Owing: []payout.Balance{{Address: "ltc1qbig", Units: 1_000_000_000}, {Address: "ltc1qsmall", Units: 234_000_000}}}},
		{JobID: "scryptpool-stats", Kind: jobspec.KindStats, Next: at.Add(5 * time.Minute),
			Record: &payout.Record{Job: "stats", Finished: at, Outcome: "ok", Message: "counted 120 share(s), pruned 30",
				Lines: []string{"ltc: counted 120 share(s) in 3 hour(s) from 2026-11-25T00:00:00Z; pruned 30 share(s), kept from share 31 (the next block's window (4 x the network difficulty))"}}},
		{JobID: "scryptpool-backup", Kind: jobspec.KindBackup, Next: at.Add(24 * time.Hour),
			LatestLaunch: "scryptpool-backup/periodic-1795575400", LatestStatus: "failed"},
	}}
	var out bytes.Buffer
	s.Write(&out)
	golden := filepath.Join("testdata", "status-periodic.txt")
	if *update {
		require.NoError(t, os.WriteFile(golden, out.Bytes(), 0o644))
	}
	want, err := os.ReadFile(golden)
	require.NoError(t, err)
	assert.Equal(t, string(want), out.String())
}
