package dbcluster

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	consulapi "github.com/hashicorp/consul/api"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/scryptpool/poolmicrocloud/tools/internal/contract"
)

var update = flag.Bool("update", false, "rewrite the golden files from what the code produces now")

// Member keys as Patroni 3.0.2 writes them.
const (
	primary03 = `{"conn_url":"postgres://10.0.0.13:5432/postgres","api_url":"http://10.0.0.13:8008/patroni","state":"running","role":"master","version":"3.0.2","xlog_location":83886432,"timeline":2}`
	replica07 = `{"conn_url":"postgres://10.0.0.17:5432/postgres","api_url":"http://10.0.0.17:8008/patroni","state":"running","role":"replica","version":"3.0.2","xlog_location":83886432,"timeline":2}`
	replica08 = `{"conn_url":"postgres://10.0.0.18:5432/postgres","api_url":"http://10.0.0.18:8008/patroni","state":"running","role":"replica","version":"3.0.2","xlog_location":78643200,"timeline":2}`
	status    = `{"optime":83886432,"slots":{"pi_07":83886432}}`
	syncMode  = `{"ttl":20,"loop_wait":5,"retry_timeout":5,"maximum_lag_on_failover":1048576,"synchronous_mode":true,"synchronous_mode_strict":false,"postgresql":{"use_pg_rewind":true}}`
	sync07    = `{"leader":"pi-03","sync_standby":"pi-07"}`
	syncNone  = `{"leader":"pi-03","sync_standby":null}`
)

// healthy is a two-member cluster as Patroni leaves it when all is well;
// the cases change it.
func healthy() map[string]string {
	return map[string]string{
		"initialize": "7312345678901234567", "config": syncMode, "leader": "pi-03", "status": status, "sync": sync07,
		"members/pi-03": primary03, "members/pi-07": replica07,
	}
}

func with(keys map[string]string, changes ...string) map[string]string {
	for i := 0; i+1 < len(changes); i += 2 {
		if changes[i+1] == "" {
			delete(keys, changes[i])
		} else {
			keys[changes[i]] = changes[i+1]
		}
	}
	return keys
}

