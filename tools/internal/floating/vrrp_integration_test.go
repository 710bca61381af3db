package floating_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	consulapi "github.com/hashicorp/consul/api"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/scryptpool/poolmicrocloud/tools/internal/binaries"
	"github.com/scryptpool/poolmicrocloud/tools/internal/chain"
	"github.com/scryptpool/poolmicrocloud/tools/internal/contract"
	"github.com/scryptpool/poolmicrocloud/tools/internal/ledger"
	"github.com/scryptpool/poolmicrocloud/tools/internal/miner"
	"github.com/scryptpool/poolmicrocloud/tools/internal/stratum"
	"github.com/scryptpool/poolmicrocloud/tools/internal/testenv"
)

// The floating address for real: two "Pis" (network namespaces of the
// test's own on one bridge, the LAN), each with a Consul agent, a stratum
// server and keepalived configured by the floating_address role's own
// template and running poolctl floating-check; a third namespace is the
// miners' side of the LAN. Miners connect to the floating address.
//
//   - A drained instance (Nomad deregisters it from Consul, then sends
//     SIGTERM after shutdown_delay) loses the address to the other node,
//     and its client.reconnect sends its miners to the floating address.
//   - The node holding the address loses power (keepalived and Consul
//     killed, its link gone, its server's sockets silent): the other node
//     takes the address, and a miner on it reconnects once and mines on.

const (
	lanPrefix  = "10.55.0."
	floatingIP = lanPrefix + "50"
	port       = "3333"
	coin       = "ltc"
	// regtestAddress is a regtest P2PKH address (the coinbase's payee).
	regtestAddress = "mipcBbFg9gMiCh81Kj8tqqdgoZub1ZJRfn"
)

type pi struct {
	name, netns, addr string
	consul            *consulapi.Client
	consulCmd         *exec.Cmd
	keepalived        *exec.Cmd
	server            *stratum.Server
	sink              *countingSink
	stop              context.CancelFunc
	served            chan struct{}
	// off: the node lost power. Its namespace still lists whatever
	// address keepalived had no time to remove, but a Pi without power
	// answers for none.
	off bool
}

func TestFloatingAddressFollowsHealthyStratum(t *testing.T) {
	testenv.Integration(t)
	for _, tool := range []string{"keepalived", "ansible"} {
		_, err := exec.LookPath(tool)
		require.NoError(t, err, "%s is missing: install the Debian package (task setup)", tool)
	}
	consulBin := testenv.Tool(t, binaries.Consul)
	poolctl := testenv.Poolctl(t)
	dir := t.TempDir()
	prefix := fmt.Sprintf("flt%d", os.Getpid()%100000)

	// The LAN: a bridge in a namespace of its own; each Pi and the miners
	// hang off it by a veth pair.
	lan := testenv.NewNetns(t, prefix+"-lan")
	testenv.IP(t, lan, "link", "add", "br0", "type", "bridge")
	testenv.IP(t, lan, "link", "set", "br0", "up")
	attach := func(netns, addr string, i int) {
		port := fmt.Sprintf("p%d", i)
		testenv.IP(t, "", "link", "add", "eth0", "netns", netns, "type", "veth", "peer", "name", port, "netns", lan)
		testenv.IP(t, lan, "link", "set", port, "master", "br0", "up")
		testenv.IP(t, netns, "addr", "add", addr+"/24", "dev", "eth0")
		testenv.IP(t, netns, "link", "set", "eth0", "up")
	}
	pis := []*pi{{name: "pi-01", addr: lanPrefix + "1"}, {name: "pi-02", addr: lanPrefix + "2"}}
	for i, p := range pis {
		p.netns = testenv.NewNetns(t, prefix+"-"+p.name)
		attach(p.netns, p.addr, i+1)
	}
	miners := testenv.NewNetns(t, prefix+"-miners")
	attach(miners, lanPrefix+"100", 100)

	work := testWork(t)
	for _, p := range pis {
		p.startConsul(t, consulBin, dir)
		p.startServer(t, work)
		p.register(t)
	}
	for i, p := range pis {
		var peers []string
		for j, q := range pis {
			if j != i {
				peers = append(peers, q.addr)
			}
		}
		conf := renderKeepalived(t, dir, p, poolctl, peers)
		p.startKeepalived(t, conf, dir)
	}

	holder := waitForHolder(t, pis, nil)
	other := pis[0]
	if other == holder {
		other = pis[1]
	}
	t.Logf("%s holds the floating address", holder.name)

	// Miner A through the floating address; miner B through the holder's
	// own address, as a miner configured before the floating address was.
	a := startMiner(t, miners, net.JoinHostPort(floatingIP, port), "a")
	b := startMiner(t, miners, net.JoinHostPort(holder.addr, port), "b")
	a.waitAccepted(t, holder, 3)
	b.waitAccepted(t, holder, 3)

	t.Run("a drained instance gives the address up and sends its miners to it", func(t *testing.T) {
		// What Nomad does first on a stop: deregister, then wait out
		// shutdown_delay before SIGTERM.
		drained := time.Now()
		require.NoError(t, holder.consul.Agent().ServiceDeregister(holder.serviceID()))
		waitForHolder(t, pis, other)
		t.Logf("figure: the floating address left the drained node %s after its deregistration", time.Since(drained).Round(100*time.Millisecond))
		// SIGTERM: the server stops listening and tells its miners where
		// to go; Run sends them to the floating address when there is one.
		floating, err := stratum.FloatingHostport(floatingIP, holder.addr+":"+port)
		require.NoError(t, err)
		holder.shutdown(t, floating)

		b.waitReconnectedTo(t, floating)
		b.waitAccepted(t, other, 3)
		a.waitAccepted(t, other, 3)
		assert.LessOrEqual(t, a.connects()-1, int64(1), "miner A reconnected at most once")
		assert.Equal(t, int64(0), b.disconnects(), "miner B was sent, never dropped")
	})

	// The drained node comes back (a new allocation): it passes its check
	// again but does not take the address back (nopreempt).
	holder.startServer(t, work)
	holder.register(t)
	waitForCheck(t, holder, true)
	newHolder := waitForHolder(t, pis, other)
	require.Equal(t, other, newHolder)

	t.Run("the holder loses power and a miner on the address mines on", func(t *testing.T) {
		cut := other
		before := a.connects()
		acceptedBefore := holder.sink.sharesOf(a.name)
		cut.powerCut(t)
		at := time.Now()
		waitForHolder(t, pis, holder)
		t.Logf("figure: the floating address was up on %s %s after the power cut", holder.name, time.Since(at).Round(100*time.Millisecond))
		a.waitAccepted(t, holder, acceptedBefore+1)
		t.Logf("figure: miner A had a share accepted on %s %s after the power cut", holder.name, time.Since(at).Round(100*time.Millisecond))
		a.waitAccepted(t, holder, acceptedBefore+3)
		assert.Equal(t, before+1, a.connects(), "miner A reconnected exactly once")
	})
}

