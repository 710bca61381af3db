package stratum

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/scryptpool/poolmicrocloud/tools/internal/chain"
)

// subscribed is a client that subscribed and authorized as worker.
func subscribed(t *testing.T, h *harness, worker string) (*client, string) {
	t.Helper()
	c := dial(t, h.addr)
	res := c.call("mining.subscribe", "test-miner/1.0")
	require.Nil(t, res["error"])
	parts := res["result"].([]any)
	require.Len(t, parts, 3)
	extranonce1 := parts[1].(string)
	assert.Equal(t, float64(Extranonce2Size), parts[2])
	auth := c.call("mining.authorize", worker, "x")
	require.Equal(t, true, auth["result"], "authorize %s: %v", worker, auth["error"])
	return c, extranonce1
}

// solve finds a nonce for job meeting difficulty (and, with block, the
// network target); it returns submit's parameters.
func solve(t *testing.T, j *Job, extranonce1 string, extranonce2 uint32, difficulty float64) []any {
	t.Helper()
	en1, err := hex.DecodeString(extranonce1)
	require.NoError(t, err)
	en2 := fmt.Sprintf("%08x", extranonce2)
	en2b, _ := hex.DecodeString(en2)
	target := chain.TargetForDifficulty(difficulty)
	for nonce := uint32(0); nonce < 1<<20; nonce++ {
		header := j.Work.Header(append(append([]byte{}, en1...), en2b...), j.Work.CurTime, nonce, j.Work.Version)
		if chain.HashValue(chain.ScryptHash(header)).Cmp(target) <= 0 {
			return []any{"", j.ID, en2, fmt.Sprintf("%08x", j.Work.CurTime), fmt.Sprintf("%08x", nonce)}
		}
	}
	t.Fatal("no nonce found")
	return nil
}

// lowNonce finds a nonce whose hash does NOT meet difficulty.
func lowNonce(t *testing.T, j *Job, extranonce1 string, difficulty float64) []any {
	t.Helper()
	return lowShare(t, j, extranonce1, 9, difficulty)
}

// lowShare is lowNonce with a given extranonce2, for many distinct
// shares that all fall short.
func lowShare(t *testing.T, j *Job, extranonce1 string, extranonce2 uint32, difficulty float64) []any {
	t.Helper()
	en1, _ := hex.DecodeString(extranonce1)
	en2 := fmt.Sprintf("%08x", extranonce2)
	en2b, _ := hex.DecodeString(en2)
	target := chain.TargetForDifficulty(difficulty)
	for nonce := uint32(0); ; nonce++ {
		header := j.Work.Header(append(append([]byte{}, en1...), en2b...), j.Work.CurTime, nonce, j.Work.Version)
		if chain.HashValue(chain.ScryptHash(header)).Cmp(target) > 0 {
			return []any{"", j.ID, en2, fmt.Sprintf("%08x", j.Work.CurTime), fmt.Sprintf("%08x", nonce)}
		}
	}
}

func withWorker(params []any, worker string) []any {
	params[0] = worker
	return params
}

// The handshake as miners expect it: the subscribe answer, then the
// difficulty and the current job, right after subscribing.
func TestSubscribeSendsDifficultyAndWork(t *testing.T) {
	h := startServer(t, testConfig())
	j := h.srv.Publish(work(t, tipA, hardBits), "w1", true)
	c := dial(t, h.addr)
	res := c.call("mining.subscribe")
	parts := res["result"].([]any)
	subs := parts[0].([]any)
	assert.Equal(t, "mining.set_difficulty", subs[0].([]any)[0])
	assert.Equal(t, "mining.notify", subs[1].([]any)[0])
	assert.Len(t, parts[1].(string), 2*Extranonce1Size)

	diff := c.notification("mining.set_difficulty")
	assert.Equal(t, []any{0.001}, diff["params"])
	notify := c.notification("mining.notify")
	params := notify["params"].([]any)
	require.Len(t, params, 9)
	assert.Equal(t, j.ID, params[0])
	assert.Equal(t, "20000000", params[5], "version, big-endian hex")
	assert.Equal(t, hardBits, params[6])
	assert.Equal(t, true, params[8], "clean_jobs")
	// prevhash: the header's bytes with each 32-bit word reversed.
	prev := params[1].(string)
	assert.Equal(t, "466e2206590b1a116012afcabf5beb433a4fc3281f2a335e3cb7b2c70f9188f1", prev)

	// A second subscription gets another extranonce1.
	c2 := dial(t, h.addr)
	res2 := c2.call("mining.subscribe")
	assert.NotEqual(t, parts[1], res2["result"].([]any)[1])
}

