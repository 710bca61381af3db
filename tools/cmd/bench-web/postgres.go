package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// postgresBin is where Debian's postgresql-15 package puts the server.
const postgresBin = "/usr/lib/postgresql/15/bin"

// postgres is a throwaway server in a temporary directory, run as the
// OS user postgres (it refuses root), on loopback.
type postgres struct {
	dir string
	cmd *exec.Cmd
	dsn string
}

func startPostgres() (*postgres, error) {
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("the postgres OS user comes with the Debian package postgresql-15 (task setup): %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	cred := &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{}}
	dir, err := os.MkdirTemp("", "bench-web-")
	if err != nil {
		return nil, err
	}
	p := &postgres{dir: dir}
	data := filepath.Join(dir, "data")
	for _, step := range []func() error{
		func() error { return os.Chmod(dir, 0o711) },
		func() error { return os.Mkdir(data, 0o700) },
		func() error { return os.Chown(data, uid, gid) },
	} {
		if err := step(); err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
	}
	command := func(name string, args ...string) *exec.Cmd {
		c := exec.Command(filepath.Join(postgresBin, name), args...)
		c.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Setpgid: true}
		c.Dir = dir
		return c
	}
	if out, err := command("initdb", "-D", data, "-U", "postgres", "--auth=trust", "--encoding=UTF8", "--locale=C", "--no-instructions").CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("initdb: %v: %s", err, out)
	}
	port, err := freePort()
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	// fsync off: the figures are the web server's, not the disk's.
	p.cmd = command("postgres", "-D", data, "-p", strconv.Itoa(port), "-c", "listen_addresses=127.0.0.1",
		"-c", "unix_socket_directories="+data, "-c", "fsync=off", "-c", "shared_buffers=256MB",
		"-c", "max_wal_size=4GB", "-c", "max_connections=50")
	if err := p.cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	p.dsn = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port)
	deadline := time.Now().Add(time.Minute)
	for command("pg_isready", "-q", "-h", "127.0.0.1", "-p", strconv.Itoa(port)).Run() != nil {
		if time.Now().After(deadline) {
			p.stop()
			return nil, fmt.Errorf("postgres did not start")
		}
		time.Sleep(50 * time.Millisecond)
	}
	return p, nil
}

// pid is the postmaster's process id.
func (p *postgres) pid() int { return p.cmd.Process.Pid }

func (p *postgres) stop() {
	if p.cmd != nil && p.cmd.Process != nil {
		_ = p.cmd.Process.Signal(syscall.SIGINT) // fast shutdown
		_ = p.cmd.Wait()
	}
	os.RemoveAll(p.dir)
}

// freePort is a port free on loopback now.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
