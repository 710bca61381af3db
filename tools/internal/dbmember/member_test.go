package dbmember

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite the golden files from what the code produces now")

func good() Member {
	return Member{
		Name: "node-06", Namespace: "/poolctl/scryptpool/", Scope: "database",
		DataDir: "/data/postgresql", BinDir: "/usr/lib/postgresql/15/bin",
		Listen: "192.168.1.16:24001", API: "192.168.1.16:24002", SocketDir: "/local", PGPass: "/secrets/pgpass",
		Allow:      []string{"192.168.1.0/24"},
		ConsulAddr: "https://192.168.1.16:8501", ConsulCACert: "/etc/ssl/pool/ca.pem", ConsulToken: "task-token",
		SuperuserPassword: "su", ReplicationPassword: "repl", RewindPassword: "rew",
		PoolUser: "pool", PoolDatabase: "pool", PoolVerifier: "SCRAM-SHA-256$4096:c2FsdA==$a2V5:c2VydmVy",
		EnsureLogins:    []string{"/usr/local/bin/poolctl", "database", "ensure-logins", "--secrets=/secrets/database.json", "--socket-dir=/local", "--port=24001", "it's"},
		SharedBuffersMB: 64, MaxConnections: 50,
	}
}

func TestConfigGolden(t *testing.T) {
	got, err := good().Config()
	require.NoError(t, err)
	golden := filepath.Join("testdata", "patroni.golden.json")
	if *update {
		require.NoError(t, os.WriteFile(golden, got, 0o644))
	}
	want, err := os.ReadFile(golden)
	require.NoError(t, err)
	assert.Equal(t, string(want), string(got))

	var cfg map[string]any
	require.NoError(t, json.Unmarshal(got, &cfg))
	dcs := cfg["bootstrap"].(map[string]any)["dcs"].(map[string]any)
	// Patroni's own rule; Consul refuses sessions under 10 s (TTL/2).
	assert.LessOrEqual(t, dcs["loop_wait"].(float64)+2*dcs["retry_timeout"].(float64), dcs["ttl"].(float64))
	assert.GreaterOrEqual(t, dcs["ttl"].(float64), 20.0)
}