func TestSharesAnsweredWithStandardCodes(t *testing.T) {
	cfg := testConfig()
	cfg.MaxBadMessages = 1000
	h := startServer(t, cfg)
	j := h.srv.Publish(work(t, tipA, hardBits), "w1", true)

	// Submit before subscribe: 25; before authorize: 24.
	early := dial(t, h.addr)
	assert.Equal(t, CodeNotSubscribed, errorCode(early.call("mining.submit", regtestAddress, j.ID, "00000000", "00000000", "00000000")))
	early.call("mining.subscribe")
	assert.Equal(t, CodeUnauthorized, errorCode(early.call("mining.submit", regtestAddress, j.ID, "00000000", "00000000", "00000000")))

	worker := regtestAddress + ".rig1"
	c, en1 := subscribed(t, h, worker)
	good := withWorker(solve(t, j, en1, 1, 0.001), worker)
	res := c.call("mining.submit", good...)
	assert.Equal(t, true, res["result"], "a valid share: %v", res["error"])
	assert.Nil(t, res["error"])

	cases := []struct {
		name   string
		params []any
		code   int
	}{
		{"duplicate", good, CodeDuplicate},
		{"job not found", withWorker([]any{"", "ffff", "00000001", good[3], good[4]}, worker), CodeJobNotFound},
		{"low difficulty", withWorker(lowNonce(t, j, en1, 0.001), worker), CodeLowDifficulty},
		{"unauthorized worker", withWorker(solve(t, j, en1, 2, 0.001), otherAddress), CodeUnauthorized},
		{"extranonce2 too short", withWorker([]any{"", j.ID, "0001", good[3], good[4]}, worker), CodeOther},
		{"ntime not hex", withWorker([]any{"", j.ID, "00000003", "zzzzzzzz", good[4]}, worker), CodeOther},
		{"ntime far ahead", withWorker([]any{"", j.ID, "00000003", "ffffffff", good[4]}, worker), CodeOther},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := c.call("mining.submit", tc.params...)
			assert.Nil(t, res["result"])
			assert.Equal(t, tc.code, errorCode(res), "answer %v", res)
		})
	}
	t.Run("wrong parameter types", func(t *testing.T) {
		res := c.call("mining.submit", worker, 12, "00000001", good[3], good[4])
		assert.Equal(t, CodeOther, errorCode(res))
		assert.Contains(t, fmt.Sprint(res["error"]), "parameter 2 (job id) must be a string")
	})

	// A new block makes the old job stale (21), and the share counted
	// once is the only one recorded.
	h.srv.Publish(work(t, tipB, hardBits), "w1", true)
	stale := c.call("mining.submit", withWorker(solve(t, j, en1, 4, 0.001), worker)...)
	assert.Equal(t, CodeJobNotFound, errorCode(stale))
	assert.Contains(t, fmt.Sprint(stale["error"]), "stale")
	shares, _ := h.sink.count()
	assert.Equal(t, 1, shares)
	s := h.sink.shares[0]
	assert.Equal(t, regtestAddress, s.Address)
	assert.Equal(t, "rig1", s.Worker)
	assert.Equal(t, 0.001, s.Difficulty)
	assert.Equal(t, int64(200), s.Height)
}