// countingSink counts the shares each worker (one per miner) had accepted.
type countingSink struct {
	mu     sync.Mutex
	shares map[string]int
}

func (s *countingSink) Add(sh ledger.Share) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.shares == nil {
		s.shares = map[string]int{}
	}
	s.shares[sh.Worker]++
	return nil
}

func (s *countingSink) AddBlock(ledger.Block) error { return nil }

func (s *countingSink) sharesOf(worker string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.shares[worker]
}

type noBlocks struct{}

func (noBlocks) SubmitBlock(context.Context, string) (string, error) {
	return "", fmt.Errorf("no block can be found at this test's difficulty")
}

// testWork is one job no share can make a block of.
func testWork(t *testing.T) *chain.Work {
	t.Helper()
	const bits = "1d00ffff"
	compact, err := chain.ParseHexUint32(bits)
	require.NoError(t, err)
	tmpl := &chain.Template{
		Version: 0x20000000, PreviousBlockHash: strings.Repeat("11", 32), CoinbaseValue: 50_0000_0000,
		MinTime: 1_700_000_000, CurTime: 1_700_000_100, Bits: bits, Height: 200,
		Target: fmt.Sprintf("%064x", chain.CompactToTarget(compact)),
	}
	script, err := chain.OutputScript(regtestAddress, "regtest")
	require.NoError(t, err)
	w, err := chain.NewWork(tmpl, script, []byte("/floating-test/"), stratum.ExtranonceSize)
	require.NoError(t, err)
	return w
}

func (p *pi) serviceID() string { return contract.StratumService(coin) + "-" + p.name }

func (p *pi) startConsul(t *testing.T, consulBin, dir string) {
	t.Helper()
	log, err := os.Create(filepath.Join(dir, p.name+"-consul.log"))
	require.NoError(t, err)
	p.consulCmd = exec.Command("ip", "netns", "exec", p.netns, consulBin, "agent", "-dev",
		"-node="+p.name, "-bind="+p.addr, "-client=127.0.0.1", "-log-level=warn")
	p.consulCmd.Stdout, p.consulCmd.Stderr = log, log
	p.consulCmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	require.NoError(t, p.consulCmd.Start())
	t.Cleanup(func() { killGroup(p.consulCmd) })
	cfg := consulapi.DefaultNonPooledConfig()
	cfg.Address = "127.0.0.1:8500"
	cfg.Transport.DialContext = testenv.NetnsDialer(p.netns)
	p.consul, err = consulapi.NewClient(cfg)
	require.NoError(t, err)
	eventually(t, "the Consul agent of "+p.name+" to answer", func() bool {
		_, err := p.consul.Agent().Self()
		return err == nil
	})
}

