package localdb

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"github.com/scryptpool/poolmicrocloud/tools/internal/contract"
	"github.com/scryptpool/poolmicrocloud/tools/internal/dbmember"
	"github.com/scryptpool/poolmicrocloud/tools/internal/secrets"
)

// Options shape a cluster.
type Options struct {
	// Dir holds the secrets file and one directory per member. It must
	// exist and be empty; it is made traversable by the postgres OS user,
	// and so must its parents be. A member's Unix socket lives in its
	// directory, and a socket's path has a hard limit: keep Dir short.
	Dir string
	// ConsulAddr is the agent Patroni keeps the cluster's state in.
	ConsulAddr string
	// Pool places the keys, under contract.DatabaseDCSNamespace(Pool).
	Pool string
	// Names are the members' names, one member each.
	Names []string
	// Poolctl is the poolctl the members run; its directory is made
	// readable by the postgres OS user, which runs it.
	Poolctl string
	// SharedBuffersMB and MaxConnections size PostgreSQL (0: 16 and 20,
	// small for a test).
	SharedBuffersMB, MaxConnections int
	// RestoreFrom and RestoreTo make the new cluster from the database's
	// archive in RestoreFrom, as it was at RestoreTo (RFC 3339).
	RestoreFrom, RestoreTo string
}

// Logins are the passwords of a cluster.
type Logins struct {
	PoolUser, PoolPassword, ReplicationPassword, SuperuserPassword, RewindPassword string
	// WebUser and WebPassword are the web job's read-only login.
	WebUser, WebPassword string
	// SecretsFile is what the job's template renders (dbmember.Secrets),
	// read by ensure-logins on every start and change of role.
	SecretsFile string
}

// Cluster is the members Start started.
type Cluster struct {
	Members []*Member
	Logins  Logins
}

// Member is one Patroni member: Patroni and the PostgreSQL it runs.
type Member struct {
	Name            string
	PGPort, APIPort int
	Dir, DataDir    string
	// ConfigPath is Patroni's configuration, as poolctl database member
	// wrote it; LogPath is Patroni's output and PostgreSQL's first words.
	ConfigPath, LogPath string

	cluster    *Cluster
	args       []string
	consulAddr string
	cred       *syscall.Credential
	cmd        *exec.Cmd
	exited     chan struct{}
}

// Start starts one member per name at once, all in one cluster, with the
// configuration the pool's database job runs them with (synchronous_mode
// on, not strict; ttl 20, loop_wait 5, retry_timeout 5; fsync on):
// whichever gets the initialize key first bootstraps it, the others clone
// it with pg_basebackup. It returns as soon as they run; the caller waits
// for what it needs. On an error, the members started are killed.
func Start(o Options) (*Cluster, error) {
	if len(o.Names) == 0 {
		return nil, errors.New("a cluster needs at least one member's name")
	}
	if o.SharedBuffersMB == 0 {
		o.SharedBuffersMB = 16
	}
	if o.MaxConnections == 0 {
		o.MaxConnections = 20
	}
	cred, err := postgresCredential()
	if err != nil {
		return nil, err
	}
	// Patroni runs ensure-logins as the postgres user.
	if err := os.Chmod(filepath.Dir(o.Poolctl), 0o755); err != nil {
		return nil, fmt.Errorf("let the postgres user run %s: %w", o.Poolctl, err)
	}
	if err := os.Chmod(o.Dir, 0o711); err != nil {
		return nil, fmt.Errorf("let the postgres user traverse %s: %w", o.Dir, err)
	}
	c := &Cluster{}
	if c.Logins, err = writeSecrets(o.Dir, cred); err != nil {
		return nil, err
	}
	for _, name := range o.Names {
		m, err := newMember(c, o, name, cred)
		if err != nil {
			return nil, err
		}
		c.Members = append(c.Members, m)
	}
	for _, m := range c.Members {
		if err := m.Start(); err != nil {
			return nil, errors.Join(err, c.Stop())
		}
	}
	return c, nil
}

