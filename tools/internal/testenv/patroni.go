package testenv

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/scryptpool/poolmicrocloud/tools/internal/contract"
	"github.com/scryptpool/poolmicrocloud/tools/internal/dbmember"
	"github.com/scryptpool/poolmicrocloud/tools/internal/secrets"
)

// patroniPython runs Debian's Patroni (packages patroni and
// python3-consul) as a module, so that the process the test starts and
// signals is Patroni itself, not a wrapper script.
const patroniPython = "/usr/bin/python3"

// Patroni is a real Patroni member started by a test, outside Nomad: it
// runs PostgreSQL 15 in a temporary directory with the configuration the
// pool's database members run with (dbmember), made quick for a test, and
// keeps the cluster's state in a Consul agent under the pool's prefix.
// Patroni creates the pool's login and database through `poolctl database
// ensure-logins`, as on the cluster.
type Patroni struct {
	Name             string
	PGPort, APIPort  int
	Dir, DataDir     string
	t                testing.TB
	cmd              *exec.Cmd
	exited           chan struct{}
	logPath, cfgPath string
	// cluster is the directory of the member's cluster.
	cluster    string
	args       []string
	consulAddr string
	cred       *syscall.Credential
}

// PatroniLogins are the passwords of a cluster StartPatroni made.
type PatroniLogins struct {
	PoolUser, PoolPassword, ReplicationPassword, SuperuserPassword, RewindPassword string
	// SecretsFile is what the job's template renders (dbmember.Secrets),
	// read by ensure-logins on every start and change of role.
	SecretsFile string
}

// patroniLogins remembers each cluster's logins by its first member.
var patroniLogins sync.Map

// Logins are the passwords of the member's cluster.
func (m *Patroni) Logins() PatroniLogins {
	v, _ := patroniLogins.Load(m.cluster)
	return v.(PatroniLogins)
}

// PoolDSN is the pool login's URL for the members' cluster: every member,
// the one that accepts writes chosen (target_session_attrs=read-write), as
// the pool's processes reach the primary.
func PoolDSN(members []*Patroni) string {
	var hosts []string
	for _, m := range members {
		hosts = append(hosts, fmt.Sprintf("127.0.0.1:%d", m.PGPort))
	}
	l := members[0].Logins()
	return fmt.Sprintf("postgres://%s:%s@%s/%s?sslmode=disable&target_session_attrs=read-write&connect_timeout=2",
		l.PoolUser, l.PoolPassword, strings.Join(hosts, ","), patroniDatabase)
}

const patroniDatabase = "pool"