// Every verdict and its rendering, from key sets made by hand: what
// Patroni writes in each situation, and keys it would never write
// (malformed, missing fields, hostile text), which must each become a
// note naming the key.
func TestViewGolden(t *testing.T) {
	cases := []struct {
		name string
		want int
		keys map[string]string
		// unheld: no session holds the leader key.
		unheld bool
	}{
		{name: "healthy", want: 2, keys: healthy()},
		{name: "healthy-three-one-lagging", want: 3, keys: with(healthy(), "members/pi-08", replica08)},
		{name: "async-replica-killed", want: 2, keys: with(healthy(), "sync", syncNone,
			"members/pi-07", strings.Replace(replica07, `"xlog_location":83886432`, `"xlog_location":83880000`, 1))},
		{name: "async-replica-gone", want: 2, keys: with(healthy(), "sync", syncNone, "members/pi-07", "")},
		{name: "async-replica-stopped", want: 2, keys: with(healthy(), "sync", syncNone,
			"members/pi-07", `{"conn_url":"postgres://10.0.0.17:5432/postgres","state":"stopped","role":"replica","timeline":2}`)},
		{name: "async-replica-cloning", want: 2, keys: with(healthy(), "sync", syncNone,
			"members/pi-07", `{"conn_url":"postgres://10.0.0.17:5432/postgres","state":"creating replica","role":"uninitialized"}`)},
		{name: "async-sync-standby-starting", want: 2, keys: with(healthy(),
			"members/pi-07", strings.Replace(replica07, `"state":"running"`, `"state":"starting"`, 1))},
		{name: "async-sync-standby-no-member-key", want: 2, keys: with(healthy(), "members/pi-07", "")},
		{name: "async-synchronous-mode-off", want: 2, keys: with(healthy(), "sync", "",
			"config", strings.Replace(syncMode, `"synchronous_mode":true`, `"synchronous_mode":false`, 1))},
		{name: "strict-commits-wait", want: 2, keys: with(healthy(), "sync", syncNone, "members/pi-07", "",
			"config", strings.Replace(syncMode, `"synchronous_mode_strict":false`, `"synchronous_mode_strict":true`, 1))},
		{name: "single-instance", want: 1, keys: with(healthy(), "sync", syncNone, "members/pi-07", "")},
		{name: "single-instance-wanted-two", want: 2, keys: with(healthy(), "sync", "", "members/pi-07", "")},
		{name: "no-primary", want: 2, keys: with(healthy(), "leader", "", "sync", syncNone,
			"members/pi-03", strings.Replace(primary03, `"state":"running"`, `"state":"stopped"`, 1))},
		{name: "primary-crashed", want: 2, keys: with(healthy(), "sync", syncNone,
			"members/pi-03", `{"conn_url":"postgres://10.0.0.13:5432/postgres","state":"crashed","role":"master"}`)},
		{name: "old-primary-not-demoted", want: 2, keys: with(healthy(), "leader", "pi-07",
			"sync", `{"leader":"pi-07","sync_standby":null}`, "status", `{"optime":90000000}`,
			"members/pi-07", strings.Replace(replica07, `"role":"replica"`, `"role":"master"`, 1))},
		{name: "stale-sync-key", want: 2, keys: with(healthy(), "leader", "pi-07",
			"members/pi-03", strings.Replace(primary03, `"role":"master"`, `"role":"replica"`, 1),
			"members/pi-07", strings.Replace(replica07, `"role":"replica"`, `"role":"master"`, 1))},
		{name: "not-bootstrapped", want: 2, keys: map[string]string{}},
		{name: "not-bootstrapped-one-instance", want: 1, keys: map[string]string{}},
		{name: "bootstrapping", want: 2, keys: map[string]string{
			"members/pi-03": `{"conn_url":"postgres://10.0.0.13:5432/postgres","state":"initializing new cluster","role":"uninitialized"}`}},
		{name: "paused-switchover-requested", want: 2, keys: with(healthy(),
			"config", strings.Replace(syncMode, `"ttl":20`, `"ttl":20,"pause":true`, 1),
			"failover", `{"leader":"pi-03","member":"pi-07"}`)},
		{name: "position-from-leader-member", want: 2, keys: with(healthy(), "status", "",
			"members/pi-07", strings.Replace(replica07, `"xlog_location":83886432`, `"xlog_location":83870000`, 1))},
		{name: "position-from-legacy-optime", want: 2, keys: with(healthy(), "status", "", "optime/leader", "83886432",
			"members/pi-03", strings.Replace(primary03, `"xlog_location":83886432,`, ``, 1))},
		{name: "position-unknown", want: 2, keys: with(healthy(), "status", "",
			"members/pi-03", strings.Replace(primary03, `"xlog_location":83886432,`, ``, 1))},
		{name: "leader-without-member-key", want: 2, keys: with(healthy(), "members/pi-03", "")},
		{name: "leader-unheld", want: 2, keys: healthy(), unheld: true},
		{name: "malformed-member", want: 2, keys: with(healthy(), "members/pi-07", `{"conn_url":"postgres://10.0.0.17:5432/postgres","state":`)},
		{name: "malformed-leader-member", want: 2, keys: with(healthy(), "members/pi-03", `not json`)},
		{name: "malformed-sync", want: 2, keys: with(healthy(), "sync", `[1,2`)},
		{name: "sync-standby-wrong-type", want: 2, keys: with(healthy(), "sync", `{"leader":"pi-03","sync_standby":["pi-07"]}`)},
		{name: "malformed-status-and-config", want: 2, keys: with(healthy(), "status", `{"optime":"0/5000060"}`, "config", `null`)},
		{name: "member-missing-fields", want: 2, keys: with(healthy(), "members/pi-07", `{"role":"replica"}`)},
		{name: "member-wrong-types", want: 2, keys: with(healthy(),
			"members/pi-07", `{"conn_url":5,"state":"running","role":"replica","xlog_location":"0/5000060","timeline":"two"}`)},
		{name: "member-impossible-values", want: 2, keys: with(healthy(),
			"members/pi-07", `{"conn_url":"no host here","state":"running","role":"replica","xlog_location":-5,"timeline":-1}`)},
		{name: "hostile-text", want: 2, keys: with(healthy(),
			"members/pi-07", `{"conn_url":"postgres://10.0.0.17:5432/postgres","state":"running\u001b[2J\u001b[31m","role":"`+strings.Repeat("x", 300)+`","xlog_location":83886432}`)},
		{name: "keys-beside-the-members", want: 2, keys: with(healthy(), "members/pi-03/extra", "x", "members/", "{}", "history", `[[1,25165984,"no recovery target specified"]]`)},
	}
	seen := map[string]bool{}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			require.False(t, seen[tc.name], "two cases named %s", tc.name)
			seen[tc.name] = true
			v := FromPairs("scryptpool", pairs("scryptpool", tc.keys, !tc.unheld), tc.want)
			verdict := v.Judge()
			var out bytes.Buffer
			fmt.Fprintf(&out, "verdict: %s (loud: %v)\n", verdict.Health, verdict.Loud)
			v.Write(&out)
			golden := filepath.Join("testdata", tc.name+".txt")
			if *update {
				require.NoError(t, os.WriteFile(golden, out.Bytes(), 0o644))
			}
			want, err := os.ReadFile(golden)
			require.NoError(t, err, "no golden file: run go test ./tools/internal/dbcluster -update")
			assert.Equal(t, string(want), out.String())
		})
	}
}