// Messages a miner sends in one go (cgminer pipelines its submits) get
// every answer, in order, and the last answer is not held back waiting
// for more input; a message split over two writes is answered too.
func TestPipelinedMessagesAnsweredInOrder(t *testing.T) {
	h := startServer(t, testConfig())
	j := h.srv.Publish(work(t, tipA, hardBits), "w1", true)
	worker := regtestAddress + ".rig1"
	c, en1 := subscribed(t, h, worker)
	good := withWorker(solve(t, j, en1, 1, 0.001), worker)
	other := withWorker(solve(t, j, en1, 2, 0.001), worker)
	line := func(id int, params []any) string {
		b, err := json.Marshal(map[string]any{"id": id, "method": "mining.submit", "params": params})
		require.NoError(t, err)
		return string(b) + "\n"
	}
	batch := line(101, good) + line(102, good) + "\n" +
		line(103, withWorker([]any{"", "ffff", "00000001", good[3], good[4]}, worker)) + line(104, other)
	_, err := c.conn.Write([]byte(batch))
	require.NoError(t, err)
	want := []struct {
		id   float64
		code int
	}{{101, 0}, {102, CodeDuplicate}, {103, CodeJobNotFound}, {104, 0}}
	for _, w := range want {
		m, err := c.read()
		require.NoError(t, err, "answer %v", w.id)
		assert.Equal(t, w.id, m["id"], "answers come in the order asked")
		assert.Equal(t, w.code, errorCode(m), "answer %v: %v", w.id, m)
	}

	split := line(105, withWorker(solve(t, j, en1, 3, 0.001), worker))
	_, err = c.conn.Write([]byte(split[:20]))
	require.NoError(t, err)
	_, err = c.conn.Write([]byte(split[20:]))
	require.NoError(t, err)
	m, err := c.read()
	require.NoError(t, err)
	assert.Equal(t, float64(105), m["id"])
	assert.Equal(t, true, m["result"], "%v", m)
	shares, _ := h.sink.count()
	assert.Equal(t, 3, shares)
}

// Authorize refuses what is not a payout address of the coin's network.
func TestAuthorizeWantsAPayoutAddress(t *testing.T) {
	h := startServer(t, testConfig())
	c := dial(t, h.addr)
	c.call("mining.subscribe")
	c.notification("mining.set_difficulty") // the starting difficulty
	for _, user := range []string{"", "not-an-address", "LcHKx6yh7gGJZvB2LFbMsuAoFHosfmRcQb", regtestAddress[:20] + "x" + regtestAddress[21:]} {
		res := c.call("mining.authorize", user, "x")
		assert.Equal(t, CodeUnauthorized, errorCode(res), "user %q: %v", user, res)
	}
	res := c.call("mining.authorize", regtestAddress, "d=0.5")
	assert.Equal(t, true, res["result"])
	assert.Equal(t, []any{0.5}, c.notification("mining.set_difficulty")["params"], "d= in the password")
	res = c.call("mining.suggest_difficulty", 0.25)
	assert.Equal(t, true, res["result"])
	assert.Equal(t, []any{0.25}, c.notification("mining.set_difficulty")["params"])
	assert.Equal(t, true, c.call("mining.extranonce.subscribe")["result"])
}

