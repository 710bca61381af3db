package localdb

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// Scratch is a throwaway PostgreSQL 15 server for a benchmark: one
// cluster in a temporary directory, run as the postgres OS user, on
// loopback, trusting every local login. Stop ends it and removes it.
type Scratch struct {
	// DSN reaches the server as the superuser postgres.
	DSN string
	dir string
	cmd *exec.Cmd
}

// StartScratch initialises and starts a scratch server in a temporary
// directory named after prefix; settings are the server's "name=value"
// options (fsync=off, shared_buffers=256MB, ...).
func StartScratch(prefix string, settings ...string) (_ *Scratch, err error) {
	cred, err := postgresCredential()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", prefix)
	if err != nil {
		return nil, err
	}
	s := &Scratch{dir: dir}
	defer func() {
		if err != nil {
			s.Stop()
		}
	}()
	data := filepath.Join(dir, "data")
	for _, step := range []func() error{
		func() error { return os.Chmod(dir, 0o711) },
		func() error { return os.Mkdir(data, 0o700) },
		func() error { return os.Chown(data, int(cred.Uid), int(cred.Gid)) },
	} {
		if err := step(); err != nil {
			return nil, err
		}
	}
	command := func(name string, args ...string) *exec.Cmd {
		c := exec.Command(filepath.Join(PostgresBin, name), args...)
		c.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Setpgid: true}
		c.Dir = dir
		return c
	}
	if out, err := command("initdb", "-D", data, "-U", "postgres", "--auth=trust", "--encoding=UTF8", "--locale=C", "--no-instructions").CombinedOutput(); err != nil {
		return nil, fmt.Errorf("initdb: %v: %s", err, out)
	}
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	args := []string{"-D", data, "-p", strconv.Itoa(port), "-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=" + data}
	for _, setting := range settings {
		args = append(args, "-c", setting)
	}
	s.cmd = command("postgres", args...)
	if err := s.cmd.Start(); err != nil {
		s.cmd = nil
		return nil, err
	}
	s.DSN = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port)
	deadline := time.Now().Add(time.Minute)
	for command("pg_isready", "-q", "-h", "127.0.0.1", "-p", strconv.Itoa(port)).Run() != nil {
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("postgres did not start within a minute")
		}
		time.Sleep(50 * time.Millisecond)
	}
	return s, nil
}

// Pid is the postmaster's process id.
func (s *Scratch) Pid() int { return s.cmd.Process.Pid }

// Stop shuts the server down (fast shutdown) and removes its directory.
func (s *Scratch) Stop() {
	if s.cmd != nil && s.cmd.Process != nil {
		_ = s.cmd.Process.Signal(syscall.SIGINT)
		_ = s.cmd.Wait()
	}
	os.RemoveAll(s.dir)
}
