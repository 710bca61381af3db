package stratum

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/netip"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/scryptpool/poolmicrocloud/tools/internal/chain"
)

// worker is an authorized name: payout address, and what follows the dot.
type worker struct {
	full    string
	address string
	name    string
}

// session is one miner's connection. Its reading goroutine owns most of
// it; what broadcasts touch is under wmu.
type session struct {
	srv  *Server
	conn net.Conn
	ip   netip.Prefix // the peer limits and bans count it under

	extranonce1 []byte
	subscribed  bool
	workers     map[string]worker

	// wmu orders writes (answers from the reader, jobs and difficulty
	// from broadcasts) and guards the fields below.
	wmu        sync.Mutex
	difficulty float64
	target     *big.Int // difficulty's share target, kept: big-number work per share adds up
	// previous difficulty and the last job sent before it changed:
	// shares on those jobs were mined against it.
	prevDifficulty float64
	prevTarget     *big.Int
	changedAtJob   uint64
	lastJobSent    uint64
	vardiff        vardiffState
	dead           bool
	batching       bool   // the reader has more messages buffered: hold answers
	held           []byte // answers held until the reader runs dry

	tokens      float64
	tokensAt    time.Time
	badMessages int
	logged      map[string]bool
}

func newSession(s *Server, conn net.Conn, ip netip.Prefix, extranonce1 []byte) *session {
	return &session{srv: s, conn: conn, ip: ip, extranonce1: extranonce1}
}

// serve reads messages until the miner leaves or misbehaves too often.
func (c *session) serve() {
	defer c.srv.forget(c)
	defer c.conn.Close()
	defer c.survivePanic()
	start := time.Now()
	r := lineReader{conn: c.conn}
	for {
		// Before it has authorized, a connection gets HandshakeTimeout in
		// all; afterwards IdleTimeout between messages. LineTimeout caps
		// one message once its first byte is in (slowloris).
		deadline := start.Add(c.srv.cfg.HandshakeTimeout)
		if c.authorized() {
			deadline = time.Now().Add(c.srv.cfg.IdleTimeout)
		}
		line, err := r.readLine(deadline, c.srv.cfg.LineTimeout)
		if err != nil {
			c.endWith(err)
			return
		}
		// Answers to messages the miner sent in one go leave in one write
		// once the last of them is handled: a syscall per answer is a
		// cost that every share would otherwise pay.
		c.setBatching(true)
		ok := len(bytes.TrimSpace(line)) == 0 || c.handle(line)
		if !ok || !r.hasLine() {
			c.setBatching(false)
		}
		if !ok {
			return
		}
	}
}

// setBatching holds the reader's answers back while more messages are
// buffered, and writes what was held once none are.
func (c *session) setBatching(on bool) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.batching = on
	if !on && len(c.held) > 0 {
		c.writeLocked(nil)
	}
}

func (c *session) authorized() bool { return c.subscribed && len(c.workers) > 0 }

// survivePanic ends only this connection when a bug is reached from what
// one miner sent: everyone else keeps mining.
func (c *session) survivePanic() {
	if r := recover(); r != nil {
		c.srv.metrics.dropped.WithLabelValues("panic").Inc()
		c.srv.cfg.Log.Error("connection ended by a panic", "remote", c.conn.RemoteAddr().String(), "panic", r, "stack", string(debug.Stack()))
	}
}

// endWith logs why a connection ended when it is worth an operator's eye.
func (c *session) endWith(err error) {
	var ne net.Error
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed):
		return
	case errors.Is(err, errLineTooLong):
		c.srv.metrics.dropped.WithLabelValues("line too long").Inc()
		c.logOnce("line too long", "dropped: message longer than the limit", "limit", MaxLineBytes)
		c.srv.droppedForMisbehaviour(c.ip)
	case errors.As(err, &ne) && ne.Timeout():
		reason := "idle"
		if !c.authorized() {
			reason = "no handshake"
		}
		c.srv.metrics.dropped.WithLabelValues(reason).Inc()
	default:
		c.srv.metrics.dropped.WithLabelValues("read error").Inc()
	}
}

