package testenv

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// NewNetns creates a network namespace of the test's own (ip netns add),
// deleted when the test ends, with its loopback up.
func NewNetns(t testing.TB, name string) string {
	t.Helper()
	out, err := exec.Command("ip", "netns", "add", name).CombinedOutput()
	require.NoError(t, err, "create network namespace %s (needs root and iproute2): %s", name, out)
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", name).Run() })
	IP(t, name, "link", "set", "lo", "up")
	return name
}

// IP runs ip(8) in the named network namespace ("" for the test's own).
func IP(t testing.TB, netns string, args ...string) {
	t.Helper()
	if netns != "" {
		args = append([]string{"-n", netns}, args...)
	}
	out, err := exec.Command("ip", args...).CombinedOutput()
	require.NoError(t, err, "ip %s: %s", strings.Join(args, " "), out)
}

// InNetns runs fn on a thread inside the named network namespace: sockets
// fn creates belong to it. If the thread cannot be moved back it stays
// locked, and Go ends it with the goroutine.
func InNetns(t testing.TB, name string, fn func()) {
	t.Helper()
	require.NoError(t, inNetns(name, fn))
}

func inNetns(name string, fn func()) error {
	runtime.LockOSThread()
	orig, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		runtime.UnlockOSThread()
		return err
	}
	defer orig.Close()
	target, err := os.Open(filepath.Join("/run/netns", name))
	if err != nil {
		runtime.UnlockOSThread()
		return err
	}
	defer target.Close()
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("enter network namespace %s: %w", name, err)
	}
	defer func() {
		if unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET) == nil {
			runtime.UnlockOSThread()
		}
	}()
	fn()
	return nil
}

// NetnsDialer dials from inside the named network namespace, for clients
// (HTTP transports, miners) that dial on goroutines of their own.
func NetnsDialer(name string) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		var conn net.Conn
		var dialErr error
		if err := inNetns(name, func() {
			d := net.Dialer{Timeout: 5 * time.Second}
			conn, dialErr = d.DialContext(ctx, network, addr)
		}); err != nil {
			return nil, err
		}
		return conn, dialErr
	}
}
