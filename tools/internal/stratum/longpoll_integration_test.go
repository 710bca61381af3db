package stratum

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/scryptpool/poolmicrocloud/tools/internal/chain"
	"github.com/scryptpool/poolmicrocloud/tools/internal/testenv"
)

// Blocks found elsewhere reach miners through the pool's wallet: real
// regtest litecoind, peered over P2P; the real server and Source; a
// stratum client reading mining.notify.

// peeredWallets starts the pool's wallets and, last, the daemon that
// finds blocks "elsewhere", all peered with it.
func peeredWallets(t *testing.T, pool int) (wallets []*testenv.Litecoind, elsewhere *testenv.Litecoind) {
	t.Helper()
	elsewhere = testenv.StartLitecoind(t)
	for range pool {
		w := testenv.StartLitecoind(t)
		w.ConnectTo(t, elsewhere)
		wallets = append(wallets, w)
	}
	return wallets, elsewhere
}

// waitUntil polls cond, an RPC's answer or the Source's state (nothing
// to block on), until it holds; a minute is a hang.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		require.True(t, time.Now().Before(deadline), "waited a minute for %s", what)
		time.Sleep(20 * time.Millisecond)
	}
}

// switchableWallets is a fake of Consul's view of the wallets' health,
// which the test changes.
type switchableWallets struct {
	mu           sync.Mutex
	passing, all []string
	changed      chan struct{}
}

func newSwitchableWallets(passing []string, all ...string) *switchableWallets {
	return &switchableWallets{passing: passing, all: all, changed: make(chan struct{}, 1)}
}

func (w *switchableWallets) Wallets() (passing, all []string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.passing, w.all
}

func (w *switchableWallets) Changed() <-chan struct{} { return w.changed }

func (w *switchableWallets) pass(passing ...string) {
	w.mu.Lock()
	w.passing = passing
	w.mu.Unlock()
	w.changed <- struct{}{}
}

// logRecorder keeps a Source's log lines.
type logRecorder struct {
	mu    sync.Mutex
	lines []string
}

func (l *logRecorder) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, strings.Split(strings.TrimSpace(string(p)), "\n")...)
	return len(p), nil
}

func (l *logRecorder) count(substr string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, line := range l.lines {
		if strings.Contains(line, substr) {
			n++
		}
	}
	return n
}

type sourceOptions struct {
	poll       time.Duration
	noLongPoll bool
	dial       func(string) *chain.Client
}

// runSource serves work from wallets to a real server and returns it with
// a subscribed client that holds the first job; Run must end when the
// test does, long poll or not.
func runSource(t *testing.T, finder WalletFinder, creds *testenv.Litecoind, o sourceOptions) (*Source, *workClient, *logRecorder) {
	t.Helper()
	h := startServer(t, testConfig())
	script, err := chain.OutputScript(regtestAddress, "regtest")
	require.NoError(t, err)
	logs := &logRecorder{}
	dial := o.dial
	if dial == nil {
		dial = func(hostport string) *chain.Client { return chain.NewClient(hostport, creds.User, creds.Password) }
	}
	src := &Source{
		Server: h.srv, Wallets: finder, Dial: dial, PayoutScript: script, CoinbaseTag: []byte("/lp/"),
		// Nothing but the long poll (or, without it, the Poll) may bring
		// a new block: the refresh never comes during a test.
		Poll: o.poll, Refresh: time.Hour, RPCTimeout: 2 * time.Second, Avoid: time.Minute,
		NoLongPoll: o.noLongPoll,
		Log:        slog.New(slog.NewTextHandler(logs, nil)),
	}
	ctx, stop := context.WithCancel(context.Background())
	ran := make(chan struct{})
	go func() {
		defer close(ran)
		_ = src.Run(ctx)
	}()
	t.Cleanup(func() {
		stop()
		select {
		case <-ran:
		case <-time.After(30 * time.Second):
			t.Error("Source.Run did not end with its context: a long poll outlived it")
		}
	})
	c, _ := subscribed(t, h, regtestAddress+".lp")
	first := c.notification("mining.notify")["params"].([]any)
	return src, &workClient{client: c, seen: map[string]bool{first[0].(string): true}}, logs
}

