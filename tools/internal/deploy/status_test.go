package deploy

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"text/tabwriter"
	"time"

	consulapi "github.com/hashicorp/consul/api"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/scryptpool/poolmicrocloud/tools/internal/contract"
	"github.com/scryptpool/poolmicrocloud/tools/internal/dbarchive"
	"github.com/scryptpool/poolmicrocloud/tools/internal/dbcluster"
	"github.com/scryptpool/poolmicrocloud/tools/internal/dbmember"
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

// Where the site answers, under the pool's line: every web server whose
// checks pass; a pool whose web servers all fail says so; the wallets'
// and stratum servers' instances are no site.
func TestStatusSite(t *testing.T) {
	entry := func(addr string, port int, status string) *consulapi.ServiceEntry {
		return &consulapi.ServiceEntry{
			Service: &consulapi.AgentService{Address: addr, Port: port},
			Checks:  consulapi.HealthChecks{{Name: "api answers", ServiceID: "web-1", Status: status}},
		}
	}
	for _, tc := range []struct {
		name     string
		services []ServiceStatus
	}{
		{"passing", []ServiceStatus{
			{Name: "ltc-stratum", Instances: []*consulapi.ServiceEntry{entry("192.168.1.21", 3333, consulapi.HealthPassing)}},
			{Name: "scryptpool-web", Instances: []*consulapi.ServiceEntry{
				entry("192.168.1.21", 8080, consulapi.HealthPassing), entry("192.168.1.22", 8080, consulapi.HealthCritical), entry("192.168.1.23", 8080, consulapi.HealthPassing)}},
		}},
		{"failing", []ServiceStatus{
			{Name: "scryptpool-web", Instances: []*consulapi.ServiceEntry{entry("192.168.1.22", 8080, consulapi.HealthCritical)}},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &Status{Pool: "scryptpool", Services: tc.services}
			var out bytes.Buffer
			s.Write(&out)
			golden := filepath.Join("testdata", "status-site-"+tc.name+".txt")
			if *update {
				require.NoError(t, os.WriteFile(golden, out.Bytes(), 0o644))
			}
			want, err := os.ReadFile(golden)
			require.NoError(t, err)
			assert.Equal(t, string(want), out.String())
		})
	}
}

// The database as status prints it: its own section with the members, a
// loud line under the pool's when commits are not confirmed by a second
// node, none when one instance is what the pool asks for, and one line,
// naming the token to set, when the token may not read the keys.
func TestStatusDatabase(t *testing.T) {
	const (
		primary = `{"conn_url":"postgres://10.0.0.13:5432/postgres","state":"running","role":"master","xlog_location":83886432,"timeline":2}`
		replica = `{"conn_url":"postgres://10.0.0.17:5432/postgres","state":"running","role":"replica","xlog_location":83870000,"timeline":2}`
	)
	consul := Endpoint{API: "consul", Addr: "https://10.0.0.1:8501"}
	cases := []struct {
		name string
		keys map[string]string
		want int
		err  error
	}{
		{name: "async", want: 2, keys: map[string]string{"initialize": "7312345678901234567", "leader": "pi-03",
			"status": `{"optime":83886432}`, "sync": `{"leader":"pi-03","sync_standby":null}`,
			"members/pi-03": primary, "members/pi-07": replica}},
		{name: "single", want: 1, keys: map[string]string{"initialize": "7312345678901234567", "leader": "pi-03",
			"status": `{"optime":83886432}`, "members/pi-03": primary}},
		{name: "filtered", err: fmt.Errorf("list %s: %w", contract.DatabaseDCSPrefix("scryptpool"), dbcluster.ErrFiltered)},
		{name: "unknown-token", err: fmt.Errorf("list %s: %w", contract.DatabaseDCSPrefix("scryptpool"),
			consulapi.StatusError{Code: 403, Body: "ACL not found"})},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := &Status{Pool: "scryptpool"}
			if tc.err != nil {
				s.DatabaseError = APIError(consul, "read the database's cluster state", tc.err).Error()
			} else {
				var pairs consulapi.KVPairs
				for k, v := range tc.keys {
					pairs = append(pairs, &consulapi.KVPair{Key: contract.DatabaseDCSKey("scryptpool", k), Value: []byte(v), Session: "s"})
				}
				s.Database = dbcluster.FromPairs("scryptpool", pairs, tc.want)
			}
			var out bytes.Buffer
			s.Write(&out)
			golden := filepath.Join("testdata", "status-database-"+tc.name+".txt")
			if *update {
				require.NoError(t, os.WriteFile(golden, out.Bytes(), 0o644))
			}
			want, err := os.ReadFile(golden)
			require.NoError(t, err)
			assert.Equal(t, string(want), out.String())
		})
	}
}

// The database archive's record in the status: what it holds, how far
// back a restore goes, and a gap said loudly.
func TestStatusArchive(t *testing.T) {
	at := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	ago := func(d time.Duration) *time.Time { v := at.Add(-d); return &v }
	last := dbarchive.Backup{ID: "20261202T031700Z", Started: *ago(8*time.Hour + 44*time.Minute), Finished: *ago(8*time.Hour + 43*time.Minute), Bytes: 41_943_040}
	cases := []struct {
		name     string
		info     *dbarchive.Info
		problem  string
		restore  *dbmember.RestoreRequest
		rproblem string
	}{
		{name: "none"},
		{name: "holding", info: &dbarchive.Info{LastBackup: &last, OldestRestorable: ago(13*24*time.Hour + 8*time.Hour),
			NewestWAL: "000000020000000000000042", NewestWALWritten: ago(3 * time.Second), LastCommit: ago(4 * time.Second)}},
		{name: "gap", info: &dbarchive.Info{LastBackup: &last, OldestRestorable: ago(2 * 24 * time.Hour),
			NewestWAL: "000000020000000000000042", NewestWALWritten: ago(time.Hour), Gap: "000000020000000000000031"}},
		{name: "empty", info: &dbarchive.Info{}},
		{name: "restored", info: &dbarchive.Info{LastBackup: &last, OldestRestorable: &last.Finished,
			NewestWAL: "000000030000000000000044", NewestWALWritten: ago(3 * time.Second), SetAside: "/backup/database-archive/set-aside-20261202T032000Z"},
			restore: &dbmember.RestoreRequest{ID: "20261202T031500.000Z", Target: *ago(9 * time.Hour), Archive: "scryptpool-archive", Requested: *ago(8*time.Hour + 45*time.Minute)}},
		{name: "restore-unreadable", info: &dbarchive.Info{}, rproblem: "poolctl/scryptpool/database-restore: restore request: id \"\": 1 to 64 of 0-9 A-Z a-z . _ -"},
		{name: "unreadable", problem: "poolctl/scryptpool/archive is not what the archive writes: unexpected end of JSON input"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			tw := tabwriter.NewWriter(&out, 0, 0, 2, ' ', 0)
			writeArchive(tw, tc.info, tc.problem, at)
			writeRestore(tw, tc.restore, tc.rproblem)
			require.NoError(t, tw.Flush())
			golden := filepath.Join("testdata", "status-archive-"+tc.name+".txt")
			if *update {
				require.NoError(t, os.WriteFile(golden, out.Bytes(), 0o644))
			}
			want, err := os.ReadFile(golden)
			require.NoError(t, err)
			assert.Equal(t, string(want), out.String())
		})
	}
}
