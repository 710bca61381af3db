// Package localdb runs a local database cluster of real Patroni members
// and a Consul agent, outside Nomad, for tests and benchmarks. Each member
// is `poolctl database member` run as the database job runs it, as the
// postgres OS user, with PostgreSQL 15 in a directory the caller gives;
// Patroni keeps the cluster's state in the Consul agent under the pool's
// prefix. Nothing here needs a testing.T: every function returns an error,
// and what it starts is ended by Stop.
package localdb

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

const (
	// PostgresBin is where Debian's postgresql-15 package puts the server.
	PostgresBin = "/usr/lib/postgresql/15/bin"
	// PatroniPython runs Debian's Patroni (packages patroni and
	// python3-consul) as a module, so that the process started and
	// signalled is Patroni itself, not a wrapper script.
	PatroniPython = "/usr/bin/python3"
	// Database is the pool's database the members create.
	Database = "pool"
)

// Check says what is missing to run members here: root (members run as
// the postgres OS user), PostgreSQL 15, and Patroni with its Consul
// client.
func Check() error {
	if os.Geteuid() != 0 {
		return errors.New("run as root: members run as the postgres OS user")
	}
	if _, err := os.Stat(filepath.Join(PostgresBin, "postgres")); err != nil {
		return fmt.Errorf("postgres is missing: install the Debian package postgresql-15 (task setup): %w", err)
	}
	if _, err := postgresCredential(); err != nil {
		return err
	}
	if out, err := exec.Command(PatroniPython, "-c", "import patroni, consul").CombinedOutput(); err != nil {
		return fmt.Errorf("Patroni is missing: install the Debian packages patroni and python3-consul (task setup): %w\n%s", err, out)
	}
	return nil
}

// Versions are what `postgres --version` and `patroni --version` say of
// the programs the members run. Patroni run as a module names itself
// after its __main__.py: only its version is kept.
func Versions(ctx context.Context) (postgres, patroni string, err error) {
	pg, err := exec.CommandContext(ctx, filepath.Join(PostgresBin, "postgres"), "--version").Output()
	if err != nil {
		return "", "", fmt.Errorf("postgres --version: %w", err)
	}
	pa, err := exec.CommandContext(ctx, PatroniPython, "-m", "patroni", "--version").Output()
	if err != nil {
		return "", "", fmt.Errorf("patroni --version: %w", err)
	}
	words := strings.Fields(string(pa))
	if len(words) == 0 {
		return "", "", errors.New("patroni --version said nothing")
	}
	return string(bytes.TrimSpace(pg)), "Patroni " + words[len(words)-1], nil
}

// FreePort is a TCP port free on loopback now.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// postgresCredential is the postgres OS user: PostgreSQL refuses to run
// as root.
func postgresCredential() (*syscall.Credential, error) {
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("the postgres OS user comes with the Debian package postgresql-15: %w", err)
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("postgres uid %q: %w", u.Uid, err)
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("postgres gid %q: %w", u.Gid, err)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{}}, nil
}

func randomHex(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}

// hostports joins loopback addresses of ports for a multi-host URL.
func hostports(ports []int) string {
	hosts := make([]string, len(ports))
	for i, p := range ports {
		hosts[i] = fmt.Sprintf("127.0.0.1:%d", p)
	}
	return strings.Join(hosts, ",")
}