// workClient is a subscribed client that remembers the jobs it was sent.
type workClient struct {
	*client
	seen map[string]bool
}

// cleanWorkOn waits for a new job with clean jobs and returns the block
// it builds on, in display order. A job sent again (after a difficulty
// change) is not new work.
func (c *workClient) cleanWorkOn(t *testing.T) string {
	t.Helper()
	for {
		params := c.notification("mining.notify")["params"].([]any)
		id := params[0].(string)
		if clean, _ := params[8].(bool); !clean || c.seen[id] {
			continue
		}
		c.seen[id] = true
		// Stratum sends the header's previous-block hash with each
		// 32-bit word's bytes reversed; display order reverses it all.
		b, err := hex.DecodeString(params[1].(string))
		require.NoError(t, err)
		require.Len(t, b, 32)
		for i := 0; i < 32; i += 4 {
			slices.Reverse(b[i : i+4])
		}
		slices.Reverse(b)
		return hex.EncodeToString(b)
	}
}

func mineElsewhere(t *testing.T, l *testenv.Litecoind) string {
	t.Helper()
	ctx := context.Background()
	addr, err := l.Client().NewAddress(ctx)
	require.NoError(t, err)
	hashes, err := l.Client().GenerateToAddress(ctx, 1, addr)
	require.NoError(t, err)
	return hashes[0]
}

// activeTemplateCalls is how many getblocktemplate calls the daemon is
// working on now (a long poll waits inside one).
func activeTemplateCalls(t *testing.T, l *testenv.Litecoind) int {
	t.Helper()
	var info struct {
		Active []struct {
			Method string `json:"method"`
		} `json:"active_commands"`
	}
	require.NoError(t, l.Client().Call(context.Background(), "getrpcinfo", nil, &info))
	n := 0
	for _, c := range info.Active {
		if c.Method == "getblocktemplate" {
			n++
		}
	}
	return n
}

func (s *Source) longPollInFlight() *longPoll {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lp.inFlight
}

// With the Poll an hour, only the long poll can bring a block found
// elsewhere to the miner; it does, block after block.
func TestLongPollBringsNewWorkOnBlockFoundElsewhere(t *testing.T) {
	testenv.Integration(t)
	wallets, elsewhere := peeredWallets(t, 1)
	pool := wallets[0]
	_, c, _ := runSource(t, StaticWallets{pool.RPCAddr}, pool, sourceOptions{poll: time.Hour})
	for i := range 3 {
		waitUntil(t, "the long poll to wait in the wallet", func() bool { return activeTemplateCalls(t, pool) == 1 })
		block := mineElsewhere(t, elsewhere)
		require.Equal(t, block, c.cleanWorkOn(t), "block %d: clean work builds on the block found elsewhere", i+1)
	}
}

// A switch to another wallet ends the long poll on the old one at once
// and long-polls the new one. The old wallet's daemon keeps the call's
// thread until its next block, whoever left: why the wallet job runs more
// RPC threads.
func TestLongPollFollowsWalletSwitch(t *testing.T) {
	testenv.Integration(t)
	wallets, elsewhere := peeredWallets(t, 2)
	a, b := wallets[0], wallets[1]
	finder := newSwitchableWallets([]string{a.RPCAddr}, a.RPCAddr, b.RPCAddr)
	src, c, _ := runSource(t, finder, a, sourceOptions{poll: time.Hour})
	waitUntil(t, "the long poll to wait in wallet a", func() bool { return activeTemplateCalls(t, a) == 1 })
	onA := src.longPollInFlight()
	require.NotNil(t, onA)
	require.Equal(t, a.RPCAddr, onA.wallet)

	finder.pass(b.RPCAddr)
	select {
	case <-onA.done:
	case <-time.After(30 * time.Second):
		t.Fatal("the long poll on wallet a did not end when the Source left it")
	}
	waitUntil(t, "the long poll to wait in wallet b", func() bool { return activeTemplateCalls(t, b) == 1 })
	assert.Equal(t, 1, activeTemplateCalls(t, a), "litecoind holds a left long poll's thread until its tip moves")
	assert.Equal(t, b.RPCAddr, src.Current())

	block := mineElsewhere(t, elsewhere)
	require.Equal(t, block, c.cleanWorkOn(t), "clean work builds on the block found elsewhere")
	job := src.Server.CurrentJob()
	require.NotNil(t, job)
	assert.Equal(t, b.RPCAddr, job.Wallet, "the new block came from the wallet switched to")
	waitUntil(t, "wallet a to free the left long poll's thread at its new tip", func() bool { return activeTemplateCalls(t, a) == 0 })
}

