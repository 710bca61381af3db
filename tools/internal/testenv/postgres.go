package testenv

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// postgresBin is where Debian's postgresql-15 package puts the server.
const postgresBin = "/usr/lib/postgresql/15/bin"

// Postgres is a real PostgreSQL 15 started by a test, outside Nomad. The
// role User owns Database and logs in over TCP with Password (scram).
type Postgres struct {
	DSN      string
	Host     string
	Port     int
	User     string
	Password string
	Database string
	DataDir  string

	t       testing.TB
	logPath string
	osUser  *syscall.Credential

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
}

// StartPostgres initialises a database cluster in a temporary directory,
// starts it on 127.0.0.1 and a free port, and creates the role and
// database "pool". It is stopped, leaving no process, when the test ends.
func StartPostgres(t testing.TB) *Postgres {
	t.Helper()
	Integration(t)
	if _, err := os.Stat(filepath.Join(postgresBin, "postgres")); err != nil {
		require.NoError(t, err, "postgres is missing: install the Debian package postgresql-15 (task setup)")
	}
	cred := postgresCredential(t)

	// PostgreSQL refuses to run as root, so the server runs as the OS
	// user postgres, which must be able to reach its data directory.
	base := t.TempDir()
	for _, d := range []string{filepath.Dir(base), base} {
		require.NoError(t, os.Chmod(d, 0o711), "let the postgres user traverse %s", d)
	}
	data := filepath.Join(base, "data")
	require.NoError(t, os.Mkdir(data, 0o700))
	require.NoError(t, os.Chown(data, int(cred.Uid), int(cred.Gid)))
	// The socket lives in the data directory; its path has a hard limit.
	require.Less(t, len(data)+len("/.s.PGSQL.65535"), 108, "unix socket path under %s is too long", data)

	p := &Postgres{
		Host: "127.0.0.1", Port: freePort(t), User: "pool", Database: "pool",
		Password: randomHex(t, 16), DataDir: data,
		t: t, logPath: filepath.Join(base, "postgres.log"), osUser: cred,
	}
	p.DSN = fmt.Sprintf("postgres://%s:%s@%s:%d/%s?sslmode=disable", p.User, p.Password, p.Host, p.Port, p.Database)

	// Local (socket) connections use peer auth so that only the postgres
	// OS user administers; TCP needs a password as in production.
	p.run(t, "initdb", "-D", data, "-U", "postgres", "--auth-local=peer", "--auth-host=scram-sha-256",
		"--encoding=UTF8", "--locale=C", "--no-instructions")
	t.Cleanup(p.cleanup)
	p.Start()

	// The password is hex, so quoting it in SQL is safe.
	p.run(t, "psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", data, "-p", strconv.Itoa(p.Port),
		"-U", "postgres", "-d", "postgres",
		"-c", fmt.Sprintf("CREATE ROLE %s LOGIN PASSWORD '%s'", p.User, p.Password),
		"-c", fmt.Sprintf("CREATE DATABASE %s OWNER %s", p.Database, p.User))
	return p
}

// CreateDatabase creates another database owned by the test's role and
// returns its URL: somewhere to restore a dump into.
func (p *Postgres) CreateDatabase(t testing.TB, name string) string {
	t.Helper()
	p.run(t, "psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", p.DataDir, "-p", strconv.Itoa(p.Port),
		"-U", "postgres", "-d", "postgres", "-c", fmt.Sprintf("CREATE DATABASE %q OWNER %s", name, p.User))
	return fmt.Sprintf("postgres://%s:%s@%s:%d/%s?sslmode=disable", p.User, p.Password, p.Host, p.Port, name)
}

func postgresCredential(t testing.TB) *syscall.Credential {
	t.Helper()
	u, err := user.Lookup("postgres")
	require.NoError(t, err, "the postgres OS user comes with the Debian package postgresql-15")
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	require.NoError(t, err)
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	require.NoError(t, err)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{}}
}

func randomHex(t testing.TB, n int) string {
	b := make([]byte, n)
	_, err := rand.Read(b)
	require.NoError(t, err)
	return hex.EncodeToString(b)
}

// command prepares one of the PostgreSQL programs to run as the postgres
// OS user in its own process group, so that signals reach the postmaster
// and every backend it forks.
func (p *Postgres) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(filepath.Join(postgresBin, name), args...)
	cmd.Dir = filepath.Dir(p.DataDir)
	cmd.Env = []string{"PATH=/usr/bin:/bin", "LC_ALL=C", "HOME=" + filepath.Dir(p.DataDir)}
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Credential: p.osUser,
		Setpgid:    true,
		// A test binary that dies (timeout, panic) must not leave a
		// server behind; its backends exit when the postmaster does.
		Pdeathsig: syscall.SIGKILL,
	}
	return cmd
}

