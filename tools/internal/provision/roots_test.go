package provision

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/scryptpool/poolmicrocloud/tools/internal/binaries"
)

// rootPackages are what the roles install, downloaded into the cached base
// root so that converging five roots does not fetch them five times. They
// are downloaded, not installed: the playbook installs them.
var rootPackages = []string{
	"ca-certificates", "chrony", "nftables", "openssh-server", "sudo", "unattended-upgrades",
	"util-linux", "litecoind", "postgresql", "patroni", "python3-consul", "keepalived",
}

func debianMirror() string {
	if m := os.Getenv("POOLCTL_DEBIAN_MIRROR"); m != "" {
		return m
	}
	return "http://deb.debian.org/debian"
}

// baseRoot returns a tarball of a debootstrapped Debian bookworm root with
// python3 and the roles' packages downloaded, built once and cached in
// the poolctl cache directory.
func baseRoot(t testing.TB) string {
	t.Helper()
	needTool(t, "debootstrap", "debootstrap")
	cache, err := binaries.CacheDir()
	require.NoError(t, err)
	sum := sha256.Sum256([]byte("v1 bookworm " + debianMirror() + " " + strings.Join(rootPackages, " ")))
	dir := filepath.Join(cache, "provision")
	tarball := filepath.Join(dir, "bookworm-base-"+hex.EncodeToString(sum[:6])+".tar")
	if _, err := os.Stat(tarball); err == nil {
		return tarball
	}
	require.NoError(t, os.MkdirAll(dir, 0o755))
	root := filepath.Join(t.TempDir(), "base")
	t.Logf("building the base root (cached in %s afterwards)", tarball)
	run(t, "", nil, "debootstrap", "--variant=minbase", "--include=python3,ca-certificates", "bookworm", root, debianMirror())
	// Daemons that packages start when installed would run in the chroot,
	// outside any test's control; the standard policy-rc.d forbids it.
	require.NoError(t, os.WriteFile(filepath.Join(root, "usr/sbin/policy-rc.d"), []byte("#!/bin/sh\nexit 101\n"), 0o755))
	resolv, err := os.ReadFile("/etc/resolv.conf")
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(root, "etc/resolv.conf"), resolv, 0o644))
	env := []string{"DEBIAN_FRONTEND=noninteractive"}
	run(t, "", env, "chroot", root, "apt-get", "update", "-q")
	run(t, "", env, "chroot", append([]string{root, "apt-get", "install", "-q", "-y", "--download-only", "--no-install-recommends"}, rootPackages...)...)
	tmp := tarball + ".tmp"
	run(t, "", nil, "tar", "-C", root, "--numeric-owner", "-cf", tmp, ".")
	require.NoError(t, os.Rename(tmp, tarball))
	return tarball
}

// newRoot extracts the base root into a fresh directory.
func newRoot(t testing.TB, tarball, dir string) string {
	t.Helper()
	require.NoError(t, os.MkdirAll(dir, 0o755))
	run(t, "", nil, "tar", "-C", dir, "--numeric-owner", "-xf", tarball)
	return dir
}

// agent is a Consul or Nomad agent running chrooted in a node's root, in a
// mount namespace of its own (with /proc, /sys and /dev), so that whatever
// it mounts disappears with it.
type agent struct {
	name string
	cmd  *exec.Cmd
	log  *os.File
}

func startAgent(t testing.TB, name, root, logPath string, argv ...string) *agent {
	t.Helper()
	// The root is bind-mounted onto itself so that "/" in the chroot is a
	// mount point: the exec driver's container init remounts it.
	script := fmt.Sprintf(`set -e
mount --bind %[1]s %[1]s
mount -t proc proc %[1]s/proc
mount --rbind /sys %[1]s/sys
mount --rbind /dev %[1]s/dev
exec chroot %[1]s "$@"`, root)
	log, err := os.Create(logPath)
	require.NoError(t, err)
	cmd := exec.Command("unshare", append([]string{"--mount", "--propagation", "private", "--", "sh", "-c", script, "agent"}, argv...)...)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	require.NoError(t, cmd.Start(), "start %s", name)
	a := &agent{name: name, cmd: cmd, log: log}
	t.Cleanup(func() { a.stop(t) })
	return a
}

// stop ends the agent's process group: SIGINT, as systemd stops Nomad
// (servers stay in the Raft peer set, clients leave), then SIGKILL for
// whatever is left.
func (a *agent) stop(t testing.TB) {
	if a.cmd.ProcessState != nil {
		return
	}
	pgid := a.cmd.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGINT)
	done := make(chan struct{})
	go func() { _ = a.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-afterSeconds(20):
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-done
	}
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	a.log.Close()
}
