package walletprobe

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/scryptpool/poolmicrocloud/tools/internal/chain"
	"github.com/scryptpool/poolmicrocloud/tools/internal/testenv"
)

func newProbe(rpc *chain.Client, self, selfP2P string, d Discovery) *Probe {
	return &Probe{
		RPC: rpc, Self: self, SelfP2P: selfP2P, Discovery: d, Wallet: "pool",
		Limits:     Limits{Hung: 200 * time.Millisecond, MaxLagBlocks: 2, MaxTipAge: 30 * time.Minute},
		Poll:       time.Second,
		RPCTimeout: 400 * time.Millisecond,
		PeerEvery:  1,
		Log:        io.Discard,
	}
}

func get(t *testing.T, h http.Handler, path string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	return rec.Code, rec.Body.String()
}

func mine(t *testing.T, l *testenv.Litecoind, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := l.Client()
	addr, err := c.NewAddress(ctx)
	require.NoError(t, err)
	_, err = c.GenerateToAddress(ctx, n, addr)
	require.NoError(t, err)
}

// waitFor polls the probe until its sync check reaches status.
func waitFor(t *testing.T, p *Probe, status string) Verdict {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		p.poll(ctx, true)
		if p.Discovery != nil {
			p.compare(ctx)
		}
		v := p.Snapshot().Sync(time.Now(), p.Limits)
		if v.Status == status {
			return v
		}
		select {
		case <-ctx.Done():
			require.Failf(t, "probe never reached "+status, "last: %s: %s", v.Status, v.Reason)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// roundWatch counts the comparisons with the siblings that have begun: a
// round begins by listing the coin's wallets.
type roundWatch struct {
	Discovery
	rounds atomic.Int64
}

func (w *roundWatch) Wallets(ctx context.Context) ([]string, error) {
	w.rounds.Add(1)
	return w.Discovery.Wallets(ctx)
}

// await blocks until cond holds, and fails the test if it never does.
func await(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(20 * time.Second)
	defer deadline.Stop()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-deadline.C:
			require.FailNow(t, "never happened: "+what)
		case <-tick.C:
		}
	}
}

// waitStopped blocks until every thread of the process has stopped, so
// that no request sent afterwards is answered before SIGCONT.
func waitStopped(t *testing.T, pid int) {
	t.Helper()
	await(t, fmt.Sprintf("process %d stops", pid), func() bool {
		tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/stat", pid))
		require.NoError(t, err)
		require.NotEmpty(t, tasks)
		for _, task := range tasks {
			stat, err := os.ReadFile(task)
			if err != nil {
				return false // a thread that just ended
			}
			// The state follows the command name, in parentheses.
			i := bytes.LastIndexByte(stat, ')')
			if i < 0 || i+2 >= len(stat) || stat[i+2] != 'T' {
				return false
			}
		}
		return true
	})
}