// Each kind of bad input gets its answer or a disconnect, and another
// miner on the same server keeps mining throughout.
func TestBadInputNeverDisturbsOtherMiners(t *testing.T) {
	cfg := testConfig()
	cfg.HandshakeTimeout = 300 * time.Millisecond
	cfg.LineTimeout = 300 * time.Millisecond
	cfg.MaxBadMessages = 3
	// Every kind of bad input comes from one address here; that enough
	// of them ban it is TestMisbehavingPeerIsBanned's concern.
	cfg.BanAfterDrops = 0
	h := startServer(t, cfg)
	j := h.srv.Publish(work(t, tipA, hardBits), "w1", true)
	good, en1 := subscribed(t, h, regtestAddress)
	shareNo := uint32(100)
	mineOne := func() {
		t.Helper()
		shareNo++
		res := good.call("mining.submit", withWorker(solve(t, j, en1, shareNo, 0.001), regtestAddress)...)
		require.Equal(t, true, res["result"], "the well-behaved miner's share: %v", res["error"])
	}
	mineOne()

	t.Run("malformed JSON is answered, then too many bad messages disconnect", func(t *testing.T) {
		c := dial(t, h.addr)
		for i := 0; i < 3; i++ {
			c.send(`{"id": 1, "method": "mining.subscribe", "params": [`)
			m, err := c.read()
			require.NoError(t, err)
			assert.Equal(t, CodeOther, errorCode(m))
			assert.Contains(t, fmt.Sprint(m["error"]), "malformed JSON")
		}
		c.send(`nonsense`)
		_, _ = c.read()
		assert.True(t, c.closed())
	})
	mineOne()
	t.Run("unknown method and wrong types are answered", func(t *testing.T) {
		c := dial(t, h.addr)
		assert.Contains(t, fmt.Sprint(c.call("mining.frobnicate")["error"]), "unknown method")
		assert.Contains(t, fmt.Sprint(c.call("mining.authorize", 42)["error"]), "must be a string")
		c.send(`{"id": {"x": 1}, "method": "mining.subscribe"}`)
		m, err := c.read()
		require.NoError(t, err)
		assert.Contains(t, fmt.Sprint(m["error"]), "id must be")
		c.send(`{"id": 7, "method": "mining.subscribe", "params": {"a": 1}}`)
		m, err = c.read()
		require.NoError(t, err)
		assert.Equal(t, float64(7), m["id"])
		assert.Contains(t, fmt.Sprint(m["error"]), "must be an array")
	})
	mineOne()
	t.Run("a line over the limit is cut off", func(t *testing.T) {
		c := dial(t, h.addr)
		_, _ = c.conn.Write([]byte(`{"id":1,"method":"mining.subscribe","params":["` + strings.Repeat("a", 2*MaxLineBytes) + `"]}` + "\n"))
		assert.True(t, c.closed())
	})
	mineOne()
	t.Run("no handshake in time is cut off", func(t *testing.T) {
		c := dial(t, h.addr)
		assert.True(t, c.closed())
	})
	t.Run("slowloris: a message trickling in is cut off", func(t *testing.T) {
		c := dial(t, h.addr)
		c.call("mining.subscribe")
		c.call("mining.authorize", regtestAddress, "x")
		_, _ = c.conn.Write([]byte(`{"id":3,`))
		assert.True(t, c.closed())
	})
	mineOne()
	mineOne()
	assert.Positive(t, h.srv.Connections(), "the good miner is still connected")
}

// A full share buffer (the database away too long) is said plainly.
func TestFullBufferRefusesShares(t *testing.T) {
	h := startServer(t, testConfig())
	j := h.srv.Publish(work(t, tipA, hardBits), "w1", true)
	c, en1 := subscribed(t, h, regtestAddress)
	h.sink.mu.Lock()
	h.sink.full = true
	h.sink.mu.Unlock()
	res := c.call("mining.submit", withWorker(solve(t, j, en1, 1, 0.001), regtestAddress)...)
	assert.Equal(t, CodeOther, errorCode(res))
	assert.Contains(t, fmt.Sprint(res["error"]), "pool busy")
}

// A share that meets the network target is submitted as a block and
// recorded as one.
func TestBlockIsSubmittedAndRecorded(t *testing.T) {
	h := startServer(t, testConfig())
	j := h.srv.Publish(work(t, tipA, easyBits), "w1", true)
	c, en1 := subscribed(t, h, regtestAddress+".rig")
	res := c.call("mining.submit", withWorker(solve(t, j, en1, 1, 0.001), regtestAddress+".rig")...)
	require.Equal(t, true, res["result"])
	require.Eventually(t, func() bool { _, blocks := h.sink.count(); return blocks == 1 }, 10*time.Second, 10*time.Millisecond)
	b := h.sink.blocks[0]
	assert.Equal(t, int64(200), b.Height)
	assert.Equal(t, regtestAddress, b.Address)
	assert.Equal(t, "rig", b.Worker)
	assert.Equal(t, int64(50_0000_0000), b.Reward)
	assert.Len(t, h.blocks.blocks, 1)
}