// logOnce logs a kind of misbehaviour the first time a connection shows it.
func (c *session) logOnce(kind, msg string, args ...any) {
	if c.logged == nil {
		c.logged = map[string]bool{}
	}
	if c.logged[kind] {
		return
	}
	c.logged[kind] = true
	c.srv.cfg.Log.Warn(msg, append([]any{"remote", c.conn.RemoteAddr().String()}, args...)...)
}

// handle answers one message; false ends the connection.
func (c *session) handle(line []byte) bool {
	req, err := ParseRequest(line)
	if err != nil {
		var pe *ProtocolError
		errors.As(err, &pe)
		c.srv.metrics.badMessages.Inc()
		c.logOnce("malformed", "malformed message", "err", pe.Reason)
		c.write(failure(pe.ID, pe.Code, pe.Reason))
		return c.misbehaved()
	}
	switch req.Method {
	case "mining.subscribe":
		return c.subscribe(req)
	case "mining.authorize":
		return c.authorize(req)
	case "mining.submit":
		return c.submit(req)
	case "mining.extranonce.subscribe":
		// We never change a connection's extranonce1, so there is never
		// a mining.set_extranonce to send; saying yes is the truth.
		c.write(result(req.ID, true))
		return true
	case "mining.suggest_difficulty":
		return c.suggestDifficulty(req)
	case "mining.get_transactions":
		c.write(result(req.ID, []string{}))
		return true
	default:
		c.logOnce("unknown method", "unknown method", "method", truncate(req.Method, 64))
		c.write(failure(req.ID, CodeOther, "unknown method "+truncate(req.Method, 64)))
		return c.misbehaved()
	}
}

// misbehaved counts a refused message; too many end the connection.
func (c *session) misbehaved() bool {
	c.badMessages++
	if c.badMessages > c.srv.cfg.MaxBadMessages {
		c.srv.metrics.dropped.WithLabelValues("too many bad messages").Inc()
		c.logOnce("too many bad messages", "dropped: too many bad messages", "count", c.badMessages)
		c.srv.droppedForMisbehaviour(c.ip)
		return false
	}
	return true
}

func (c *session) refuse(req *Request, code int, reason string) bool {
	c.write(failure(req.ID, code, reason))
	return c.misbehaved()
}

func (c *session) subscribe(req *Request) bool {
	// params: [user agent, session id to resume]; both optional, and the
	// session id is ignored: extranonce1 is never reused.
	if _, err := req.OptionalStringParam(0, "user agent"); err != nil {
		return c.refuse(req, CodeOther, err.Error())
	}
	c.subscribed = true
	id := hex.EncodeToString(c.extranonce1)
	c.write(result(req.ID, []any{
		[][]string{{"mining.set_difficulty", id}, {"mining.notify", id}},
		id,
		Extranonce2Size,
	}))
	c.wmu.Lock()
	c.difficulty = c.srv.cfg.Vardiff.clamp(c.srv.cfg.Vardiff.Start)
	c.target = chain.TargetForDifficulty(c.difficulty)
	c.vardiff = vardiffState{since: time.Now()}
	c.wmu.Unlock()
	c.write(notification("mining.set_difficulty", c.difficulty))
	if j := c.srv.jobs.latest(); j != nil {
		c.sendJob(j)
	}
	return true
}

