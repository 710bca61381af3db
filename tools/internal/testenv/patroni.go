package testenv

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/scryptpool/poolmicrocloud/tools/internal/contract"
)

// patroniPython runs Debian's Patroni (packages patroni and
// python3-consul) as a module, so that the process the test starts and
// signals is Patroni itself, not a wrapper script.
const patroniPython = "/usr/bin/python3"

// Patroni is a real Patroni member started by a test, outside Nomad: it
// runs PostgreSQL 15 in a temporary directory and keeps the cluster's
// state in a Consul agent under the pool's prefix, with the namespace and
// scope the contract gives, as the pool's database members do.
type Patroni struct {
	Name             string
	PGPort, APIPort  int
	Dir, DataDir     string
	t                testing.TB
	cmd              *exec.Cmd
	exited           chan struct{}
	logPath, cfgPath string
}

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

	base := t.TempDir()
	for _, d := range []string{filepath.Dir(base), base} {
		require.NoError(t, os.Chmod(d, 0o711), "let the postgres user traverse %s", d)
	}
	superuser, replication := randomHex(t, 16), randomHex(t, 16)
	var members []*Patroni
	for _, name := range names {
		m := &Patroni{Name: name, PGPort: freePort(t), APIPort: freePort(t), Dir: filepath.Join(base, name), t: t}
		m.DataDir = filepath.Join(m.Dir, "data")
		m.logPath, m.cfgPath = filepath.Join(m.Dir, "patroni.log"), filepath.Join(m.Dir, "patroni.yml")
		require.NoError(t, os.Mkdir(m.Dir, 0o700))
		require.NoError(t, os.Chown(m.Dir, int(cred.Uid), int(cred.Gid)))
		// The socket lives in the member's directory; its path has a hard limit.
		require.Less(t, len(m.Dir)+len("/.s.PGSQL.65535"), 108, "unix socket path under %s is too long", m.Dir)
		cfg, err := json.MarshalIndent(m.config(consulAddr, pool, superuser, replication), "", "  ")
		require.NoError(t, err)
		// JSON is YAML: Patroni reads it as its configuration file.
		require.NoError(t, os.WriteFile(m.cfgPath, cfg, 0o600))
		require.NoError(t, os.Chown(m.cfgPath, int(cred.Uid), int(cred.Gid)))
		members = append(members, m)
	}
	for _, m := range members {
		m.start(cred)
	}
	return members
}

// config is the member's patroni.yml, modelled on the research for issue
// 15 (docs/research), made small and quick for a test: no service
// registration, no fsync, a fast checkpoint for the clone.
func (m *Patroni) config(consulAddr, pool, superuser, replication string) map[string]any {
	api := fmt.Sprintf("127.0.0.1:%d", m.APIPort)
	pg := fmt.Sprintf("127.0.0.1:%d", m.PGPort)
	return map[string]any{
		"scope":     contract.DatabaseScope,
		"namespace": contract.DatabaseDCSNamespace(pool),
		"name":      m.Name,
		"restapi":   map[string]any{"listen": api, "connect_address": api},
		"consul":    map[string]any{"host": consulAddr, "register_service": false},
		"watchdog":  map[string]any{"mode": "off"},
		"bootstrap": map[string]any{
			"dcs": map[string]any{
				"ttl": 20, "loop_wait": 5, "retry_timeout": 5, "maximum_lag_on_failover": 1 << 20,
				"synchronous_mode": true, "synchronous_mode_strict": false,
				"postgresql": map[string]any{"parameters": map[string]any{
					"max_connections": 20, "shared_buffers": "16MB", "wal_level": "replica", "hot_standby": "on",
					"max_wal_senders": 5, "max_replication_slots": 5, "fsync": "off",
				}},
			},
			"initdb": []any{map[string]any{"encoding": "UTF8"}, map[string]any{"locale": "C"}, "no-sync"},
		},
		"postgresql": map[string]any{
			"listen": pg, "connect_address": pg,
			"data_dir": m.DataDir, "bin_dir": postgresBin, "pgpass": filepath.Join(m.Dir, "pgpass"),
			"use_unix_socket": true,
			"parameters":      map[string]any{"unix_socket_directories": m.Dir},
			"pg_hba": []string{
				"local all all peer",
				"host replication replicator 127.0.0.1/32 scram-sha-256",
				"host all all 127.0.0.1/32 scram-sha-256",
			},
			// Without it the clone waits for a spread checkpoint: minutes.
			"basebackup": map[string]any{"checkpoint": "fast"},
			"authentication": map[string]any{
				"superuser":   map[string]any{"username": "postgres", "password": superuser},
				"replication": map[string]any{"username": "replicator", "password": replication},
			},
		},
	}
}

func (m *Patroni) start(cred *syscall.Credential) {
	t := m.t
	t.Helper()
	logFile, err := os.OpenFile(m.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	require.NoError(t, err)
	defer logFile.Close()
	m.cmd = exec.Command(patroniPython, "-m", "patroni", m.cfgPath)
	m.cmd.Dir = m.Dir
	// Nothing of the test's environment: a CONSUL_HTTP_ADDR with a scheme
	// makes python-consul fail, CONSUL_HTTP_TOKEN would override.
	m.cmd.Env = []string{"PATH=/usr/bin:/bin", "LC_ALL=C.UTF-8", "HOME=" + m.Dir}
	m.cmd.Stdout, m.cmd.Stderr = logFile, logFile
	m.cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Setpgid: true, Pdeathsig: syscall.SIGKILL}
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