// StartPatroni starts one member per name at once, all in one cluster
// (synchronous_mode on, not strict; ttl 20, loop_wait 5, retry_timeout
// 5): whichever gets the initialize key first bootstraps it, the others
// clone it with pg_basebackup. It returns as soon as they run; the test
// waits for what it needs. Every process is killed when the test ends.
func StartPatroni(t testing.TB, consulAddr, pool string, names ...string) []*Patroni {
	t.Helper()
	Integration(t)
	if _, err := os.Stat(filepath.Join(postgresBin, "postgres")); err != nil {
		require.NoError(t, err, "postgres is missing: install the Debian package postgresql-15 (task setup)")
	}
	probe := exec.Command(patroniPython, "-c", "import patroni, consul")
	out, err := probe.CombinedOutput()
	require.NoError(t, err, "Patroni is missing: install the Debian packages patroni and python3-consul (task setup):\n%s", out)
	cred := postgresCredential(t)
	poolctl := Poolctl(t)
	// Patroni runs ensure-logins as the postgres user.
	require.NoError(t, os.Chmod(filepath.Dir(poolctl), 0o755))

	base := t.TempDir()
	for _, d := range []string{filepath.Dir(base), base} {
		require.NoError(t, os.Chmod(d, 0o711), "let the postgres user traverse %s", d)
	}
	logins := PatroniLogins{PoolUser: "pool", PoolPassword: randomHex(t, 16), ReplicationPassword: randomHex(t, 16), SuperuserPassword: randomHex(t, 16), RewindPassword: randomHex(t, 16)}
	salt := make([]byte, 16)
	_, err = rand.Read(salt)
	require.NoError(t, err)
	verifier, err := secrets.SCRAMVerifier(logins.PoolPassword, salt)
	require.NoError(t, err)
	secretsJSON, err := json.Marshal(dbmember.Secrets{
		SuperuserPassword: logins.SuperuserPassword, ReplicationPassword: logins.ReplicationPassword,
		RewindPassword: logins.RewindPassword, PoolUser: logins.PoolUser, PoolVerifier: verifier,
	})
	require.NoError(t, err)
	secretsPath := filepath.Join(base, "database.json")
	require.NoError(t, os.WriteFile(secretsPath, secretsJSON, 0o400))
	require.NoError(t, os.Chown(secretsPath, int(cred.Uid), int(cred.Gid)))

	var members []*Patroni
	for _, name := range names {
		m := &Patroni{Name: name, PGPort: freePort(t), APIPort: freePort(t), Dir: filepath.Join(base, name), t: t, cluster: base}
		m.DataDir = filepath.Join(m.Dir, "data")
		m.logPath, m.cfgPath = filepath.Join(m.Dir, "patroni.log"), filepath.Join(m.Dir, "patroni.yml")
		require.NoError(t, os.Mkdir(m.Dir, 0o700))
		require.NoError(t, os.Chown(m.Dir, int(cred.Uid), int(cred.Gid)))
		// The socket lives in the member's directory; its path has a hard limit.
		require.Less(t, len(m.Dir)+len("/.s.PGSQL.65535"), 108, "unix socket path under %s is too long", m.Dir)
		// What the database job runs: poolctl database member, which
		// checks the data directory, writes Patroni's configuration and
		// becomes Patroni.
		m.args = []string{poolctl, "database", "member", "--name=" + name,
			"--namespace=" + contract.DatabaseDCSNamespace(pool), "--scope=" + contract.DatabaseScope,
			"--data-dir=" + m.DataDir, "--bin-dir=" + postgresBin,
			fmt.Sprintf("--listen=127.0.0.1:%d", m.PGPort), fmt.Sprintf("--api=127.0.0.1:%d", m.APIPort),
			"--socket-dir=" + m.Dir, "--secrets=" + secretsPath, "--dir=" + m.Dir, "--database=" + patroniDatabase,
			"--shared-buffers-mb=16", "--max-connections=20", "--python=" + patroniPython}
		m.consulAddr = consulAddr
		m.cfgPath = filepath.Join(m.Dir, "patroni.yml")
		members = append(members, m)
	}
	logins.SecretsFile = secretsPath
	patroniLogins.Store(base, logins)
	for _, m := range members {
		m.cred = cred
		m.start()
	}
	return members
}

// Start starts a member again after Kill, on what its data directory
// holds now (a node coming back, or a test's damage).
func (m *Patroni) Start() {
	m.t.Helper()
	m.start()
}