// startServer serves one job on the node's address and the floating
// address, as `poolctl stratum --floating-address` does.
func (p *pi) startServer(t *testing.T, w *chain.Work) {
	t.Helper()
	cfg := stratum.DefaultConfig()
	cfg.Coin, cfg.Network, cfg.Instance = coin, "regtest", p.name
	cfg.Vardiff.Start, cfg.Vardiff.Min = 0.001, 0.0001
	cfg.Vardiff.TargetInterval = time.Second
	cfg.Log = slog.New(slog.NewTextHandler(testWriter{t, p.name}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	p.sink = &countingSink{}
	p.server = stratum.New(cfg, p.sink, noBlocks{}, nil)
	p.server.Publish(w, "test", true)
	floating, err := stratum.FloatingHostport(floatingIP, p.addr+":"+port)
	require.NoError(t, err)
	var l net.Listener
	testenv.InNetns(t, p.netns, func() {
		l, err = stratum.ListenMiners(context.Background(), p.addr+":"+port, floating)
	})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	p.stop, p.served = cancel, make(chan struct{})
	srv, served := p.server, p.served
	go func() {
		defer close(served)
		_ = srv.Serve(ctx, l)
	}()
	t.Cleanup(func() { cancel(); <-served })
}

// register is Nomad registering the allocation's service with the node's
// agent, with a check on the stratum port.
func (p *pi) register(t *testing.T) {
	t.Helper()
	require.NoError(t, p.consul.Agent().ServiceRegister(&consulapi.AgentServiceRegistration{
		ID: p.serviceID(), Name: contract.StratumService(coin), Address: p.addr, Port: 3333,
		Check: &consulapi.AgentServiceCheck{
			Name: "stratum port open", TCP: net.JoinHostPort(p.addr, port),
			Interval: "1s", Timeout: "1s",
		},
	}))
}

// shutdown is SIGTERM to the server: stop listening, send the miners to
// reconnectTo, let them go.
func (p *pi) shutdown(t *testing.T, reconnectTo string) {
	t.Helper()
	p.stop()
	<-p.served
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	p.server.Shutdown(ctx, reconnectTo)
}

// powerCut ends the node at once: its link goes (nothing it sends leaves
// any more), keepalived and Consul are killed, its server stops without a
// word reaching anyone.
func (p *pi) powerCut(t *testing.T) {
	t.Helper()
	testenv.IP(t, p.netns, "link", "set", "eth0", "down")
	p.off = true
	killGroup(p.keepalived)
	killGroup(p.consulCmd)
	p.stop()
	<-p.served
}

func renderKeepalived(t *testing.T, dir string, p *pi, poolctl string, peers []string) string {
	t.Helper()
	token := filepath.Join(dir, p.name+".token")
	require.NoError(t, os.WriteFile(token, []byte("\n"), 0o600)) // the dev agent has no ACLs
	vars := map[string]any{
		"pool_floating_address":           floatingIP,
		"pool_floating_address_prefix":    24,
		"pool_floating_address_services":  []string{contract.StratumService(coin)},
		"pool_node_address":               p.addr,
		"pool_poolctl_path":               poolctl,
		"floating_address_interface":      "eth0",
		"floating_address_router_id":      51,
		"floating_address_peers":          peers,
		"floating_address_script_user":    "root",
		"floating_address_check_interval": 1,
		"floating_address_check_timeout":  3,
		"floating_address_check_fall":     2,
		"floating_address_check_rise":     2,
		"floating_address_consul_address": "http://127.0.0.1:8500",
		// Plain HTTP to the test's agent: the CA is not used, but the
		// flag needs a readable PEM file.
		"floating_address_consul_ca_file": "/etc/ssl/certs/ca-certificates.crt",
		"floating_address_token_file":     token,
	}
	conf := filepath.Join(dir, p.name+"-keepalived.conf")
	require.NoError(t, os.WriteFile(conf, []byte(testenv.RenderKeepalivedConf(t, vars)), 0o600))
	return conf
}

func (p *pi) startKeepalived(t *testing.T, conf, dir string) {
	t.Helper()
	log, err := os.Create(filepath.Join(dir, p.name+"-keepalived.log"))
	require.NoError(t, err)
	p.keepalived = exec.Command("ip", "netns", "exec", p.netns, "keepalived", "-n", "-l", "-D", "-f", conf,
		"-p", filepath.Join(dir, p.name+"-keepalived.pid"), "-r", filepath.Join(dir, p.name+"-vrrp.pid"))
	p.keepalived.Stdout, p.keepalived.Stderr = log, log
	p.keepalived.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	require.NoError(t, p.keepalived.Start())
	t.Cleanup(func() {
		killGroup(p.keepalived)
		if t.Failed() {
			b, _ := os.ReadFile(log.Name())
			t.Logf("keepalived of %s:\n%s", p.name, b)
		}
	})
}

// killGroup ends a process started in a group of its own, and everything
// it started, at once (SIGKILL: a power cut, or the end of the test).
func killGroup(cmd *exec.Cmd) {
	if cmd == nil || cmd.Process == nil || cmd.ProcessState != nil {
		return
	}
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	_ = cmd.Wait()
}

// holds says whether the node has the floating address on its interface.
func (p *pi) holds(t *testing.T) bool {
	if p.off {
		return false
	}
	out, err := exec.Command("ip", "-n", p.netns, "-4", "-o", "addr", "show", "dev", "eth0").CombinedOutput()
	require.NoError(t, err, "%s", out)
	return strings.Contains(string(out), " "+floatingIP+"/24 ")
}

// waitForHolder waits until exactly one node holds the floating address
// (want, when given) and returns it.
func waitForHolder(t *testing.T, pis []*pi, want *pi) *pi {
	t.Helper()
	var holder *pi
	eventually(t, "one node to hold the floating address", func() bool {
		holder = nil
		n := 0
		for _, p := range pis {
			if p.holds(t) {
				holder = p
				n++
			}
		}
		return n == 1 && (want == nil || holder == want)
	})
	return holder
}

// waitForCheck waits until the node's floating-check answer is pass.
func waitForCheck(t *testing.T, p *pi, pass bool) {
	t.Helper()
	eventually(t, "the stratum service's check on "+p.name, func() bool {
		status, _, err := p.consul.Agent().AgentHealthServiceByName(contract.StratumService(coin))
		return err == nil && (status == consulapi.HealthPassing) == pass
	})
}

// testMiner is our CPU miner dialling from the miners' namespace.
type testMiner struct {
	name string
	m    *miner.Miner
	mu   sync.Mutex
	evts []miner.Event
}

func startMiner(t *testing.T, netns, addr, name string) *testMiner {
	t.Helper()
	tm := &testMiner{name: name}
	dial := testenv.NetnsDialer(netns)
	tm.m = miner.New(miner.Options{
		Addr: addr, User: regtestAddress + "." + name, Password: "x", Threads: 1,
		Reconnect: 200 * time.Millisecond,
		Log:       slog.New(slog.NewTextHandler(testWriter{t, "miner " + name}, &slog.HandlerOptions{Level: slog.LevelWarn})),
		Dial:      func(ctx context.Context, addr string) (net.Conn, error) { return dial(ctx, "tcp", addr) },
		OnEvent: func(e miner.Event) {
			tm.mu.Lock()
			tm.evts = append(tm.evts, e)
			tm.mu.Unlock()
		},
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = tm.m.Run(ctx)
	}()
	t.Cleanup(func() { cancel(); <-done })
	return tm
}

func (tm *testMiner) count(kind string) int64 {
	tm.mu.Lock()
	defer tm.mu.Unlock()
	n := int64(0)
	for _, e := range tm.evts {
		if e.Kind == kind {
			n++
		}
	}
	return n
}

func (tm *testMiner) connects() int64    { return tm.m.Stats().Connects }
func (tm *testMiner) disconnects() int64 { return tm.count("disconnected") }

// waitAccepted waits until the node's server has accepted n shares of
// this miner's worker.
func (tm *testMiner) waitAccepted(t *testing.T, p *pi, n int) {
	t.Helper()
	eventually(t, fmt.Sprintf("%d shares of miner %s accepted on %s", n, tm.name, p.name), func() bool {
		return p.sink.sharesOf(tm.name) >= n
	})
}

func (tm *testMiner) waitReconnectedTo(t *testing.T, addr string) {
	t.Helper()
	eventually(t, "miner "+tm.name+" to be sent to "+addr, func() bool {
		tm.mu.Lock()
		defer tm.mu.Unlock()
		for _, e := range tm.evts {
			if e.Kind == "reconnect" && e.Detail == addr {
				return true
			}
		}
		return false
	})
}

// eventually polls cond (addresses on an interface, a process's counts:
// nothing to block on) until it holds; two minutes is a hang.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for !cond() {
		require.True(t, time.Now().Before(deadline), "waited two minutes for %s", what)
		time.Sleep(100 * time.Millisecond)
	}
}

type testWriter struct {
	t    *testing.T
	name string
}

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Logf("%s: %s", w.name, strings.TrimSpace(string(p)))
	return len(p), nil
}