func (p *Postgres) run(t testing.TB, name string, args ...string) {
	t.Helper()
	out, err := p.command(name, args...).CombinedOutput()
	require.NoError(t, err, "%s:\n%s", name, out)
}

// Start starts the server on its data directory and port and waits
// until it accepts connections. StartPostgres calls it; call it again
// after Stop.
func (p *Postgres) Start() {
	p.t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	require.Nil(p.t, p.cmd, "postgres is already running")

	logFile, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	require.NoError(p.t, err)
	defer logFile.Close()
	// fsync=off: tests stop the server cleanly, never the machine, and
	// initdb plus many commits are otherwise slow on small disks.
	cmd := p.command("postgres", "-D", p.DataDir, "-p", strconv.Itoa(p.Port),
		"-c", "listen_addresses="+p.Host, "-c", "unix_socket_directories="+p.DataDir,
		"-c", "fsync=off", "-c", "max_connections=50")
	cmd.Stdout, cmd.Stderr = logFile, logFile
	require.NoError(p.t, cmd.Start(), "start postgres")
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	p.cmd, p.exited = cmd, exited

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for {
		ready := exec.CommandContext(ctx, filepath.Join(postgresBin, "pg_isready"), "-q",
			"-h", p.Host, "-p", strconv.Itoa(p.Port), "-d", "postgres")
		if ready.Run() == nil {
			return
		}
		select {
		case <-exited:
			p.cmd = nil
			require.Fail(p.t, "postgres exited while starting", "log:\n%s", p.logTail())
		case <-ctx.Done():
			require.Fail(p.t, "postgres did not accept connections", "log:\n%s", p.logTail())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Stop shuts the server down the fast way: sessions are terminated,
// open transactions roll back, as when an operator restarts the database.
func (p *Postgres) Stop() {
	p.t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	require.NoError(p.t, p.stopLocked())
}

func (p *Postgres) stopLocked() error {
	if p.cmd == nil {
		return nil
	}
	pgid := p.cmd.Process.Pid
	// A stopped postmaster cannot act on the shutdown signal.
	_ = syscall.Kill(-pgid, syscall.SIGCONT)
	_ = p.cmd.Process.Signal(syscall.SIGINT)
	var err error
	select {
	case <-p.exited:
	case <-time.After(time.Minute):
		err = errors.New("postgres did not shut down within a minute; killed it")
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-p.exited
	}
	// The postmaster waits for its backends, but anything it left in its
	// group must not outlive the test.
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	p.cmd = nil
	return err
}

// Freeze stops the postmaster and all its backends (SIGSTOP): connections
// are accepted by the kernel but nothing answers, like a database stuck on
// a dying disk.
func (p *Postgres) Freeze() {
	p.t.Helper()
	p.signalGroup(syscall.SIGSTOP)
}

// Thaw resumes a frozen server.
func (p *Postgres) Thaw() {
	p.t.Helper()
	p.signalGroup(syscall.SIGCONT)
}

// signalGroup signals the postmaster's process group and then each of its
// children: every backend calls setsid() at start (InitPostmasterChild),
// so the postmaster's group holds the postmaster alone. Stopped first, the
// postmaster forks no child this misses.
func (p *Postgres) signalGroup(sig syscall.Signal) {
	p.t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	require.NotNil(p.t, p.cmd, "postgres is not running")
	pid := p.cmd.Process.Pid
	require.NoError(p.t, syscall.Kill(-pid, sig), "signal postgres %v", sig)
	for _, child := range childrenOf(pid) {
		// A backend that ended meanwhile needs no signal.
		_ = syscall.Kill(-child, sig)
		_ = syscall.Kill(child, sig)
	}
}

// childrenOf lists the processes whose parent is pid, from /proc.
func childrenOf(pid int) []int {
	entries, _ := os.ReadDir("/proc")
	var kids []int
	for _, e := range entries {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// The command may hold spaces and parentheses: the fields
		// after its last ')' are state, then ppid.
		fields := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
		if len(fields) > 1 && fields[1] == strconv.Itoa(pid) {
			kids = append(kids, child)
		}
	}
	return kids
}

func (p *Postgres) cleanup() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.stopLocked(); err != nil {
		p.t.Errorf("stop postgres: %v", err)
	}
	if p.t.Failed() {
		p.t.Logf("postgres log (tail):\n%s", p.logTail())
	}
}

// logTail is the end of the server log, enough to see why it failed.
func (p *Postgres) logTail() string {
	f, err := os.Open(p.logPath)
	if err != nil {
		return err.Error()
	}
	defer f.Close()
	const max = 8 << 10
	if st, err := f.Stat(); err == nil && st.Size() > max {
		_, _ = f.Seek(st.Size()-max, io.SeekStart)
	}
	b, _ := io.ReadAll(f)
	return string(b)
}
