package testenv

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/scryptpool/poolmicrocloud/tools/internal/chain"
)

// Litecoind is a real regtest litecoind started by a test, outside Nomad.
type Litecoind struct {
	Cmd      *exec.Cmd
	RPCAddr  string
	P2PAddr  string
	User     string
	Password string
	DataDir  string
}

// Client returns an RPC client with the daemon's credentials.
func (l *Litecoind) Client() *chain.Client {
	return chain.NewClient(l.RPCAddr, l.User, l.Password)
}

// freePort finds a port free on 127.0.0.1 now, for a server the test
// starts next. It is drawn below the kernel's ephemeral range: a port the
// kernel hands out for ":0" is also what it gives the next outgoing
// connection of any process as its source port, and one did take such a
// port from a test's PostgreSQL before it could bind it ("Address already
// in use", three suites running at once).
func freePort(t testing.TB) int {
	t.Helper()
	low := ephemeralLow()
	for range 1000 {
		port := 10000 + rand.IntN(low-10000)
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			continue
		}
		l.Close()
		return port
	}
	require.Fail(t, "no free port on 127.0.0.1", "between 10000 and %d", low)
	return 0
}

// ephemeralLow is the first port of the kernel's ephemeral range
// (net.ipv4.ip_local_port_range), or 32768.
func ephemeralLow() int {
	data, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err == nil {
		if f := strings.Fields(string(data)); len(f) == 2 {
			if low, err := strconv.Atoi(f[0]); err == nil && low > 11000 {
				return low
			}
		}
	}
	return 32768
}

// StartLitecoind starts a regtest litecoind and waits until its RPC
// answers. It is killed when the test ends.
func StartLitecoind(t testing.TB, extraArgs ...string) *Litecoind {
	t.Helper()
	if _, err := os.Stat("/usr/lib/litecoin/litecoind"); err != nil {
		require.NoError(t, err, "litecoind is missing: install the Debian package litecoind (task setup)")
	}
	dir := t.TempDir()
	rpc, p2p := freePort(t), freePort(t)
	l := &Litecoind{
		RPCAddr: fmt.Sprintf("127.0.0.1:%d", rpc), P2PAddr: fmt.Sprintf("127.0.0.1:%d", p2p),
		User: "test", Password: "test-password", DataDir: dir,
	}
	args := append([]string{
		"-regtest", "-datadir=" + dir, "-server=1", "-listen=1", "-printtoconsole=0",
		"-bind=" + l.P2PAddr, "-rpcbind=127.0.0.1", "-rpcallowip=127.0.0.1",
		"-rpcport=" + strconv.Itoa(rpc), "-rpcuser=" + l.User, "-rpcpassword=" + l.Password,
		"-maxtipage=2147483647", "-fallbackfee=0.0001", "-listenonion=0", "-upnp=0",
	}, extraArgs...)
	l.Cmd = exec.Command("/usr/lib/litecoin/litecoind", args...)
	l.Cmd.Stdout, l.Cmd.Stderr = os.Stderr, os.Stderr
	// A test binary killed by a timeout or a signal runs no cleanup; the
	// daemon must not outlive it.
	l.Cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	require.NoError(t, l.Cmd.Start())
	t.Cleanup(func() {
		_ = l.Cmd.Process.Signal(syscall.SIGCONT)
		_ = l.Cmd.Process.Kill()
		_ = l.Cmd.Wait()
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	client := l.Client()
	for {
		callCtx, callCancel := context.WithTimeout(ctx, time.Second)
		_, err := client.BlockCount(callCtx)
		if err == nil {
			err = client.EnsureWallet(callCtx, "pool")
		}
		callCancel()
		if err == nil {
			return l
		}
		select {
		case <-ctx.Done():
			require.NoError(t, err, "litecoind in %s did not answer RPC", filepath.Base(dir))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Kill kills the daemon at once, as a power cut would.
func (l *Litecoind) Kill() {
	_ = l.Cmd.Process.Signal(syscall.SIGKILL)
	_ = l.Cmd.Wait()
}

// ConnectTo has l connect to other over P2P (addnode) and waits until l
// lists other as a peer. It looks from l's side, by address: when the
// "onetry" connection races the daemon's own added-node thread, both can
// connect, and other then sees the same daemon twice, so counting other's
// peers is no measure. getpeerinfo is polled; the daemon offers nothing
// to block on.
func (l *Litecoind) ConnectTo(t testing.TB, other *Litecoind) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	client := l.Client()
	require.NoError(t, client.AddNode(ctx, other.P2PAddr))
	for {
		peers, err := client.Peers(ctx)
		if err == nil && slices.ContainsFunc(peers, func(p chain.Peer) bool { return p.Addr == other.P2PAddr }) {
			return
		}
		select {
		case <-ctx.Done():
			var added any
			addedErr := client.Call(context.Background(), "getaddednodeinfo", nil, &added)
			require.Failf(t, "daemons not peered",
				"%s did not list %s as a peer within a minute (last error: %v, peers: %+v, added nodes: %v %v)\n%s\n%s",
				l.P2PAddr, other.P2PAddr, err, peers, added, addedErr, l.logTail(40), other.logTail(40))
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// logTail returns the last n lines of the daemon's debug.log, for a
// failure message.
func (l *Litecoind) logTail(n int) string {
	b, err := os.ReadFile(filepath.Join(l.DataDir, "regtest", "debug.log"))
	if err != nil {
		return fmt.Sprintf("debug.log of %s: %v", l.P2PAddr, err)
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return fmt.Sprintf("last lines of the debug.log of %s:\n%s", l.P2PAddr, strings.Join(lines, "\n"))
}
