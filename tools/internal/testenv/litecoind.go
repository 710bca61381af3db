package testenv

import (
	"context"
	"fmt"
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
	"github.com/scryptpool/poolmicrocloud/tools/internal/regtest"
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

// freePort finds a port free on 127.0.0.1 now (regtest.FreePort).
func freePort(t testing.TB) int {
	t.Helper()
	port, err := regtest.FreePort()
	require.NoError(t, err)
	return port
}

// StartLitecoind starts a regtest litecoind and waits until its RPC
// answers. It is killed when the test ends.
func StartLitecoind(t testing.TB, extraArgs ...string) *Litecoind {
	t.Helper()
	if _, err := os.Stat(regtest.Litecoind); err != nil {
		require.NoError(t, err, "litecoind is missing: install the Debian package litecoind (task setup)")
	}
	dir := t.TempDir()
	rpc, p2p := freePort(t), freePort(t)
	for p2p == rpc {
		p2p = freePort(t)
	}
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
	l.Cmd = exec.Command(regtest.Litecoind, args...)
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
