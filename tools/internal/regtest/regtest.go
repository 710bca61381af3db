// Package regtest starts a regtest litecoind outside Nomad, for programs
// (benchmarks) and tests that need a daemon of their own: a second node
// that finds blocks, or the Internet the pool's wallets have peers on.
package regtest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/scryptpool/poolmicrocloud/tools/internal/chain"
)

// Litecoind is the Debian package's daemon.
const Litecoind = "/usr/lib/litecoin/litecoind"

// RPC login of the daemons started here.
const rpcUser, rpcPassword = "regtest", "regtest-password"

// Daemon is a regtest litecoind started in a temporary directory,
// removed when it stops.
type Daemon struct {
	Cmd     *exec.Cmd
	Dir     string
	RPCAddr string
	P2PAddr string
	exited  chan struct{}
}

// FreePort finds a port free on 127.0.0.1 now, for a server started
// next. It is drawn below the kernel's ephemeral range: a port the kernel
// hands out for ":0" is also what it gives the next outgoing connection
// of any process as its source port, and one did take such a port from a
// test's PostgreSQL before it could bind it ("Address already in use",
// three suites running at once).
func FreePort() (int, error) {
	low := ephemeralLow()
	for range 1000 {
		port := 10000 + rand.IntN(low-10000)
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			continue
		}
		l.Close()
		return port, nil
	}
	return 0, fmt.Errorf("no free port on 127.0.0.1 between 10000 and %d", low)
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

// Start starts a regtest daemon named name (its directory's prefix), its
// output to stderr, and waits until its RPC answers. It is killed with
// the program that started it, whatever ends that.
func Start(ctx context.Context, name string, stderr io.Writer, extra ...string) (*Daemon, error) {
	if _, err := os.Stat(Litecoind); err != nil {
		return nil, fmt.Errorf("litecoind is missing: install the Debian package litecoind (task setup): %w", err)
	}
	dir, err := os.MkdirTemp("", "regtest-"+name+"-")
	if err != nil {
		return nil, err
	}
	rpc, err1 := FreePort()
	p2p, err2 := FreePort()
	// Each port was free when drawn, and its listener closed: the same
	// one can come twice.
	for err2 == nil && p2p == rpc {
		p2p, err2 = FreePort()
	}
	if err := errors.Join(err1, err2); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	d := &Daemon{Dir: dir, RPCAddr: fmt.Sprintf("127.0.0.1:%d", rpc), P2PAddr: fmt.Sprintf("127.0.0.1:%d", p2p), exited: make(chan struct{})}
	args := append([]string{
		"-regtest", "-datadir=" + dir, "-server=1", "-listen=1", "-printtoconsole=0",
		"-bind=" + d.P2PAddr, "-rpcbind=127.0.0.1", "-rpcallowip=127.0.0.1",
		"-rpcport=" + strconv.Itoa(rpc), "-rpcuser=" + rpcUser, "-rpcpassword=" + rpcPassword,
		// An idle regtest chain's tip is the 2011 genesis block: without
		// this the daemon is in initial block download and serves no
		// template.
		"-maxtipage=2147483647", "-listenonion=0", "-upnp=0", "-disablewallet",
	}, extra...)
	d.Cmd = exec.Command(Litecoind, args...)
	d.Cmd.Stdout, d.Cmd.Stderr = stderr, stderr
	d.Cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := d.Cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("start litecoind (%s): %w", name, err)
	}
	go func() {
		_ = d.Cmd.Wait()
		close(d.exited)
	}()
	waitCtx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for {
		callCtx, callCancel := context.WithTimeout(waitCtx, time.Second)
		_, err := d.Client().BlockCount(callCtx)
		callCancel()
		if err == nil {
			return d, nil
		}
		select {
		case <-d.exited:
			d.Stop()
			return nil, fmt.Errorf("litecoind (%s) exited at start: %v", name, d.Cmd.ProcessState)
		case <-waitCtx.Done():
			d.Stop()
			return nil, fmt.Errorf("litecoind (%s) did not answer RPC within a minute: %w", name, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Client is an RPC client of the daemon.
func (d *Daemon) Client() *chain.Client { return Dial(d.RPCAddr) }

// Dial is an RPC client of a daemon started here whose RPC listens at
// hostport.
func Dial(hostport string) *chain.Client {
	return chain.NewClient(hostport, rpcUser, rpcPassword)
}

// Stop kills the daemon and removes its directory; stopping twice is
// harmless.
func (d *Daemon) Stop() {
	_ = d.Cmd.Process.Kill()
	<-d.exited
	os.RemoveAll(d.Dir)
}