func TestCheckNamesWhatIsWrong(t *testing.T) {
	cases := []struct {
		name   string
		change func(*Member)
		want   string
	}{
		{"no name", func(m *Member) { m.Name = " " }, "the database member's name is empty"},
		{"listen without a port", func(m *Member) { m.Listen = "192.168.1.16" }, `PostgreSQL address "192.168.1.16" is not an IP address and port`},
		{"listen on a name", func(m *Member) { m.Listen = "node-06:5432" }, `PostgreSQL address "node-06:5432" is not an IP address and port`},
		{"api port zero", func(m *Member) { m.API = "192.168.1.16:0" }, `REST API address "192.168.1.16:0"`},
		{"network not CIDR", func(m *Member) { m.Allow = []string{"192.168.1.0"} }, `allowed network "192.168.1.0" is not a CIDR network`},
		{"no replication password", func(m *Member) { m.ReplicationPassword = "" }, "replication password is empty"},
		{"a password, not a verifier", func(m *Member) { m.PoolVerifier = "hunter2" }, "not a SCRAM-SHA-256 verifier"},
		{"Consul over another scheme", func(m *Member) { m.ConsulAddr = "unix:///run/consul.sock" }, `the Consul address "unix:///run/consul.sock" is not host:port or an http(s) URL`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := good()
			tc.change(&m)
			_, err := m.Config()
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

func TestConsulAddressForms(t *testing.T) {
	for addr, want := range map[string]string{
		"127.0.0.1:8500":            "http://127.0.0.1:8500",
		"http://127.0.0.1:8500":     "http://127.0.0.1:8500",
		"https://192.168.1.16:8501": "https://192.168.1.16:8501",
	} {
		m := good()
		m.ConsulAddr = addr
		b, err := m.Config()
		require.NoError(t, err)
		var cfg struct {
			Consul struct {
				URL string `json:"url"`
			} `json:"consul"`
		}
		require.NoError(t, json.Unmarshal(b, &cfg))
		assert.Equal(t, want, cfg.Consul.URL, addr)
	}
}

func TestHBATrustsNobody(t *testing.T) {
	m := good()
	m.Allow = []string{"192.168.1.0/24", "127.0.0.1/32"}
	assert.Equal(t, []string{
		"local all postgres peer",
		"host replication replicator 127.0.0.1/32 scram-sha-256",
		"host replication replicator 192.168.1.16/32 scram-sha-256",
		"host replication replicator 192.168.1.0/24 scram-sha-256",
		"host all all 127.0.0.1/32 scram-sha-256",
		"host all all 192.168.1.16/32 scram-sha-256",
		"host all all 192.168.1.0/24 scram-sha-256",
	}, m.HBA())
}

func TestPatroniEnvDropsConsulVariables(t *testing.T) {
	got := PatroniEnv([]string{"PATH=/usr/bin", "CONSUL_HTTP_ADDR=https://x:8501", "CONSUL_HTTP_TOKEN=secret", "CONSUL_CACERT=/ca.pem", "NOMAD_TASK_DIR=/local", "MY_CONSUL_THING=kept"})
	assert.Equal(t, []string{"PATH=/usr/bin", "NOMAD_TASK_DIR=/local", "MY_CONSUL_THING=kept"}, got)
}

func TestSecretsFile(t *testing.T) {
	dir := t.TempDir()
	write := func(s string) string {
		p := filepath.Join(dir, "database.json")
		require.NoError(t, os.WriteFile(p, []byte(s), 0o600))
		return p
	}
	s, err := ReadSecrets(write(`{"superuser_password": "a", "replication_password": "b", "rewind_password": "c", "pool_user": "pool", "pool_verifier": "SCRAM-SHA-256$x"}`))
	require.NoError(t, err)
	assert.Equal(t, "b", s.ReplicationPassword)
	// What the template renders while the variable lacks the items: an
	// empty file, or the old variable's items only.
	_, err = ReadSecrets(write(``))
	assert.ErrorContains(t, err, "not the database's secrets")
	_, err = ReadSecrets(write(`{"superuser_password": "a", "extra": 1}`))
	assert.ErrorContains(t, err, "not the database's secrets")
	_, err = ReadSecrets(filepath.Join(dir, "missing.json"))
	assert.ErrorContains(t, err, "read the database's secrets")
}

func TestPrepareWritesPrivateFiles(t *testing.T) {
	dir := t.TempDir()
	f, err := Prepare(good(), dir)
	require.NoError(t, err)
	st, err := os.Stat(f.Config)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), st.Mode().Perm())
	cfg, err := os.ReadFile(f.Config)
	require.NoError(t, err)
	assert.Contains(t, string(cfg), `"post_bootstrap": "/usr/local/bin/poolctl database ensure-logins --secrets=/secrets/database.json --socket-dir=/local --port=24001 'it'\\''s'"`)
}

func TestDCSKeyIsWherePatroniWrites(t *testing.T) {
	// Patroni joins namespace and scope: /poolctl/scryptpool/ + database.
	assert.Equal(t, "poolctl/scryptpool/database/initialize", good().DCSKey("initialize"))
}

func TestDecide(t *testing.T) {
	cases := []struct {
		name                     string
		dir                      DataDir
		initialize, leader, self string
		want                     Verdict
		why                      string
	}{
		{"empty", DataDir{Empty: true}, "7714", "pi-01", "pi-02", Keep, "Patroni creates or clones it"},
		{"this cluster's", DataDir{SystemID: "7714"}, "7714", "pi-01", "pi-02", Keep, "system identifier 7714"},
		{"before any cluster exists", DataDir{SystemID: "1234"}, "", "", "pi-02", Keep, "takes this data directory over"},
		{"another cluster's, a primary to copy", DataDir{SystemID: "1234"}, "7714", "pi-01", "pi-02", SetAside, "another cluster (system identifier 1234, this cluster's is 7714): set aside, to be replaced by a copy of the primary pi-01"},
		{"broken, a primary to copy", DataDir{Broken: "pg_control fails its checksum"}, "7714", "pi-01", "pi-02", SetAside, "pg_control fails its checksum: set aside"},
		{"another cluster's, no primary", DataDir{SystemID: "1234"}, "7714", "", "pi-02", Refuse, "no other member is primary"},
		{"broken, and this member holds the lock", DataDir{Broken: "pg_control fails its checksum"}, "7714", "pi-02", "pi-02", Refuse, "restore the database from the archive"},
		{"broken before any cluster exists", DataDir{Broken: "pg_controldata: could not open file"}, "", "", "pi-02", Refuse, "could not open file"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, why := Decide(tc.dir, tc.initialize, tc.leader, tc.self)
			assert.Equal(t, tc.want, got)
			assert.Contains(t, why, tc.why)
		})
	}
}

func TestSetAsideKeepsTheNewestOnly(t *testing.T) {
	base := filepath.Join(t.TempDir(), "postgresql")
	for i, at := range []time.Time{time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)} {
		require.NoError(t, os.MkdirAll(filepath.Join(base, "global"), 0o700))
		require.NoError(t, os.WriteFile(filepath.Join(base, "PG_VERSION"), []byte(fmt.Sprint(i)), 0o600))
		to, err := SetAsideDir(base, at)
		require.NoError(t, err)
		assert.Equal(t, base+".set-aside-"+at.Format("20060102T150405Z"), to)
	}
	left, _ := filepath.Glob(base + "*")
	assert.Equal(t, []string{base + ".set-aside-20260201T000000Z"}, left)
}
