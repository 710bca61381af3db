package localdb

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestDSNNamesEveryMemberAndAsksForTheWritableOne(t *testing.T) {
	c := &Cluster{Logins: Logins{PoolUser: "pool", PoolPassword: "secret"}}
	c.Members = []*Member{{Name: "pi-01", PGPort: 5001, cluster: c}, {Name: "pi-02", PGPort: 5002, cluster: c}}
	require.Equal(t, "postgres://pool:secret@127.0.0.1:5001,127.0.0.1:5002/pool?sslmode=disable&target_session_attrs=read-write&connect_timeout=2", c.DSN())
	require.Equal(t, "postgres://pool:secret@127.0.0.1:5002/pool?sslmode=disable&connect_timeout=2", c.Members[1].DSN())
}

func TestProcStatFindsChildrenAndTellsTheDead(t *testing.T) {
	sleep := exec.Command("sleep", "60")
	require.NoError(t, sleep.Start())
	pid := sleep.Process.Pid
	require.Contains(t, childrenOf(os.Getpid()), pid)
	require.True(t, alive(pid))
	require.NoError(t, sleep.Process.Kill())
	_, _ = sleep.Process.Wait()
	require.False(t, alive(pid), "a reaped process")
	ppid, state := procStat(pid)
	require.Zero(t, ppid)
	require.Empty(t, state)
}

func TestKillingAMemberNeverStartedIsHarmless(t *testing.T) {
	m := &Member{Name: "pi-01", DataDir: t.TempDir()}
	require.NoError(t, m.Kill())
	require.NoError(t, m.Kill())
}

func TestStartRefusesASocketPathOverTheLimit(t *testing.T) {
	_, err := newMember(&Cluster{}, Options{Dir: "/" + strings.Repeat("d", 100)}, "pi-01", nil)
	require.ErrorContains(t, err, "Unix socket path")
}
