// Package miner is a CPU scrypt miner speaking stratum v1 as cpuminer
// does: for tests and benchmarks of the pool, never for profit. It builds
// headers from the stratum messages alone, so it checks the server's side
// of the protocol rather than sharing its code.
package miner

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/scryptpool/poolmicrocloud/tools/internal/chain"
)

// Options configure a miner.
type Options struct {
	// Addr is the stratum server, host:port.
	Addr string
	// User is address[.worker]; Password may carry "d=N".
	User, Password string
	Threads        int
	// Reconnect is how long to wait before connecting again after the
	// server goes away.
	Reconnect time.Duration
	Log       *slog.Logger
	// OnEvent, when set, is told of each accepted or rejected share and
	// of each connection (for tests).
	OnEvent func(Event)
	// Dial, when set, makes the connections (tests dial from a network
	// namespace of their own); nil dials with a 5 s timeout.
	Dial func(ctx context.Context, addr string) (net.Conn, error)
}

// Event is something a miner saw.
type Event struct {
	Kind   string // "connected", "accepted", "rejected", "block", "disconnected", "reconnect"
	Detail string
}

// Stats are a miner's counts so far.
type Stats struct {
	Connects, Accepted, Rejected, Blocks, Hashes int64
}

// Miner mines until its context ends.
type Miner struct {
	opts     Options
	connects atomic.Int64
	accepted atomic.Int64
	rejected atomic.Int64
	blocks   atomic.Int64
	hashes   atomic.Int64
}

