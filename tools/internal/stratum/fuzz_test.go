package stratum

import (
	"bytes"
	"encoding/json"
	"net"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

// The parser takes any bytes without panicking, and what it accepts has a
// method and an id that can be echoed back as JSON.
func FuzzParseRequest(f *testing.F) {
	f.Add([]byte(`{"id": 1, "method": "mining.subscribe", "params": ["cpuminer/2.5.1"]}`))
	f.Add([]byte(`{"id":2,"method":"mining.authorize","params":["LcHKx6yh7gGJZvB2LFbMsuAoFHosfmRcQb.rig","x"]}`))
	f.Add([]byte(`{"params": ["worker", "1a", "00000001", "5f5e1000", "deadbeef"], "id": 4, "method": "mining.submit"}`))
	f.Add([]byte(`{"id":null,"method":"mining.extranonce.subscribe","params":[]}`))
	f.Add([]byte(`{"id":"abc","method":"mining.suggest_difficulty","params":[16]}`))
	f.Add([]byte(`{"id":1,"method":"mining.submit","params":{"a":1}}`))
	f.Add([]byte(`{"id":[1],"method":"x"}`))
	f.Add([]byte(`{"id":1,"method":`))
	f.Add([]byte("\x00\xff{}"))
	f.Fuzz(func(t *testing.T, line []byte) {
		req, err := ParseRequest(line)
		if err != nil {
			if req != nil {
				t.Fatalf("both a request and an error for %q", line)
			}
			_ = failure(err.(*ProtocolError).ID, CodeOther, err.Error())
			return
		}
		_ = result(req.ID, true)
		for i := range req.Params {
			_, _ = req.StringParam(i, "p")
			_, _ = req.NumberParam(i, "p")
		}
	})
}

// FuzzSession holds one connection to the rule session.go follows, whatever
// a miner sends:
//
//   - The input is read as lines ended by "\n". A line of only white space
//     is skipped. Every other line is a message and gets exactly one
//     answer (a result or an error; notifications in between carry a
//     method, answers do not), in the order sent.
//   - A well-formed request (a JSON object with a string method, an id
//     that is a number, a string or null, params an array, null or
//     absent) is answered with its own id. Any other message is answered
//     with its id where one can be read, else with a null id.
//   - The connection ends before the input does for two reasons only: a
//     line longer than MaxLineBytes (not answered; dropped as "line too
//     long"), or a message refused when MaxBadMessages were refused
//     already (answered, then dropped as "too many bad messages"). A
//     refused message is one answered with an error other than 21, job
//     not found or stale, which honest miners get after every new block.
//   - Otherwise the connection ends when the input does. A last line
//     without its "\n" is not a message: it gets no answer.
//   - Nothing panics, the server forgets the connection, and it still
//     serves a new miner afterwards.
func FuzzSession(f *testing.F) {
	f.Add([]byte("{\"id\":1,\"method\":\"mining.subscribe\"}\n{\"id\":2,\"method\":\"mining.authorize\",\"params\":[\"mipcBbFg9gMiCh81Kj8tqqdgoZub1ZJRfn\",\"d=x\"]}\n{\"id\":3,\"method\":\"mining.submit\",\"params\":[\"mipcBbFg9gMiCh81Kj8tqqdgoZub1ZJRfn\",\"1\",\"00000000\",\"00000000\",\"00000000\"]}\n"))
	f.Add([]byte("{\"id\":1,\"method\":\"mining.suggest_difficulty\",\"params\":[\"1e308\"]}\n"))
	f.Add([]byte("\n\n\r\n{}\n"))
	f.Add([]byte(strings.Repeat("{\"id\":\"x\",\"method\":\"mining.frobnicate\"}\n", 12) + "{\"id\":1,\"method\":\"mining.subscribe\"}\n"))
	f.Add([]byte("{\"id\":1,\"method\":\"mining.subscribe\",\"params\":[\"" + strings.Repeat("a", MaxLineBytes) + "\"]}\n{\"id\":2,\"method\":\"mining.subscribe\"}\n"))
	f.Add([]byte("{\"ID\":7,\"method\":\"mining.get_transactions\"}\n{\"id\":1,\"method\":5}\n{\"id\":true,\"method\":\"mining.subscribe\"}\n{\"id\":2,\"method\":\"mining.subscribe\""))
	w := work(f, tipA, hardBits)
	cfg := testConfig()
	f.Fuzz(func(t *testing.T, input []byte) {
		srv := New(cfg, &fakeSink{}, &fakeSubmitter{}, nil)
		srv.Publish(w, "w", true)
		conn := newMinerConn(input)
		sess, reason := srv.admit(conn)
		if sess == nil {
			t.Fatalf("connection refused: %s", reason)
		}
		sess.serve()

		answers := conn.answers(t)
		lines := bytes.Split(input, []byte("\n"))
		unended := lines[len(lines)-1]
		drop := ""
		refused := 0
	messages:
		for _, line := range lines[:len(lines)-1] {
			switch {
			case len(line) > MaxLineBytes:
				drop = "line too long"
				break messages
			case len(bytes.TrimSpace(line)) == 0:
				continue
			case len(answers) == 0:
				t.Fatalf("message %q got no answer", line)
			}
			a := answers[0]
			answers = answers[1:]
			if id, ok := wellFormedID(line); ok {
				if !sameJSON(a.ID, id) {
					t.Fatalf("well-formed message %q answered with id %s: %s", line, a.ID, a.line)
				}
			} else if !sameJSON(a.ID, []byte("null")) && !sameJSON(a.ID, readableID(line)) {
				t.Fatalf("message %q answered with id %s, neither its own nor null: %s", line, a.ID, a.line)
			}
			if a.refused() {
				if refused++; refused > cfg.MaxBadMessages {
					drop = "too many bad messages"
					break messages
				}
			}
		}
		if drop == "" && len(unended) > MaxLineBytes {
			drop = "line too long"
		}
		if len(answers) > 0 {
			t.Fatalf("%d answer(s) beyond the messages sent, first %s", len(answers), answers[0].line)
		}
		want := map[string]float64{}
		if drop != "" {
			want[drop] = 1
		}
		if got := counts(t, srv.metrics.dropped); !reflect.DeepEqual(got, want) {
			t.Fatalf("connections dropped by reason: %v, want %v", got, want)
		}
		if !conn.isClosed() || srv.Connections() != 0 {
			t.Fatalf("the session ended without closing and forgetting its connection")
		}

		// The server still serves a well-behaved miner.
		next := newMinerConn([]byte(`{"id":1,"method":"mining.subscribe"}` + "\n"))
		sess, _ = srv.admit(next)
		sess.serve()
		if a := next.answers(t); len(a) != 1 || !bytes.HasPrefix(a[0].Result, []byte("[[")) {
			t.Fatalf("after %q the server no longer answers subscribe: %s", input, next.out.Bytes())
		}
	})
}

// wellFormedID says whether line is a well-formed request, and its id as
// the answer must carry it.
func wellFormedID(line []byte) (json.RawMessage, bool) {
	var req struct {
		ID     json.RawMessage `json:"id"`
		Method *string         `json:"method"`
		Params json.RawMessage `json:"params"`
	}
	if json.Unmarshal(line, &req) != nil || req.Method == nil {
		return nil, false
	}
	if p := bytes.TrimSpace(req.Params); len(p) > 0 && p[0] != '[' && !bytes.Equal(p, []byte("null")) {
		return nil, false
	}
	id := bytes.TrimSpace(req.ID)
	if len(id) == 0 {
		return json.RawMessage("null"), true
	}
	switch id[0] {
	case '{', '[', 't', 'f':
		return nil, false
	}
	return id, true
}

// readableID is the id of a message that is not a well-formed request,
// when it is JSON with an id at all.
func readableID(line []byte) json.RawMessage {
	var req struct {
		ID json.RawMessage `json:"id"`
	}
	if json.Unmarshal(line, &req) != nil {
		return nil
	}
	return req.ID
}

// sameJSON compares two JSON values as values: the server echoes an id
// re-encoded ("<" escaped, for one).
func sameJSON(a, b json.RawMessage) bool {
	decode := func(raw json.RawMessage) (any, bool) {
		d := json.NewDecoder(bytes.NewReader(raw))
		d.UseNumber()
		var v any
		return v, d.Decode(&v) == nil
	}
	x, okX := decode(a)
	y, okY := decode(b)
	return okX && okY && reflect.DeepEqual(x, y)
}

// answer is one answer the server sent, as the fuzzer reads it.
type answer struct {
	line   []byte
	ID     json.RawMessage `json:"id"`
	Result json.RawMessage `json:"result"`
	Error  []any           `json:"error"`
}

// refused says whether the answer counts against MaxBadMessages.
func (a answer) refused() bool {
	if a.Error == nil {
		return false
	}
	code, _ := a.Error[0].(float64)
	return int(code) != CodeJobNotFound
}

// minerConn is a miner's end as the session sees it: it sends its input,
// closes its side, and keeps what the server writes. No deadline ever
// passes: the rule under test is what gets answered, not when.
type minerConn struct {
	in     *bytes.Reader
	mu     sync.Mutex
	out    bytes.Buffer
	closed bool
}

func newMinerConn(input []byte) *minerConn { return &minerConn{in: bytes.NewReader(input)} }

func (c *minerConn) Read(p []byte) (int, error) {
	if c.isClosed() {
		return 0, net.ErrClosed
	}
	return c.in.Read(p)
}

func (c *minerConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return 0, net.ErrClosed
	}
	return c.out.Write(p)
}

func (c *minerConn) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	return nil
}

func (c *minerConn) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

func (c *minerConn) LocalAddr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 3333} }
func (c *minerConn) RemoteAddr() net.Addr {
	return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 50000}
}
func (c *minerConn) SetDeadline(time.Time) error      { return nil }
func (c *minerConn) SetReadDeadline(time.Time) error  { return nil }
func (c *minerConn) SetWriteDeadline(time.Time) error { return nil }

// answers parses what the server wrote, leaving out notifications.
func (c *minerConn) answers(t *testing.T) []answer {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []answer
	for _, line := range bytes.SplitAfter(c.out.Bytes(), []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		if line[len(line)-1] != '\n' {
			t.Fatalf("the server sent an unended line %q", line)
		}
		var m struct {
			Method *string `json:"method"`
		}
		if err := json.Unmarshal(line, &m); err != nil {
			t.Fatalf("the server sent %q: %v", line, err)
		}
		if m.Method != nil {
			continue
		}
		a := answer{line: line}
		if err := json.Unmarshal(line, &a); err != nil || (a.Error != nil && len(a.Error) != 3) {
			t.Fatalf("the server sent an answer that is not one: %q", line)
		}
		out = append(out, a)
	}
	return out
}