// Two real regtest wallets, A probed, B its sibling instance.
func TestProbeAgainstLitecoind(t *testing.T) {
	if testing.Short() {
		t.Skip("starts litecoind")
	}
	a, b := testenv.StartLitecoind(t), testenv.StartLitecoind(t)
	d := StaticDiscovery{RPC: []string{a.RPCAddr, b.RPCAddr}, P2P: []string{a.P2PAddr, b.P2PAddr}}
	p := newProbe(a.Client(), a.RPCAddr, a.P2PAddr, d)
	h := p.Handler()

	t.Run("synced, and peering with its sibling", func(t *testing.T) {
		mine(t, b, 1)
		v := waitFor(t, p, Passing)
		assert.Contains(t, v.Reason, "synced at height 1")
		code, body := get(t, h, "/v1/sync")
		assert.Equal(t, 200, code, body)
		assert.Equal(t, 1, p.Snapshot().Others)
	})

	// Through Run, which gives the comparison with the siblings a loop of
	// its own. A call to the frozen sibling may last longer than the test
	// (RPCTimeout): had it held up the wallet's own polls, no answer would
	// come after the comparison began.
	t.Run("a hung sibling does not make this wallet look hung", func(t *testing.T) {
		require.NoError(t, b.Cmd.Process.Signal(syscall.SIGSTOP))
		defer func() { _ = b.Cmd.Process.Signal(syscall.SIGCONT) }()
		waitStopped(t, b.Cmd.Process.Pid)

		watch := &roundWatch{Discovery: StaticDiscovery{RPC: []string{a.RPCAddr, b.RPCAddr}}}
		q := newProbe(a.Client(), a.RPCAddr, a.P2PAddr, watch)
		q.Poll, q.RPCTimeout = 10*time.Millisecond, time.Minute
		q.Limits.Hung = 3 * time.Second // --hung-after's default
		h := q.Handler()
		ctx, cancel := context.WithCancel(context.Background())
		ran := make(chan struct{})
		go func() { defer close(ran); q.Run(ctx) }()
		defer func() { cancel(); <-ran }()

		await(t, "a comparison with the siblings begins", func() bool { return watch.rounds.Load() > 0 })
		since, last := time.Now(), time.Time{}
		for i := 0; i < 3; i++ {
			await(t, "the wallet answers again while the comparison waits for the frozen sibling", func() bool {
				at := q.Snapshot().AnsweredAt
				fresh := at.After(since) && at.After(last)
				if fresh {
					last = at
				}
				return fresh
			})
			code, body := get(t, h, "/v1/live")
			require.Equal(t, 200, code, body)
		}
		require.Equal(t, int64(1), watch.rounds.Load(), "the first comparison is still waiting for the frozen sibling")

		require.NoError(t, b.Cmd.Process.Signal(syscall.SIGCONT))
		await(t, "the waiting comparison gets the thawed sibling's answer", func() bool { return q.Snapshot().Others == 1 })
	})

	t.Run("cut off while the sibling mines: warning, then critical, no restart needed", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		require.NoError(t, a.Client().SetNetworkActive(ctx, false))
		mine(t, b, 1)
		v := waitFor(t, p, Warning)
		assert.Contains(t, v.Reason, "lagging 1 block(s)")
		code, _ := get(t, h, "/v1/sync")
		assert.Equal(t, 429, code)
		mine(t, b, 2)
		v = waitFor(t, p, Critical)
		assert.Contains(t, v.Reason, "behind by 3 blocks (max_lag_blocks 2)")
		assert.Contains(t, v.Reason, "instance "+b.RPCAddr)
		code, _ = get(t, h, "/v1/live")
		assert.Equal(t, 200, code, "a lagging wallet is alive: it must not be restarted")

		require.NoError(t, a.Client().SetNetworkActive(ctx, true))
		waitFor(t, p, Passing)
	})

	t.Run("hung: critical, and the probe still answers at once", func(t *testing.T) {
		require.NoError(t, a.Cmd.Process.Signal(syscall.SIGSTOP))
		defer func() { _ = a.Cmd.Process.Signal(syscall.SIGCONT) }()
		// A thread of the daemon's still running answers a poll sent
		// before it stops (a warm run saw "passing" here).
		waitStopped(t, a.Cmd.Process.Pid)
		p.poll(context.Background(), false) // times out
		code, body := get(t, h, "/v1/live")
		assert.Equal(t, 503, code)
		assert.Contains(t, body, "hung: no RPC answer")
		require.NoError(t, a.Cmd.Process.Signal(syscall.SIGCONT))
		waitFor(t, p, Passing)
	})

	t.Run("wrong credentials: alive but unusable", func(t *testing.T) {
		wrong := chain.NewClient(a.RPCAddr, a.User, "not-the-password")
		q := newProbe(wrong, a.RPCAddr, a.P2PAddr, nil)
		q.poll(context.Background(), false)
		s := q.Snapshot()
		assert.Equal(t, Passing, s.Live(time.Now(), q.Limits).Status)
		v := s.Sync(time.Now(), q.Limits)
		assert.Equal(t, Critical, v.Status)
		assert.Contains(t, v.Reason, "credentials refused")
	})

	t.Run("crashed: unreachable", func(t *testing.T) {
		require.NoError(t, a.Cmd.Process.Kill())
		_ = a.Cmd.Wait()
		time.Sleep(p.Limits.Hung) // the last answer must age past the limit
		p.poll(context.Background(), false)
		code, body := get(t, h, "/v1/live")
		assert.Equal(t, 503, code)
		assert.Contains(t, body, "unreachable")
	})
}

