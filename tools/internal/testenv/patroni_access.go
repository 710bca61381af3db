package testenv

import (
	"encoding/json"
	"fmt"
	"os"
	"testing"
	"time"

	consulapi "github.com/hashicorp/consul/api"
	"github.com/stretchr/testify/require"

	"github.com/scryptpool/poolmicrocloud/tools/internal/contract"
)

// Addr is the member's PostgreSQL, host:port.
func (m *Patroni) Addr() string { return fmt.Sprintf("127.0.0.1:%d", m.PGPort) }

// Login is one of the logins the member's Patroni was configured with:
// kind is "superuser", "replication" or "rewind", as patroni.yml's
// postgresql.authentication names them. It is read from the member's
// configuration file, so it is whatever StartPatroni gave the cluster.
func (m *Patroni) Login(t testing.TB, kind string) (user, password string) {
	t.Helper()
	raw, err := os.ReadFile(m.cfgPath)
	require.NoError(t, err, "read patroni %s's configuration", m.Name)
	var cfg struct {
		PostgreSQL struct {
			Authentication map[string]struct {
				Username string `json:"username"`
				Password string `json:"password"`
			} `json:"authentication"`
		} `json:"postgresql"`
	}
	require.NoError(t, json.Unmarshal(raw, &cfg), "patroni %s's configuration is JSON", m.Name)
	login, ok := cfg.PostgreSQL.Authentication[kind]
	require.True(t, ok && login.Username != "", "patroni %s has no %s login", m.Name, kind)
	return login.Username, login.Password
}

// RegisterService registers the member in Consul as the database job
// does on Nomad: one instance of contract.DatabaseService(pool) at its
// PostgreSQL address, checked on Patroni's /health, so that what finds
// the members through Consul (ledger.Members) finds this one while its
// PostgreSQL runs. The check runs every second; it is deregistered when
// the test ends.
func (m *Patroni) RegisterService(t testing.TB, consul *consulapi.Client, pool string) {
	t.Helper()
	id := contract.DatabaseService(pool) + "-" + m.Name
	require.NoError(t, consul.Agent().ServiceRegister(&consulapi.AgentServiceRegistration{
		ID: id, Name: contract.DatabaseService(pool), Address: "127.0.0.1", Port: m.PGPort,
		Tags: []string{"postgresql", "patroni"}, Meta: map[string]string{"member": m.Name},
		Check: &consulapi.AgentServiceCheck{
			Name:     "postgres running",
			HTTP:     fmt.Sprintf("http://127.0.0.1:%d/health", m.APIPort),
			Interval: time.Second.String(), Timeout: time.Second.String(),
		},
	}), "register patroni %s in Consul", m.Name)
	t.Cleanup(func() { _ = consul.Agent().ServiceDeregister(id) })
}