// pairs are the keys as a KV list returns them, the leader key held by a
// session when held is set, and a key of another pool beside them.
func pairs(pool string, keys map[string]string, held bool) consulapi.KVPairs {
	prefix := contract.DatabaseDCSPrefix(pool)
	names := make([]string, 0, len(keys))
	for k := range keys {
		names = append(names, k)
	}
	sort.Strings(names)
	var out consulapi.KVPairs
	for _, k := range names {
		p := &consulapi.KVPair{Key: prefix + k, Value: []byte(keys[k])}
		if k == keyLeader && held {
			p.Session = "4d9c2b1e-5b7a-4c1e-9d1e-6f0a2b3c4d5e"
		}
		out = append(out, p)
	}
	return append(out, &consulapi.KVPair{Key: contract.DatabaseDCSKey("otherpool", "leader"), Value: []byte("pi-99")})
}

// The judgement for the cases that matter most, spelled out beside the
// golden files: who is primary, who confirms commits, and the lag.
func TestViewFacts(t *testing.T) {
	v := FromPairs("scryptpool", pairs("scryptpool", healthy(), true), 2)
	assert.Equal(t, Healthy, v.Judge().Health)
	assert.Equal(t, "pi-03", v.Leader)
	assert.Equal(t, []string{"pi-07"}, v.SyncStandbys)
	assert.Equal(t, keyStatus, v.PositionFrom)
	require.Len(t, v.Members, 2)
	assert.Equal(t, Member{Name: "pi-07", Address: "10.0.0.17:5432", Role: SyncStandby, ReportedRole: "replica",
		State: "running", Timeline: 2, Position: 83886432, Lag: 0}, v.Members[1])
	assert.Equal(t, Primary, v.Members[0].Role)
	assert.Empty(t, v.Notes)

	v = FromPairs("scryptpool", pairs("scryptpool", with(healthy(), "sync", syncNone), true), 2)
	verdict := v.Judge()
	assert.Equal(t, Async, verdict.Health)
	assert.True(t, verdict.Loud)
	assert.Contains(t, verdict.Line, "pi-03")

	assert.Equal(t, "degraded-async", Async.String())
	assert.Equal(t, "Health(42)", Health(42).String())
}

func TestSize(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 5 << 20: "5.0 MiB", 3 << 30: "3.0 GiB"} {
		assert.Equal(t, want, size(n), "%d bytes", n)
	}
}
