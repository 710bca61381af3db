package testenv

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
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

// freePort asks the kernel for a port free on 127.0.0.1 now.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
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