func (m *Patroni) start() {
	t := m.t
	t.Helper()
	logFile, err := os.OpenFile(m.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	require.NoError(t, err)
	defer logFile.Close()
	m.cmd = exec.Command(m.args[0], m.args[1:]...)
	m.cmd.Dir = m.Dir
	// Nothing of the test's environment but the Consul agent, as a task
	// has it.
	m.cmd.Env = []string{"PATH=/usr/bin:/bin", "LC_ALL=C.UTF-8", "HOME=" + m.Dir, "CONSUL_HTTP_ADDR=" + m.consulAddr}
	m.cmd.Stdout, m.cmd.Stderr = logFile, logFile
	m.cmd.SysProcAttr = &syscall.SysProcAttr{Credential: m.cred, Setpgid: true, Pdeathsig: syscall.SIGKILL}
	require.NoError(t, m.cmd.Start(), "start patroni %s", m.Name)
	m.exited = make(chan struct{})
	go func() {
		_ = m.cmd.Wait()
		close(m.exited)
	}()
	t.Cleanup(func() {
		m.Kill()
		if t.Failed() {
			t.Logf("patroni %s log (tail):\n%s", m.Name, m.LogTail())
		}
	})
}

// Exited is closed when the member's Patroni has exited.
func (m *Patroni) Exited() <-chan struct{} { return m.exited }

// Kill ends the member the way a power cut does: SIGKILL to Patroni and
// to its PostgreSQL, which Patroni started in a session of its own and
// which would outlive it, with every backend. It returns once they are
// gone; killing a member twice is harmless.
func (m *Patroni) Kill() {
	m.t.Helper()
	select {
	case <-m.exited:
		// Its process group may be another's by now.
	default:
		_ = syscall.Kill(-m.cmd.Process.Pid, syscall.SIGKILL)
		<-m.exited
	}
	// Patroni is gone: nothing restarts the server it ran.
	postmaster := m.postmasterPID()
	if postmaster == 0 {
		return
	}
	victims := append(childrenOf(postmaster), postmaster)
	for _, pid := range victims {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for _, pid := range victims {
		for alive(pid) {
			select {
			case <-ctx.Done():
				m.t.Errorf("patroni %s: postgres process %d outlived SIGKILL", m.Name, pid)
				return
			case <-tick.C:
			}
		}
	}
}

// postmasterPID is the running postmaster of the member's data directory,
// from its postmaster.pid, or 0. A stale file's PID may belong to another
// process by now: it counts only if that process runs on this data
// directory.
func (m *Patroni) postmasterPID() int {
	b, err := os.ReadFile(filepath.Join(m.DataDir, "postmaster.pid"))
	if err != nil {
		return 0
	}
	first, _, _ := strings.Cut(string(b), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(first))
	if err != nil || pid <= 0 {
		return 0
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil || !bytes.Contains(cmdline, []byte(m.DataDir)) {
		return 0
	}
	return pid
}

// childrenOf lists the processes whose parent is pid.
func childrenOf(pid int) []int {
	entries, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range entries {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if ppid, _ := procStat(child); ppid == pid {
			out = append(out, child)
		}
	}
	return out
}

// alive says whether pid runs: a zombie waiting for a parent that is not
// the test (the postmaster's is init) is gone as far as the test cares.
func alive(pid int) bool {
	_, state := procStat(pid)
	return state != "" && state != "Z"
}

// procStat reads a process's parent and state from /proc/<pid>/stat;
// state is "" when there is no such process.
func procStat(pid int) (ppid int, state string) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, ""
	}
	// The command name, in parentheses, may hold spaces: fields start
	// after its closing parenthesis.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, ""
	}
	fields := strings.Fields(string(b[i+1:]))
	if len(fields) < 2 {
		return 0, ""
	}
	ppid, _ = strconv.Atoi(fields[1])
	return ppid, fields[0]
}

// Answers says whether the member's REST API answers path with 200: the
// member's own word (GET /primary on the primary, /sync on a synchronous
// standby), to check what Consul's keys say against.
func (m *Patroni) Answers(path string) bool {
	client := &http.Client{Timeout: 2 * time.Second}
	resp, err := client.Get(fmt.Sprintf("http://127.0.0.1:%d%s", m.APIPort, path))
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// LogTail is the end of the member's log (Patroni's and, through it,
// PostgreSQL's first words).
func (m *Patroni) LogTail() string {
	b, err := os.ReadFile(m.logPath)
	if err != nil {
		return err.Error()
	}
	const max = 8 << 10
	if len(b) > max {
		b = b[len(b)-max:]
	}
	return string(b)
}