// A wallet switch on the same tip keeps the miners' work valid; a switch
// to a wallet on another tip still credits shares on the old one for a
// while; a new block does not.
func TestWalletSwitchDoesNotPunishMiners(t *testing.T) {
	h := startServer(t, testConfig())
	j1 := h.srv.Publish(work(t, tipA, hardBits), "w1", true)
	c, en1 := subscribed(t, h, regtestAddress)
	h.srv.Publish(work(t, tipA, hardBits), "w2", false)
	res := c.call("mining.submit", withWorker(solve(t, j1, en1, 1, 0.001), regtestAddress)...)
	assert.Equal(t, true, res["result"], "same tip, other wallet: %v", res["error"])

	j3 := h.srv.Publish(work(t, tipB, hardBits), "w1", true)
	res = c.call("mining.submit", withWorker(solve(t, j1, en1, 2, 0.001), regtestAddress)...)
	assert.Equal(t, true, res["result"], "switched to a wallet on another tip: %v", res["error"])

	h.srv.Publish(work(t, tipA, hardBits), "w1", true) // a real new block
	res = c.call("mining.submit", withWorker(solve(t, j3, en1, 3, 0.001), regtestAddress)...)
	assert.Equal(t, CodeJobNotFound, errorCode(res), "a new block on the same wallet makes work stale")
}

func TestShutdownSendsReconnect(t *testing.T) {
	h := startServer(t, testConfig())
	h.srv.Publish(work(t, tipA, hardBits), "w1", true)
	c, _ := subscribed(t, h, regtestAddress)
	done := make(chan struct{})
	go func() {
		defer close(done)
		ctx, cancel := contextWithTimeout(5 * time.Second)
		defer cancel()
		h.srv.Shutdown(ctx, "127.0.0.1:3334")
	}()
	m := c.notification("client.reconnect")
	assert.Equal(t, []any{"127.0.0.1", "3334", float64(0)}, m["params"])
	c.conn.Close()
	<-done
}

// A flood of submits is refused once over the connection's rate, then
// the connection is dropped (each refusal is a bad message); the rate is
// per connection.
func TestSubmitFloodIsLimited(t *testing.T) {
	cfg := testConfig()
	cfg.SubmitBurst = 5
	cfg.SubmitsPerSecond = 1
	cfg.MaxBadMessages = 10
	h := startServer(t, cfg)
	j := h.srv.Publish(work(t, tipA, hardBits), "w1", true)
	c, _ := subscribed(t, h, regtestAddress)
	for i := 0; i < 40; i++ {
		c.id++
		line := fmt.Sprintf(`{"id":%d,"method":"mining.submit","params":["%s","%s","00000001","%08x","%08x"]}`+"\n", c.id, regtestAddress, j.ID, j.Work.CurTime, i)
		// The server may drop the flooder (too many refused messages)
		// before the flood is written: a failed write ends the flood.
		if _, err := c.conn.Write([]byte(line)); err != nil {
			break
		}
	}
	refused := 0
	var end error
	for end == nil {
		var m map[string]any
		if m, end = c.read(); end == nil && strings.Contains(fmt.Sprint(m["error"]), "too many submits") {
			refused++
		}
	}
	assert.Positive(t, refused, "submits over the rate are refused")
	// The reads end because the server closed: EOF, or a reset when it
	// closed with the rest of the flood unread; not the read deadline.
	require.True(t, errors.Is(end, io.EOF) || errors.Is(end, syscall.ECONNRESET), "the flooder is still connected: %v", end)
	assert.Equal(t, map[string]float64{"too many bad messages": 1}, counts(t, h.srv.metrics.dropped))
	require.Eventually(t, func() bool { return h.srv.Connections() == 0 }, 10*time.Second, time.Millisecond, "the server forgets the flooder")

	other, en1 := subscribed(t, h, regtestAddress)
	res := other.call("mining.submit", withWorker(solve(t, j, en1, 1, 0.001), regtestAddress)...)
	assert.Equal(t, true, res["result"], "another miner is not limited: %v", res["error"])
}

// A difficulty that is not a finite number is refused: "NaN" once reached
// the JSON encoder and ended the process.
func TestSuggestDifficultyWantsAFiniteNumber(t *testing.T) {
	h := startServer(t, testConfig())
	c := dial(t, h.addr)
	c.call("mining.subscribe")
	for _, d := range []any{"NaN", "Infinity", "-Inf", "1e400", -1, 0} {
		res := c.call("mining.suggest_difficulty", d)
		assert.Equal(t, CodeOther, errorCode(res), "difficulty %v: %v", d, res)
	}
	assert.Equal(t, true, c.call("mining.suggest_difficulty", "0.5")["result"])
}