// New returns a miner.
func New(o Options) *Miner {
	if o.Threads <= 0 {
		o.Threads = 1
	}
	if o.Reconnect <= 0 {
		o.Reconnect = time.Second
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	return &Miner{opts: o}
}

// Stats returns the counts so far.
func (m *Miner) Stats() Stats {
	return Stats{m.connects.Load(), m.accepted.Load(), m.rejected.Load(), m.blocks.Load(), m.hashes.Load()}
}

func (m *Miner) event(kind, detail string) {
	if m.opts.OnEvent != nil {
		m.opts.OnEvent(Event{kind, detail})
	}
}

// Run connects, mines, and connects again when the server goes away,
// until ctx ends.
func (m *Miner) Run(ctx context.Context) error {
	addr := m.opts.Addr
	for ctx.Err() == nil {
		next, err := m.session(ctx, addr)
		if ctx.Err() != nil {
			return nil
		}
		if next != "" {
			addr = next
			m.event("reconnect", next)
			continue
		}
		m.event("disconnected", fmt.Sprint(err))
		m.opts.Log.Warn("disconnected; connecting again", "server", addr, "err", err)
		select {
		case <-ctx.Done():
		case <-time.After(m.opts.Reconnect):
		}
	}
	return nil
}

// job is one mining.notify.
type job struct {
	id                string
	prevhash          []byte // header order
	coinb1, coinb2    []byte
	branch            [][]byte
	version, bits, nt uint32
	clean             bool
}

// outstanding counts submits not yet answered.
func (c *conn) outstanding() int {
	n := 0
	c.pending.Range(func(any, any) bool { n++; return true })
	return n
}

type conn struct {
	c    net.Conn
	wmu  sync.Mutex
	next atomic.Int64
	// pending maps a submit's id to nothing but its existence: answers
	// to other calls are told apart by id.
	pending sync.Map
}

func (c *conn) call(method string, params ...any) (int64, error) {
	return c.callTracked(method, false, params...)
}

// callTracked sends a call; tracked ones are awaited on the way out, and
// are registered before they are sent, so a quick answer is never missed.
func (c *conn) callTracked(method string, tracked bool, params ...any) (int64, error) {
	id := c.next.Add(1)
	if tracked {
		c.pending.Store(id, struct{}{})
	}
	b, _ := json.Marshal(map[string]any{"id": id, "method": method, "params": params})
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = c.c.SetWriteDeadline(time.Now().Add(10 * time.Second))
	_, err := c.c.Write(append(b, '\n'))
	return id, err
}

// session runs one connection; it returns the address to move to when
// the server sends client.reconnect with one.
func (m *Miner) session(ctx context.Context, addr string) (string, error) {
	dial := m.opts.Dial
	if dial == nil {
		dial = func(ctx context.Context, addr string) (net.Conn, error) {
			d := net.Dialer{Timeout: 5 * time.Second}
			return d.DialContext(ctx, "tcp", addr)
		}
	}
	nc, err := dial(ctx, addr)
	if err != nil {
		return "", err
	}
	defer nc.Close()
	c := &conn{c: nc}
	// On the way out: stop hashing, give the answers to shares already
	// sent a moment to arrive (so the counts match the server's), close.
	var threads sync.WaitGroup
	mineCtx, stopThreads := context.WithCancel(ctx)
	defer stopThreads()
	stop := context.AfterFunc(ctx, func() {
		threads.Wait()
		deadline := time.Now().Add(2 * time.Second)
		for time.Now().Before(deadline) && c.outstanding() > 0 {
			time.Sleep(10 * time.Millisecond)
		}
		nc.Close()
	})
	defer stop()
	r := bufio.NewReaderSize(nc, 16384)

	subID, _ := c.call("mining.subscribe", "poolctl-miner/1.0")
	var extranonce1 []byte
	var extranonce2Size int
	for extranonce1 == nil {
		msg, err := readMessage(r)
		if err != nil {
			return "", err
		}
		if msg.ID != nil && *msg.ID == subID {
			if msg.Error != nil {
				return "", fmt.Errorf("subscribe refused: %s", msg.Error)
			}
			var res []json.RawMessage
			if err := json.Unmarshal(msg.Result, &res); err != nil || len(res) < 3 {
				return "", fmt.Errorf("subscribe answer %s is not [subscriptions, extranonce1, size]", msg.Result)
			}
			var en1 string
			if json.Unmarshal(res[1], &en1) != nil || json.Unmarshal(res[2], &extranonce2Size) != nil {
				return "", fmt.Errorf("subscribe answer %s", msg.Result)
			}
			if extranonce1, err = hex.DecodeString(en1); err != nil {
				return "", fmt.Errorf("extranonce1 %q: %w", en1, err)
			}
		}
	}
	_, _ = c.call("mining.extranonce.subscribe")
	authID, _ := c.call("mining.authorize", m.opts.User, m.opts.Password)
	m.connects.Add(1)
	m.event("connected", addr)

	var (
		mu         sync.Mutex
		current    *job
		difficulty = 1.0
		generation atomic.Int64
	)
	defer func() { stopThreads(); threads.Wait() }()
	for t := 0; t < m.opts.Threads; t++ {
		threads.Add(1)
		go func() {
			defer threads.Done()
			m.mine(mineCtx, c, t, extranonce1, extranonce2Size, &mu, &current, &difficulty, &generation)
		}()
	}
	for {
		_ = nc.SetReadDeadline(time.Now().Add(20 * time.Minute))
		msg, err := readMessage(r)
		if err != nil {
			return "", err
		}
		switch {
		case msg.Method == "mining.notify":
			j, err := parseNotify(msg.Params)
			if err != nil {
				m.opts.Log.Warn("bad mining.notify", "err", err)
				continue
			}
			mu.Lock()
			current = j
			mu.Unlock()
			generation.Add(1)
		case msg.Method == "mining.set_difficulty":
			var p []float64
			if json.Unmarshal(msg.Params, &p) == nil && len(p) > 0 && p[0] > 0 {
				mu.Lock()
				difficulty = p[0]
				mu.Unlock()
			}
		case msg.Method == "client.reconnect":
			var p []any
			_ = json.Unmarshal(msg.Params, &p)
			if len(p) >= 2 {
				return net.JoinHostPort(fmt.Sprint(p[0]), fmt.Sprint(p[1])), nil
			}
			return addr, nil
		case msg.ID != nil && *msg.ID == authID:
			if msg.Error != nil || string(msg.Result) != "true" {
				return "", fmt.Errorf("authorize %q refused: %s", m.opts.User, msg.Error)
			}
		case msg.ID != nil:
			if _, ok := c.pending.LoadAndDelete(*msg.ID); !ok {
				continue
			}
			if msg.Error == nil && string(msg.Result) == "true" {
				m.accepted.Add(1)
				m.event("accepted", "")
			} else {
				m.rejected.Add(1)
				m.event("rejected", string(msg.Error))
				m.opts.Log.Warn("share rejected", "error", string(msg.Error))
			}
		}
	}
}

// mine runs one thread: each takes its own extranonce2 values.
func (m *Miner) mine(ctx context.Context, c *conn, thread int, extranonce1 []byte, en2Size int,
	mu *sync.Mutex, current **job, difficulty *float64, generation *atomic.Int64) {
	var en2Counter uint64
	for ctx.Err() == nil {
		mu.Lock()
		j, diff := *current, *difficulty
		mu.Unlock()
		if j == nil {
			select {
			case <-ctx.Done():
				return
			case <-time.After(50 * time.Millisecond):
			}
			continue
		}
		gen := generation.Load()
		en2Counter++
		extranonce2 := make([]byte, en2Size)
		v := uint64(thread)<<48 | en2Counter
		for i := range extranonce2 {
			extranonce2[i] = byte(v >> (8 * (en2Size - 1 - i)))
		}
		header := buildHeader(j, extranonce1, extranonce2)
		shareTarget := chain.TargetForDifficulty(diff)
		blockTarget := chain.CompactToTarget(j.bits)
		for nonce := uint32(0); ; nonce++ {
			if nonce%64 == 0 && (ctx.Err() != nil || generation.Load() != gen) {
				break
			}
			binary.LittleEndian.PutUint32(header[76:], nonce)
			hash := chain.ScryptHash(header)
			m.hashes.Add(1)
			value := chain.HashValue(hash)
			if value.Cmp(shareTarget) > 0 {
				if nonce == ^uint32(0) {
					break
				}
				continue
			}
			if value.Cmp(blockTarget) <= 0 {
				m.blocks.Add(1)
				m.event("block", j.id)
			}
			if _, err := c.callTracked("mining.submit", true, m.opts.User, j.id, hex.EncodeToString(extranonce2),
				fmt.Sprintf("%08x", j.nt), fmt.Sprintf("%08x", nonce)); err != nil {
				return
			}
			if nonce == ^uint32(0) {
				break
			}
		}
	}
}

// buildHeader is the 80-byte header as cpuminer builds it from a job.
func buildHeader(j *job, extranonce1, extranonce2 []byte) []byte {
	coinbase := make([]byte, 0, len(j.coinb1)+len(extranonce1)+len(extranonce2)+len(j.coinb2))
	coinbase = append(append(append(append(coinbase, j.coinb1...), extranonce1...), extranonce2...), j.coinb2...)
	root := sha256d(coinbase)
	for _, b := range j.branch {
		root = sha256d(append(root, b...))
	}
	h := make([]byte, 80)
	binary.LittleEndian.PutUint32(h[0:], j.version)
	copy(h[4:36], j.prevhash)
	copy(h[36:68], root)
	binary.LittleEndian.PutUint32(h[68:], j.nt)
	binary.LittleEndian.PutUint32(h[72:], j.bits)
	return h
}

func sha256d(b []byte) []byte {
	first := sha256.Sum256(b)
	second := sha256.Sum256(first[:])
	return second[:]
}

type message struct {
	ID     *int64          `json:"id"`
	Method string          `json:"method"`
	Params json.RawMessage `json:"params"`
	Result json.RawMessage `json:"result"`
	Error  json.RawMessage `json:"error"`
}

func readMessage(r *bufio.Reader) (*message, error) {
	line, err := r.ReadBytes('\n')
	if err != nil {
		return nil, err
	}
	var raw struct {
		ID     json.RawMessage `json:"id"`
		Method string          `json:"method"`
		Params json.RawMessage `json:"params"`
		Result json.RawMessage `json:"result"`
		Error  json.RawMessage `json:"error"`
	}
	if err := json.Unmarshal(line, &raw); err != nil {
		return nil, fmt.Errorf("server sent %q: %w", line, err)
	}
	msg := &message{Method: raw.Method, Params: raw.Params, Result: raw.Result}
	if len(raw.Error) > 0 && string(raw.Error) != "null" {
		msg.Error = raw.Error
	}
	if id, err := strconv.ParseInt(string(raw.ID), 10, 64); err == nil {
		msg.ID = &id
	}
	return msg, nil
}

// parseNotify reads mining.notify params: job id, prevhash, coinb1,
// coinb2, merkle branch, version, nbits, ntime, clean jobs.
func parseNotify(params json.RawMessage) (*job, error) {
	var p []json.RawMessage
	if err := json.Unmarshal(params, &p); err != nil || len(p) < 9 {
		return nil, errors.New("want 9 parameters")
	}
	var id, prev, c1, c2, ver, bits, nt string
	var branch []string
	var clean bool
	for i, dst := range []any{&id, &prev, &c1, &c2, &branch, &ver, &bits, &nt, &clean} {
		if err := json.Unmarshal(p[i], dst); err != nil {
			return nil, fmt.Errorf("parameter %d: %w", i+1, err)
		}
	}
	j := &job{id: id, clean: clean}
	var err error
	prevBE, err := hex.DecodeString(prev)
	if err != nil || len(prevBE) != 32 {
		return nil, fmt.Errorf("prevhash %q", prev)
	}
	// Stratum sends each 32-bit word of the header's prevhash reversed.
	j.prevhash = make([]byte, 32)
	for i := 0; i < 32; i += 4 {
		binary.LittleEndian.PutUint32(j.prevhash[i:], binary.BigEndian.Uint32(prevBE[i:]))
	}
	if j.coinb1, err = hex.DecodeString(c1); err != nil {
		return nil, fmt.Errorf("coinb1: %w", err)
	}
	if j.coinb2, err = hex.DecodeString(c2); err != nil {
		return nil, fmt.Errorf("coinb2: %w", err)
	}
	for _, b := range branch {
		h, err := hex.DecodeString(b)
		if err != nil || len(h) != 32 {
			return nil, fmt.Errorf("merkle branch %q", b)
		}
		j.branch = append(j.branch, h)
	}
	for _, f := range []struct {
		s   string
		dst *uint32
	}{{ver, &j.version}, {bits, &j.bits}, {nt, &j.nt}} {
		b, err := hex.DecodeString(f.s)
		if err != nil || len(b) != 4 {
			return nil, fmt.Errorf("field %q is not 8 hex digits", f.s)
		}
		*f.dst = binary.BigEndian.Uint32(b)
	}
	return j, nil
}
