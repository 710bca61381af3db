package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"time"

	"github.com/scryptpool/poolmicrocloud/tools/internal/chain"
)

const litecoindPath = "/usr/lib/litecoin/litecoind"

// litecoind is a regtest daemon started by this program in a temporary
// directory, removed when it stops.
type litecoind struct {
	cmd     *exec.Cmd
	dir     string
	rpcAddr string
	p2pAddr string
	exited  chan struct{}
}

const rpcUser, rpcPassword = "bench", "bench-password"

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func startLitecoind(ctx context.Context, name string, stderr io.Writer, extra ...string) (*litecoind, error) {
	if _, err := os.Stat(litecoindPath); err != nil {
		return nil, fmt.Errorf("litecoind is missing: install the Debian package litecoind: %w", err)
	}
	dir, err := os.MkdirTemp("", "bench-newwork-"+name+"-")
	if err != nil {
		return nil, err
	}
	rpc, err := freePort()
	if err != nil {
		return nil, err
	}
	p2p, err := freePort()
	if err != nil {
		return nil, err
	}
	l := &litecoind{dir: dir, rpcAddr: fmt.Sprintf("127.0.0.1:%d", rpc), p2pAddr: fmt.Sprintf("127.0.0.1:%d", p2p), exited: make(chan struct{})}
	args := append([]string{
		"-regtest", "-datadir=" + dir, "-server=1", "-listen=1", "-printtoconsole=0",
		"-bind=" + l.p2pAddr, "-rpcbind=127.0.0.1", "-rpcallowip=127.0.0.1",
		"-rpcport=" + strconv.Itoa(rpc), "-rpcuser=" + rpcUser, "-rpcpassword=" + rpcPassword,
		// An idle regtest chain's tip is the 2011 genesis block: without
		// this the daemon is in initial block download and serves no
		// template.
		"-maxtipage=2147483647", "-listenonion=0", "-upnp=0", "-disablewallet",
	}, extra...)
	l.cmd = exec.Command(litecoindPath, args...)
	l.cmd.Stdout, l.cmd.Stderr = stderr, stderr
	// Killed with this program, whatever ends it.
	l.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := l.cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("start litecoind (%s): %w", name, err)
	}
	go func() {
		_ = l.cmd.Wait()
		close(l.exited)
	}()
	waitCtx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for {
		callCtx, callCancel := context.WithTimeout(waitCtx, time.Second)
		_, err := l.client().BlockCount(callCtx)
		callCancel()
		if err == nil {
			return l, nil
		}
		select {
		case <-l.exited:
			l.stop()
			return nil, fmt.Errorf("litecoind (%s) exited at start: %v", name, l.cmd.ProcessState)
		case <-waitCtx.Done():
			l.stop()
			return nil, fmt.Errorf("litecoind (%s) did not answer RPC within a minute: %w", name, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (l *litecoind) client() *chain.Client {
	return chain.NewClient(l.rpcAddr, rpcUser, rpcPassword)
}

func (l *litecoind) stop() {
	_ = l.cmd.Process.Kill()
	<-l.exited
	os.RemoveAll(l.dir)
}
