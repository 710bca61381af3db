package stratum

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/require"

	"github.com/scryptpool/poolmicrocloud/tools/internal/chain"
	"github.com/scryptpool/poolmicrocloud/tools/internal/ledger"
)

// Regtest addresses (base58 P2PKH and bech32) for workers.
const (
	regtestAddress = "mipcBbFg9gMiCh81Kj8tqqdgoZub1ZJRfn"
	otherAddress   = "n3GNqMveyvaPvUbH469vDRadqpJMPc84JA"
)

// fakeSink keeps shares and blocks in memory: a fake of the ledger's
// writer, for protocol tests that need no database.
type fakeSink struct {
	mu     sync.Mutex
	shares []ledger.Share
	blocks []ledger.Block
	full   bool
	// panics stands for a bug that a share reaches.
	panics bool
}

func (f *fakeSink) Add(s ledger.Share) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.panics {
		panic("fake sink: a bug reached by a share")
	}
	if f.full {
		return ledger.ErrBufferFull
	}
	f.shares = append(f.shares, s)
	return nil
}

func (f *fakeSink) AddBlock(b ledger.Block) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.blocks = append(f.blocks, b)
	return nil
}

func (f *fakeSink) setPanics(on bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.panics = on
}

func (f *fakeSink) count() (int, int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.shares), len(f.blocks)
}

// fakeSubmitter accepts every block: a fake of the wallets.
type fakeSubmitter struct {
	mu     sync.Mutex
	blocks []string
}

func (f *fakeSubmitter) SubmitBlock(_ context.Context, block string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.blocks = append(f.blocks, block)
	return "fake-wallet", nil
}

// template is a regtest-like template: any hash below 0x7fffff << 232 is
// a block, so tests can tell shares from blocks by the target they set.
func template(prev string, height int64, bits string) *chain.Template {
	return &chain.Template{
		Version: 0x20000000, PreviousBlockHash: prev, CoinbaseValue: 50_0000_0000,
		MinTime: 1_700_000_000, CurTime: 1_700_000_100, Bits: bits, Height: height,
		Target: fmt.Sprintf("%064x", chain.CompactToTarget(mustHexUint32(bits))),
	}
}

func mustHexUint32(s string) uint32 {
	v, err := chain.ParseHexUint32(s)
	if err != nil {
		panic(err)
	}
	return v
}

const (
	tipA = "0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206"
	tipB = "3a4fc328bf5beb436012afca590b1a11466e22060f9188f13cb7b2c71f2a335e"
	// hardBits makes blocks practically impossible; easyBits makes
	// nearly every hash one.
	hardBits = "1d00ffff"
	easyBits = "207fffff"
)

func work(t testing.TB, prev string, bits string) *chain.Work {
	t.Helper()
	script, err := chain.OutputScript(regtestAddress, "regtest")
	require.NoError(t, err)
	w, err := chain.NewWork(template(prev, 200, bits), script, []byte("/test/"), ExtranonceSize)
	require.NoError(t, err)
	return w
}

type harness struct {
	srv    *Server
	sink   *fakeSink
	blocks *fakeSubmitter
	addr   string
	cancel context.CancelFunc
	done   chan struct{}
}

func testConfig() Config {
	cfg := DefaultConfig()
	cfg.Coin, cfg.Network, cfg.Instance = "ltc", "regtest", "test"
	cfg.Vardiff.Start, cfg.Vardiff.Min = 0.001, 0.0001
	cfg.Log = slog.New(slog.NewTextHandler(testLogWriter{}, nil))
	return cfg
}

type testLogWriter struct{}

func (testLogWriter) Write(p []byte) (int, error) { return len(p), nil }

func startServer(t *testing.T, cfg Config) *harness {
	t.Helper()
	blocks := &fakeSubmitter{}
	h := startServerWith(t, cfg, blocks)
	h.blocks = blocks
	return h
}

// startServerWith is startServer with blocks going to submitter.
func startServerWith(t *testing.T, cfg Config, submitter BlockSubmitter) *harness {
	t.Helper()
	h := &harness{sink: &fakeSink{}, done: make(chan struct{})}
	h.srv = New(cfg, h.sink, submitter, nil)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	h.addr = l.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	go func() {
		defer close(h.done)
		_ = h.srv.Serve(ctx, l)
	}()
	t.Cleanup(func() {
		cancel()
		<-h.done
		shutdown, stop := context.WithTimeout(context.Background(), time.Second)
		defer stop()
		h.srv.Shutdown(shutdown, "")
	})
	return h
}

// client is a hand-driven miner connection.
type client struct {
	t    *testing.T
	conn net.Conn
	r    *bufio.Reader
	id   int
	// notes are notifications read while waiting for an answer.
	notes []map[string]any
}

func dial(t *testing.T, addr string) *client {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	return &client{t: t, conn: conn, r: bufio.NewReader(conn)}
}

func (c *client) send(line string) {
	c.t.Helper()
	_, err := c.conn.Write([]byte(line + "\n"))
	require.NoError(c.t, err)
}

// read returns the next message, or an error when the server closed.
func (c *client) read() (map[string]any, error) {
	_ = c.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	line, err := c.r.ReadBytes('\n')
	if err != nil {
		return nil, err
	}
	var m map[string]any
	require.NoError(c.t, json.Unmarshal(line, &m), "server sent %q", line)
	return m, nil
}

// call sends method(params) and returns its answer, keeping what came
// in between.
func (c *client) call(method string, params ...any) map[string]any {
	c.t.Helper()
	c.id++
	b, _ := json.Marshal(map[string]any{"id": c.id, "method": method, "params": params})
	c.send(string(b))
	return c.answer(float64(c.id))
}

func (c *client) answer(id any) map[string]any {
	c.t.Helper()
	for {
		m, err := c.read()
		require.NoError(c.t, err)
		if m["method"] != nil {
			c.notes = append(c.notes, m)
			continue
		}
		if m["id"] == id {
			return m
		}
	}
}

// notification waits for the next notification of method.
func (c *client) notification(method string) map[string]any {
	c.t.Helper()
	for i, n := range c.notes {
		if n["method"] == method {
			c.notes = append(c.notes[:i], c.notes[i+1:]...)
			return n
		}
	}
	for {
		m, err := c.read()
		require.NoError(c.t, err)
		if m["method"] == method {
			return m
		}
		if m["method"] != nil {
			c.notes = append(c.notes, m)
		}
	}
}

// closed reports whether the server ended the connection.
func (c *client) closed() bool {
	for {
		_, err := c.read()
		if err != nil {
			return !strings.Contains(err.Error(), "timeout")
		}
	}
}

func errorCode(m map[string]any) int {
	e, ok := m["error"].([]any)
	if !ok || len(e) == 0 {
		return 0
	}
	return int(e[0].(float64))
}

func contextWithTimeout(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), d)
}

// gathered is what a collector reports, read through a registry of its
// own: the metrics of each family it holds.
func gathered(t testing.TB, c prometheus.Collector) []*dto.Metric {
	t.Helper()
	reg := prometheus.NewRegistry()
	require.NoError(t, reg.Register(c))
	families, err := reg.Gather()
	require.NoError(t, err)
	var out []*dto.Metric
	for _, family := range families {
		out = append(out, family.GetMetric()...)
	}
	return out
}

// counts reads a counter vector: its value for each label value.
func counts(t testing.TB, vec *prometheus.CounterVec) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	for _, m := range gathered(t, vec) {
		var labels []string
		for _, l := range m.GetLabel() {
			labels = append(labels, l.GetValue())
		}
		out[strings.Join(labels, ",")] = m.GetCounter().GetValue()
	}
	return out
}