// writeSecrets makes the cluster's passwords and writes them as the job's
// template renders them, readable by the postgres user only.
func writeSecrets(dir string, cred *syscall.Credential) (Logins, error) {
	l := Logins{PoolUser: secrets.DatabaseUser, WebUser: secrets.WebUser}
	for _, p := range []*string{&l.PoolPassword, &l.ReplicationPassword, &l.SuperuserPassword, &l.RewindPassword, &l.WebPassword} {
		var err error
		if *p, err = randomHex(16); err != nil {
			return l, err
		}
	}
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return l, err
	}
	verifier, err := secrets.SCRAMVerifier(l.PoolPassword, salt)
	if err != nil {
		return l, err
	}
	webVerifier, err := secrets.SCRAMVerifier(l.WebPassword, salt)
	if err != nil {
		return l, err
	}
	b, err := json.Marshal(dbmember.Secrets{
		SuperuserPassword: l.SuperuserPassword, ReplicationPassword: l.ReplicationPassword,
		RewindPassword: l.RewindPassword, PoolUser: l.PoolUser, PoolVerifier: verifier,
		WebUser: l.WebUser, WebVerifier: webVerifier,
	})
	if err != nil {
		return l, err
	}
	l.SecretsFile = filepath.Join(dir, "database.json")
	if err := os.WriteFile(l.SecretsFile, b, 0o400); err != nil {
		return l, fmt.Errorf("write the members' secrets: %w", err)
	}
	if err := os.Chown(l.SecretsFile, int(cred.Uid), int(cred.Gid)); err != nil {
		return l, fmt.Errorf("give the members' secrets to the postgres user: %w", err)
	}
	return l, nil
}

func newMember(c *Cluster, o Options, name string, cred *syscall.Credential) (*Member, error) {
	pg, err := FreePort()
	if err != nil {
		return nil, err
	}
	api, err := FreePort()
	if err != nil {
		return nil, err
	}
	m := &Member{Name: name, PGPort: pg, APIPort: api, Dir: filepath.Join(o.Dir, name),
		cluster: c, consulAddr: o.ConsulAddr, cred: cred}
	m.DataDir = filepath.Join(m.Dir, "data")
	m.LogPath, m.ConfigPath = filepath.Join(m.Dir, "patroni.log"), filepath.Join(m.Dir, "patroni.yml")
	if n := len(m.Dir) + len("/.s.PGSQL.65535"); n >= 108 {
		return nil, fmt.Errorf("member %s: the Unix socket path under %s would be %d bytes, over the limit of 107", name, m.Dir, n)
	}
	if err := os.Mkdir(m.Dir, 0o700); err != nil {
		return nil, err
	}
	if err := os.Chown(m.Dir, int(cred.Uid), int(cred.Gid)); err != nil {
		return nil, err
	}
	// What the database job runs: poolctl database member, which checks
	// the data directory, writes Patroni's configuration and becomes
	// Patroni.
	m.args = []string{o.Poolctl, "database", "member", "--name=" + name,
		"--namespace=" + contract.DatabaseDCSNamespace(o.Pool), "--scope=" + contract.DatabaseScope,
		"--data-dir=" + m.DataDir, "--bin-dir=" + PostgresBin,
		fmt.Sprintf("--listen=127.0.0.1:%d", m.PGPort), fmt.Sprintf("--api=127.0.0.1:%d", m.APIPort),
		"--socket-dir=" + m.Dir, "--secrets=" + c.Logins.SecretsFile, "--dir=" + m.Dir, "--database=" + Database,
		fmt.Sprintf("--shared-buffers-mb=%d", o.SharedBuffersMB), fmt.Sprintf("--max-connections=%d", o.MaxConnections),
		"--python=" + PatroniPython}
	if o.RestoreFrom != "" {
		m.args = append(m.args, "--restore-from="+o.RestoreFrom, "--restore-to="+o.RestoreTo)
	}
	return m, nil
}

