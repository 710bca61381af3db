package testenv

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/scryptpool/poolmicrocloud/tools/internal/localdb"
)

// Patroni is a real Patroni member started by a test, outside Nomad: it
// runs PostgreSQL 15 in a temporary directory with the configuration the
// pool's database members run with (dbmember), made quick for a test, and
// keeps the cluster's state in a Consul agent under the pool's prefix.
// Patroni creates the pool's login and database through `poolctl database
// ensure-logins`, as on the cluster. The processes are localdb's; this is
// their test's view, failing the test instead of returning errors.
type Patroni struct {
	Name            string
	PGPort, APIPort int
	Dir, DataDir    string
	t               testing.TB
	member          *localdb.Member
	// cfgPath is Patroni's configuration file.
	cfgPath string
}

// PatroniLogins are the passwords of a cluster StartPatroni made.
type PatroniLogins = localdb.Logins

// Logins are the passwords of the member's cluster.
func (m *Patroni) Logins() PatroniLogins { return m.member.Logins() }

// PoolDSN is the pool login's URL for the members' cluster: every member,
// the one that accepts writes chosen (target_session_attrs=read-write), as
// the pool's processes reach the primary.
func PoolDSN(members []*Patroni) string {
	ms := make([]*localdb.Member, len(members))
	for i, m := range members {
		ms[i] = m.member
	}
	return localdb.DSN(ms)
}

// WebDSN is the web job's read-only login's URL for the members' cluster,
// the primary chosen as PoolDSN chooses it.
func WebDSN(members []*Patroni) string {
	ms := make([]*localdb.Member, len(members))
	for i, m := range members {
		ms[i] = m.member
	}
	return localdb.WebDSN(ms)
}

// StartPatroni starts one member per name at once, all in one cluster
// (synchronous_mode on, not strict; ttl 20, loop_wait 5, retry_timeout
// 5): whichever gets the initialize key first bootstraps it, the others
// clone it with pg_basebackup. It returns as soon as they run; the test
// waits for what it needs. Every process is killed when the test ends.
func StartPatroni(t testing.TB, consulAddr, pool string, names ...string) []*Patroni {
	t.Helper()
	return startPatroni(t, localdb.Options{ConsulAddr: consulAddr, Pool: pool, Names: names})
}

// StartPatroniFromArchive starts a new cluster made from the database's
// archive in dir as it was at to (Patroni's custom bootstrap running
// poolctl archive restore), as the README's restore says.
func StartPatroniFromArchive(t testing.TB, consulAddr, pool, dir string, to time.Time, names ...string) []*Patroni {
	t.Helper()
	return startPatroni(t, localdb.Options{ConsulAddr: consulAddr, Pool: pool, Names: names,
		RestoreFrom: dir, RestoreTo: to.UTC().Format(time.RFC3339Nano)})
}

func startPatroni(t testing.TB, o localdb.Options) []*Patroni {
	t.Helper()
	Integration(t)
	require.NoError(t, localdb.Check())
	o.Poolctl = Poolctl(t)
	base := t.TempDir()
	require.NoError(t, os.Chmod(filepath.Dir(base), 0o711), "let the postgres user traverse %s", filepath.Dir(base))
	o.Dir = base
	names := o.Names
	c, err := localdb.Start(o)
	require.NoError(t, err, "start patroni members %v", names)
	members := make([]*Patroni, len(c.Members))
	for i, lm := range c.Members {
		members[i] = &Patroni{Name: lm.Name, PGPort: lm.PGPort, APIPort: lm.APIPort, Dir: lm.Dir, DataDir: lm.DataDir,
			t: t, member: lm, cfgPath: lm.ConfigPath}
	}
	t.Cleanup(func() {
		for _, m := range members {
			m.Kill()
			if t.Failed() {
				t.Logf("patroni %s log (tail):\n%s", m.Name, m.LogTail())
			}
		}
	})
	return members
}

// Start starts a member again after Kill, on what its data directory
// holds now (a node coming back, or a test's damage).
func (m *Patroni) Start() {
	m.t.Helper()
	require.NoError(m.t, m.member.Start())
}

// Exited is closed when the member's Patroni has exited.
func (m *Patroni) Exited() <-chan struct{} { return m.member.Exited() }

// Kill ends the member the way a power cut does (localdb.Member.Kill);
// killing a member twice is harmless.
func (m *Patroni) Kill() {
	m.t.Helper()
	if err := m.member.Kill(); err != nil {
		m.t.Error(err)
	}
}

// Answers says whether the member's REST API answers path with 200: the
// member's own word (GET /primary on the primary, /sync on a synchronous
// standby), to check what Consul's keys say against.
func (m *Patroni) Answers(path string) bool { return m.member.Answers(path) }

// LogTail is the end of the member's log (Patroni's and, through it,
// PostgreSQL's first words).
func (m *Patroni) LogTail() string { return m.member.LogTail() }