// A bug that one miner's message reaches ends that miner's connection
// only: the process and the other miners go on.
func TestPanicEndsOnlyItsConnection(t *testing.T) {
	h := startServer(t, testConfig())
	j := h.srv.Publish(work(t, tipA, hardBits), "w1", true)
	good, goodEn1 := subscribed(t, h, regtestAddress)
	bad, badEn1 := subscribed(t, h, regtestAddress)

	h.sink.setPanics(true)
	b, err := json.Marshal(map[string]any{"id": 9, "method": "mining.submit", "params": withWorker(solve(t, j, badEn1, 1, 0.001), regtestAddress)})
	require.NoError(t, err)
	bad.send(string(b))
	assert.True(t, bad.closed(), "the connection whose share reached the bug is ended")
	assert.Equal(t, map[string]float64{"panic": 1}, counts(t, h.srv.metrics.dropped))

	h.sink.setPanics(false)
	res := good.call("mining.submit", withWorker(solve(t, j, goodEn1, 2, 0.001), regtestAddress)...)
	assert.Equal(t, true, res["result"], "the other miner's share: %v", res["error"])
	require.Eventually(t, func() bool { return h.srv.Connections() == 1 }, 10*time.Second, time.Millisecond, "the server forgets the ended connection")
}

// A payout address is credited under its one spelling, however the miner
// wrote it: an upper-case bech32 address and its lower-case form are one
// balance, not two the wallet would refuse to pay in one sendmany.
func TestSharesAreCreditedToTheCanonicalAddress(t *testing.T) {
	for _, tc := range []struct{ name, sent, credited string }{
		{"lower-case bech32", "rltc1qw508d6qejxtdg4y5r3zarvary0c5xw7k693xs3", "rltc1qw508d6qejxtdg4y5r3zarvary0c5xw7k693xs3"},
		{"upper-case bech32", "RLTC1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7K693XS3", "rltc1qw508d6qejxtdg4y5r3zarvary0c5xw7k693xs3"},
		{"P2SH with Bitcoin's version", "2N3vVYSK5XRgVSGWy21PnsRmBUywSQNdCsf", "QXHFfTBKYXjaaTH1e7Rox8CcdNPGHVhM59"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := startServer(t, testConfig())
			j := h.srv.Publish(work(t, tipA, hardBits), "w1", true)
			c, en1 := subscribed(t, h, tc.sent+".rig")
			res := c.call("mining.submit", withWorker(solve(t, j, en1, 1, 0.001), tc.sent+".rig")...)
			require.Equal(t, true, res["result"], "%v", res["error"])
			require.Eventually(t, func() bool { shares, _ := h.sink.count(); return shares == 1 }, 10*time.Second, 10*time.Millisecond)
			h.sink.mu.Lock()
			defer h.sink.mu.Unlock()
			assert.Equal(t, tc.credited, h.sink.shares[0].Address)
			assert.Equal(t, "rig", h.sink.shares[0].Worker)
		})
	}
}

// A new difficulty comes with the current job sent again, without
// clean_jobs: the miner keeps the work it has under way. A new block's job
// is clean.
func TestNewDifficultyResendsTheJobNotClean(t *testing.T) {
	h := startServer(t, testConfig())
	j := h.srv.Publish(work(t, tipA, hardBits), "w1", true)
	c := dial(t, h.addr)
	c.call("mining.subscribe")
	first := c.notification("mining.notify")["params"].([]any)
	assert.Equal(t, j.ID, first[0])
	assert.Equal(t, true, first[8], "the first job a miner gets is clean")
	require.Equal(t, true, c.call("mining.authorize", regtestAddress, "x")["result"])
	require.Equal(t, true, c.call("mining.suggest_difficulty", 0.25)["result"])
	c.notification("mining.set_difficulty")
	again := c.notification("mining.notify")["params"].([]any)
	assert.Equal(t, j.ID, again[0], "the same job")
	assert.Equal(t, false, again[8], "sent again, not clean")
	h.srv.Publish(work(t, tipB, hardBits), "w1", true)
	next := c.notification("mining.notify")["params"].([]any)
	assert.Equal(t, true, next[8], "a new block's job is clean")
}