// DSN is the pool login's URL for the cluster: every member, the one that
// accepts writes chosen (target_session_attrs=read-write), as the pool's
// processes reach the primary.
func (c *Cluster) DSN() string { return DSN(c.Members) }

// DSN is the pool login's URL for members of one cluster.
func DSN(members []*Member) string {
	ports := make([]int, len(members))
	for i, m := range members {
		ports[i] = m.PGPort
	}
	l := members[0].Logins()
	return fmt.Sprintf("postgres://%s:%s@%s/%s?sslmode=disable&target_session_attrs=read-write&connect_timeout=2",
		l.PoolUser, l.PoolPassword, hostports(ports), Database)
}

// WebDSN is the web job's read-only login's URL for members of one
// cluster, the primary chosen by target_session_attrs=primary: the
// login's sessions are read-only, so read-write would refuse every member.
func WebDSN(members []*Member) string {
	ports := make([]int, len(members))
	for i, m := range members {
		ports[i] = m.PGPort
	}
	l := members[0].Logins()
	return fmt.Sprintf("postgres://%s:%s@%s/%s?sslmode=disable&target_session_attrs=primary&connect_timeout=2",
		l.WebUser, l.WebPassword, hostports(ports), Database)
}

// DSN is the pool login's URL for this member alone, whatever its role:
// to read what a replica holds.
func (m *Member) DSN() string {
	l := m.Logins()
	return fmt.Sprintf("postgres://%s:%s@%s/%s?sslmode=disable&connect_timeout=2",
		l.PoolUser, l.PoolPassword, hostports([]int{m.PGPort}), Database)
}

// Stop kills every member (a power cut: nothing of a member's data is
// flushed on the way out) and waits until they are gone.
func (c *Cluster) Stop() error {
	var errs []error
	for _, m := range c.Members {
		errs = append(errs, m.Kill())
	}
	return errors.Join(errs...)
}

// Logins are the passwords of the member's cluster.
func (m *Member) Logins() Logins { return m.cluster.Logins }

// Start starts the member, again after Kill, on what its data directory
// holds now (a node coming back, or a test's damage).
func (m *Member) Start() error {
	if m.exited != nil {
		select {
		case <-m.exited:
		default:
			return fmt.Errorf("patroni %s runs already", m.Name)
		}
	}
	logFile, err := os.OpenFile(m.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logFile.Close()
	cmd := exec.Command(m.args[0], m.args[1:]...)
	cmd.Dir = m.Dir
	// Nothing of the caller's environment but the Consul agent, as a task
	// has it.
	cmd.Env = []string{"PATH=/usr/bin:/bin", "LC_ALL=C.UTF-8", "HOME=" + m.Dir, "CONSUL_HTTP_ADDR=" + m.consulAddr}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: m.cred, Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start patroni %s: %w", m.Name, err)
	}
	m.cmd = cmd
	exited := make(chan struct{})
	m.exited = exited
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	return nil
}

// Exited is closed when the member's Patroni has exited (nil before its
// first start).
func (m *Member) Exited() <-chan struct{} { return m.exited }

// Answers says whether the member's REST API answers path with 200: the
// member's own word (GET /primary on the primary, /sync on a synchronous
// standby).
func (m *Member) Answers(path string) bool {
	client := &http.Client{Timeout: 2 * time.Second}
	resp, err := client.Get(fmt.Sprintf("http://127.0.0.1:%d%s", m.APIPort, path))
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// LogTail is the end of the member's log.
func (m *Member) LogTail() string {
	b, err := os.ReadFile(m.LogPath)
	if err != nil {
		return err.Error()
	}
	const max = 8 << 10
	if len(b) > max {
		b = b[len(b)-max:]
	}
	return string(b)
}