// A fresh wallet that began its headers sync with a peer that has nothing
// to give waits 15 minutes before it asks another; the probe drops that
// peer so it syncs from the instance that is ahead.
func TestProbeUnstallsASync(t *testing.T) {
	if testing.Short() {
		t.Skip("starts litecoind")
	}
	ahead, fresh, empty := testenv.StartLitecoind(t), testenv.StartLitecoind(t), testenv.StartLitecoind(t)
	mine(t, ahead, 5)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := fresh.Client()
	// The empty peer first: the fresh wallet asks it for headers, gets
	// none, and then does not ask the wallet that is ahead.
	require.NoError(t, c.Call(ctx, "addnode", []any{empty.P2PAddr, "onetry"}, nil))
	waitPeer(t, ctx, c, empty.P2PAddr)
	require.NoError(t, c.Call(ctx, "addnode", []any{ahead.P2PAddr, "onetry"}, nil))
	waitPeer(t, ctx, c, ahead.P2PAddr)

	d := StaticDiscovery{RPC: []string{ahead.RPCAddr, fresh.RPCAddr}, P2P: []string{ahead.P2PAddr, fresh.P2PAddr}}
	p := newProbe(c, fresh.RPCAddr, fresh.P2PAddr, d)
	v := waitFor(t, p, Passing)
	assert.Contains(t, v.Reason, "synced at height 5")
	peers, err := c.Peers(ctx)
	require.NoError(t, err)
	for _, peer := range peers {
		assert.NotEqual(t, empty.P2PAddr, peer.Addr, "the peer with nothing to give was dropped")
	}
}

// waitPeer waits until the daemon has finished its handshake with addr.
func waitPeer(t *testing.T, ctx context.Context, c *chain.Client, addr string) {
	t.Helper()
	for {
		var peers []struct {
			Addr    string `json:"addr"`
			Version int    `json:"version"`
		}
		require.NoError(t, c.Call(ctx, "getpeerinfo", nil, &peers))
		for _, p := range peers {
			if p.Addr == addr && p.Version > 0 {
				return
			}
		}
		select {
		case <-ctx.Done():
			require.Failf(t, "no handshake", "with %s", addr)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// A node still in initial block download is not usable.
func TestProbeInitialBlockDownload(t *testing.T) {
	if testing.Short() {
		t.Skip("starts litecoind")
	}
	// Without -maxtipage a regtest node whose tip is the 2011 genesis block
	// reports initial block download.
	l := testenv.StartLitecoind(t, "-maxtipage=60")
	p := newProbe(l.Client(), l.RPCAddr, l.P2PAddr, nil)
	v := waitFor(t, p, Critical)
	assert.Contains(t, v.Reason, "initial block download")
}

// garbageDaemon is a fake: no real daemon answers like this.
func TestProbeGarbage(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("<html>captive portal</html>"))
	}))
	defer srv.Close()
	p := newProbe(chain.NewClient(strings.TrimPrefix(srv.URL, "http://"), "u", "p"), "", "", nil)
	p.poll(context.Background(), false)
	code, body := get(t, p.Handler(), "/v1/sync")
	assert.Equal(t, 503, code)
	assert.Contains(t, body, "answers garbage")
	assert.Contains(t, body, "captive portal")
}