func (c *session) authorize(req *Request) bool {
	user, err := req.StringParam(0, "worker")
	if err != nil {
		return c.refuse(req, CodeOther, err.Error())
	}
	password, err := req.OptionalStringParam(1, "password")
	if err != nil {
		return c.refuse(req, CodeOther, err.Error())
	}
	user = strings.TrimSpace(user)
	address, name, _ := strings.Cut(user, ".")
	// Shares are credited to the address's one spelling: two spellings of
	// one script (upper-case bech32, Bitcoin's P2SH version) would be two
	// balances paying the same destination.
	canonical, err := chain.CanonicalAddress(address, c.srv.cfg.Network)
	if err != nil {
		return c.refuseWorker(req, "not a payout address", "worker must be a "+c.srv.cfg.Network+" payout address[.name]: "+err.Error(), "worker", truncate(user, 100), "err", err)
	}
	if err := checkWorkerName(name); err != "" {
		return c.refuseWorker(req, err, fmt.Sprintf("worker name must be at most %d bytes of printable text", MaxWorkerNameBytes), "worker", truncate(strconv.Quote(user), 200))
	}
	if _, again := c.workers[user]; !again && len(c.workers) >= c.srv.cfg.MaxWorkersPerConnection {
		return c.refuseWorker(req, "too many workers", fmt.Sprintf("at most %d workers on one connection: open another connection", c.srv.cfg.MaxWorkersPerConnection), "limit", c.srv.cfg.MaxWorkersPerConnection)
	}
	if c.workers == nil {
		c.workers = map[string]worker{}
	}
	// Kept as sent (trimmed): the address and the name are both
	// bounded now, and submits name the worker the same way.
	if canonical == address {
		canonical = address // shares user's memory: no copy per worker
	}
	c.workers[user] = worker{full: user, address: canonical, name: name}
	c.write(result(req.ID, true))
	// "d=64" in the password is how miners ask for a difficulty.
	for _, field := range strings.Split(password, ",") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(field), "d="); ok {
			if d, err := parseDifficulty(v); err == nil {
				c.setDifficulty(d)
			}
		}
	}
	return true
}

// refuseWorker answers a refused mining.authorize (code 24) and counts it
// as misbehaviour; why is its label in the metrics and its log line.
func (c *session) refuseWorker(req *Request, why, message string, logArgs ...any) bool {
	c.srv.metrics.badMessages.Inc()
	c.srv.metrics.authorizeRefused.WithLabelValues(why).Inc()
	c.logOnce(why, "authorize refused: "+why, logArgs...)
	c.write(failure(req.ID, CodeUnauthorized, message))
	return c.misbehaved()
}

// checkWorkerName says what is wrong with a worker's name, "" when
// nothing: it goes into logs, metrics and the ledger's text columns.
func checkWorkerName(name string) string {
	if len(name) > MaxWorkerNameBytes {
		return "name too long"
	}
	if !utf8.ValidString(name) {
		return "name not printable"
	}
	for _, r := range name {
		if !unicode.IsPrint(r) {
			return "name not printable"
		}
	}
	return ""
}

func (c *session) suggestDifficulty(req *Request) bool {
	d, err := req.NumberParam(0, "difficulty")
	if err != nil || d <= 0 {
		return c.refuse(req, CodeOther, "mining.suggest_difficulty: parameter 1 (difficulty) must be a positive number")
	}
	c.write(result(req.ID, true))
	c.setDifficulty(d)
	return true
}

// setDifficulty moves the connection to d (clamped) and sends the current
// job again, which is when miners apply a new difficulty.
func (c *session) setDifficulty(d float64) {
	d = c.srv.cfg.Vardiff.clamp(d)
	// Encoded before taking wmu: a panic while holding it would leave
	// every later broadcast waiting for this connection.
	msg := notification("mining.set_difficulty", d)
	c.wmu.Lock()
	if d == c.difficulty || c.dead {
		c.wmu.Unlock()
		return
	}
	c.prevDifficulty, c.prevTarget, c.changedAtJob = c.difficulty, c.target, c.lastJobSent
	c.difficulty, c.target = d, chain.TargetForDifficulty(d)
	c.vardiff = vardiffState{since: time.Now()}
	c.writeLocked(msg)
	c.wmu.Unlock()
	if j := c.srv.jobs.latest(); j != nil && c.subscribed {
		c.sendJobAgain(j)
	}
}

// lookAtDifficulty lowers the difficulty of a miner that went quiet.
func (c *session) lookAtDifficulty(now time.Time) {
	c.wmu.Lock()
	if c.difficulty == 0 || c.dead {
		c.wmu.Unlock()
		return
	}
	next, change := c.srv.cfg.Vardiff.nextIfQuiet(&c.vardiff, c.difficulty, now)
	c.wmu.Unlock()
	if change {
		c.setDifficulty(next)
	}
}

func (c *session) sendJob(j *Job) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.difficulty == 0 || c.dead { // not subscribed yet
		return
	}
	c.lastJobSent = j.Seq
	c.writeLocked(j.notify)
}

