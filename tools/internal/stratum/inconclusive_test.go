package stratum

import (
	"bytes"
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/scryptpool/poolmicrocloud/tools/internal/chain"
	"github.com/scryptpool/poolmicrocloud/tools/internal/testenv"
)

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// A block solved on a tip that moved before it reached the wallet is
// answered "inconclusive" by a real litecoind: valid, kept off the best
// chain. It is recorded as found (the block tracker decides on evidence)
// and logged as what it is, not as a rejected block.
func TestBlockAfterTheTipMovedIsInconclusive(t *testing.T) {
	testenv.Integration(t)
	ctx := context.Background()
	// A regtest daemon serves templates only with a peer.
	a, b := testenv.StartLitecoind(t), testenv.StartLitecoind(t)
	a.ConnectTo(t, b)
	wallet := a.Client()
	addr, err := wallet.NewAddress(ctx)
	require.NoError(t, err)
	_, err = wallet.GenerateToAddress(ctx, 101, addr)
	require.NoError(t, err)
	tmpl, err := wallet.BlockTemplate(ctx, "")
	require.NoError(t, err)
	script, err := chain.OutputScript(addr, "regtest")
	require.NoError(t, err)
	w, err := chain.NewWork(tmpl, script, []byte("/test/"), ExtranonceSize)
	require.NoError(t, err)

	cfg := testConfig()
	var logs lockedBuffer
	cfg.Log = slog.New(slog.NewTextHandler(&logs, nil))
	src := &Source{
		Wallets: StaticWallets{a.RPCAddr}, Log: cfg.Log, RPCTimeout: 10 * time.Second,
		Dial: func(hostport string) *chain.Client { return chain.NewClient(hostport, a.User, a.Password) },
	}
	h := startServerWith(t, cfg, src)
	src.Server = h.srv
	j := h.srv.Publish(w, a.RPCAddr, true)
	c, en1 := subscribed(t, h, regtestAddress+".rig")
	share := withWorker(solve(t, j, en1, 1, 0.001), regtestAddress+".rig")

	// Another block takes the height first.
	_, err = wallet.GenerateToAddress(ctx, 1, addr)
	require.NoError(t, err)
	res := c.call("mining.submit", share...)
	require.Equal(t, true, res["result"], "the share itself is good: %v", res["error"])
	require.Eventually(t, func() bool { _, blocks := h.sink.count(); return blocks == 1 }, time.Minute, 10*time.Millisecond,
		"the block is recorded; log:\n%s", logs.String())
	assert.Equal(t, tmpl.Height, h.sink.blocks[0].Height)
	assert.Equal(t, a.RPCAddr, h.sink.blocks[0].Wallet)
	assert.Contains(t, logs.String(), "submitblock: inconclusive")
	assert.NotContains(t, logs.String(), "block rejected")
	var hash string
	require.NoError(t, wallet.Call(ctx, "getbestblockhash", nil, &hash))
	assert.NotEqual(t, h.sink.blocks[0].Hash, hash, "the block is not the tip")
}