// Without long polling the Poll alone brings new blocks, as before.
func TestSourceNewWorkWithoutLongPoll(t *testing.T) {
	testenv.Integration(t)
	wallets, elsewhere := peeredWallets(t, 1)
	pool := wallets[0]
	src, c, _ := runSource(t, StaticWallets{pool.RPCAddr}, pool, sourceOptions{poll: 50 * time.Millisecond, noLongPoll: true})
	block := mineElsewhere(t, elsewhere)
	require.Equal(t, block, c.cleanWorkOn(t), "clean work builds on the block found elsewhere")
	assert.Nil(t, src.longPollInFlight())
	assert.Equal(t, 0, activeTemplateCalls(t, pool), "no long poll holds a thread of the wallet")
}

// cutLongPolls stands in for a network path that cuts long requests (a
// proxy's or firewall's idle timeout): litecoind itself has no way to
// refuse long polls alone (rpcwhitelist names methods, and
// -rpcservertimeout does not end a call in progress). It cuts the first
// n long polls and lets the rest through.
type cutLongPolls struct {
	next http.RoundTripper
	mu   sync.Mutex
	n    int
	cut  int
}

func (c *cutLongPolls) RoundTrip(req *http.Request) (*http.Response, error) {
	body, err := io.ReadAll(req.Body)
	if err != nil {
		return nil, err
	}
	req.Body.Close()
	if bytes.Contains(body, []byte(`"longpollid"`)) {
		c.mu.Lock()
		cut := c.cut < c.n
		if cut {
			c.cut++
		}
		c.mu.Unlock()
		if cut {
			return nil, errors.New("connection cut by the test's path to the wallet")
		}
	}
	req.Body = io.NopCloser(bytes.NewReader(body))
	return c.next.RoundTrip(req)
}

func (c *cutLongPolls) cuts() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cut
}

// Long polls that fail are logged once and tried again later, while the
// Poll keeps bringing new blocks; once one works, that is logged too.
func TestLongPollFailuresFallBackToPoll(t *testing.T) {
	testenv.Integration(t)
	wallets, elsewhere := peeredWallets(t, 1)
	pool := wallets[0]
	path := &cutLongPolls{next: http.DefaultTransport, n: 2}
	dial := func(hostport string) *chain.Client {
		cl := chain.NewClient(hostport, pool.User, pool.Password)
		cl.HTTP.Transport = path
		return cl
	}
	_, c, logs := runSource(t, StaticWallets{pool.RPCAddr}, pool, sourceOptions{poll: 50 * time.Millisecond, dial: dial})

	waitUntil(t, "a long poll to be tried again after a cut", func() bool { return path.cuts() == 2 })
	block := mineElsewhere(t, elsewhere)
	require.Equal(t, block, c.cleanWorkOn(t), "the Poll brings the block found elsewhere")
	assert.Equal(t, 1, logs.count("long poll failed"), "a run of failures is logged once")

	waitUntil(t, "a long poll to wait in the wallet", func() bool { return activeTemplateCalls(t, pool) == 1 })
	block = mineElsewhere(t, elsewhere)
	require.Equal(t, block, c.cleanWorkOn(t))
	waitUntil(t, "the long poll's answer", func() bool { return logs.count("long poll works again") == 1 })
}