// sendJobAgain sends the current job once more, which is when miners take
// up a new difficulty, without clean_jobs: the miner keeps the work it has.
func (c *session) sendJobAgain(j *Job) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.difficulty == 0 || c.dead {
		return
	}
	c.lastJobSent = j.Seq
	c.writeLocked(j.resend)
}

// push writes a message now, after any held answers.
func (c *session) push(msg []byte) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.writeLocked(msg)
}

// write sends an answer of the reading goroutine, or holds it while the
// reader is batching.
func (c *session) write(msg []byte) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.batching && !c.dead && len(c.held)+len(msg) <= maxHeldBytes {
		c.held = append(c.held, msg...)
		return
	}
	c.writeLocked(msg)
}

// maxHeldBytes bounds the answers held for one write.
const maxHeldBytes = 16 << 10

// writeLocked writes held answers and then msg, with a deadline: a miner
// that does not read its socket is dropped rather than allowed to hold up
// everyone's new work.
func (c *session) writeLocked(msg []byte) {
	if c.dead {
		return
	}
	if len(c.held) > 0 {
		msg = append(c.held, msg...)
		c.held = c.held[:0]
		if cap(c.held) > 4096 {
			c.held = nil // an idle connection keeps no big buffer
		}
	}
	_ = c.conn.SetWriteDeadline(time.Now().Add(c.srv.cfg.WriteTimeout))
	if _, err := c.conn.Write(msg); err != nil {
		c.dead = true
		c.srv.metrics.dropped.WithLabelValues("not reading").Inc()
		c.conn.Close()
	}
}

// allowSubmit takes a token from the connection's submit bucket.
func (c *session) allowSubmit(now time.Time) bool {
	cfg := c.srv.cfg
	if cfg.SubmitsPerSecond <= 0 {
		return true
	}
	if c.tokensAt.IsZero() {
		c.tokens = float64(cfg.SubmitBurst)
	} else {
		c.tokens = min(float64(cfg.SubmitBurst), c.tokens+now.Sub(c.tokensAt).Seconds()*cfg.SubmitsPerSecond)
	}
	c.tokensAt = now
	if c.tokens < 1 {
		return false
	}
	c.tokens--
	return true
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

var errLineTooLong = errors.New("line too long")

// lineReader reads newline-ended messages with a buffer that starts small
// and grows only for long messages: most connections are idle, and ten
// thousand of them must fit in a Pi's memory. Lines are taken from the
// front without moving the rest, so a miner that pipelines many submits
// costs no copying per message.
type lineReader struct {
	conn  net.Conn
	buf   []byte
	start int // first byte not yet returned
	end   int // bytes in buf
}

// hasLine reports whether a whole message is already buffered, so the
// next readLine will not wait for the network.
func (r *lineReader) hasLine() bool {
	return bytes.IndexByte(r.buf[r.start:r.end], '\n') >= 0
}

func (r *lineReader) readLine(deadline time.Time, lineTimeout time.Duration) ([]byte, error) {
	lineStarted := false
	for {
		if i := bytes.IndexByte(r.buf[r.start:r.end], '\n'); i >= 0 {
			line := make([]byte, i)
			copy(line, r.buf[r.start:r.start+i])
			r.start += i + 1
			if r.start == r.end {
				r.start, r.end = 0, 0
				if cap(r.buf) > 512 {
					r.buf = nil // give back what a long message took
				}
			}
			return line, nil
		}
		if r.end-r.start > MaxLineBytes {
			return nil, errLineTooLong
		}
		if r.end > r.start && !lineStarted {
			lineStarted = true
			if d := time.Now().Add(lineTimeout); d.Before(deadline) {
				deadline = d
			}
		}
		if r.buf == nil {
			r.buf = make([]byte, 256)
		}
		if r.end == len(r.buf) {
			if r.start > 0 { // room at the front: move the partial line there
				r.end = copy(r.buf, r.buf[r.start:r.end])
				r.start = 0
			} else {
				grown := make([]byte, min(2*len(r.buf), MaxLineBytes+1))
				copy(grown, r.buf[:r.end])
				r.buf = grown
			}
		}
		_ = r.conn.SetReadDeadline(deadline)
		n, err := r.conn.Read(r.buf[r.end:])
		r.end += n
		if err != nil && n == 0 {
			return nil, err
		}
	}
}
