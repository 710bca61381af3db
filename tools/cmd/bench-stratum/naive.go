package main

import (
	"bufio"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"strconv"
	"sync"

	"github.com/scryptpool/poolmicrocloud/tools/internal/chain"
)

// naiveServer is the baseline: the simplest stratum server one writes in
// Go. A goroutine per connection with a default bufio reader and writer
// (4 KiB each), and new work written to each miner in turn, in one
// goroutine, without deadlines.
type naiveServer struct {
	l  net.Listener
	wg sync.WaitGroup

	mu      sync.Mutex
	conns   []*naiveConn
	seq     int
	current []byte
}

type naiveConn struct {
	conn net.Conn
	mu   sync.Mutex
	w    *bufio.Writer
}

func startNaive(w *chain.Work) (*naiveServer, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &naiveServer{l: l}
	s.seq = 1
	s.current = notifyLine(strconv.FormatInt(int64(s.seq), 16), w)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				s.serve(conn)
			}()
		}
	}()
	return s, nil
}

func (s *naiveServer) serve(conn net.Conn) {
	defer conn.Close()
	c := &naiveConn{conn: conn, w: bufio.NewWriter(conn)}
	r := bufio.NewReader(conn)
	for {
		line, err := r.ReadBytes('\n')
		if err != nil {
			return
		}
		var req struct {
			ID     json.RawMessage `json:"id"`
			Method string          `json:"method"`
		}
		if json.Unmarshal(line, &req) != nil {
			continue
		}
		switch req.Method {
		case "mining.subscribe":
			s.mu.Lock()
			s.conns = append(s.conns, c)
			en1 := fmt.Sprintf("%08x", len(s.conns))
			current := s.current
			s.mu.Unlock()
			c.mu.Lock()
			_, _ = c.w.Write(answer(req.ID, []any{[][]string{{"mining.set_difficulty", en1}, {"mining.notify", en1}}, en1, 4}))
			_, _ = c.w.WriteString(`{"id":null,"method":"mining.set_difficulty","params":[16]}` + "\n")
			_, _ = c.w.Write(current)
			_ = c.w.Flush()
			c.mu.Unlock()
		case "mining.authorize":
			c.mu.Lock()
			_, _ = c.w.Write(answer(req.ID, true))
			_ = c.w.Flush()
			c.mu.Unlock()
		}
	}
}

func answer(id json.RawMessage, v any) []byte {
	b, _ := json.Marshal(struct {
		ID     json.RawMessage `json:"id"`
		Result any             `json:"result"`
		Error  any             `json:"error"`
	}{id, v, nil})
	return append(b, '\n')
}

// prepare returns the next job's id and the function that sends it.
func (s *naiveServer) prepare(w *chain.Work) (string, func()) {
	s.mu.Lock()
	id := strconv.FormatInt(int64(s.seq+1), 16)
	s.mu.Unlock()
	return id, func() {
		line := notifyLine(id, w)
		s.mu.Lock()
		s.seq++
		s.current = line
		conns := append([]*naiveConn(nil), s.conns...)
		s.mu.Unlock()
		for _, c := range conns {
			c.mu.Lock()
			_, _ = c.w.Write(line)
			_ = c.w.Flush()
			c.mu.Unlock()
		}
	}
}

func (s *naiveServer) connections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

func (s *naiveServer) close() {
	s.l.Close()
	s.mu.Lock()
	for _, c := range s.conns {
		c.conn.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// notifyLine is mining.notify for w, as large as the real server's.
func notifyLine(id string, w *chain.Work) []byte {
	prev := make([]byte, 32)
	for i := 0; i < 32; i += 4 {
		binary.BigEndian.PutUint32(prev[i:], binary.LittleEndian.Uint32(w.PrevHash[i:]))
	}
	branch := make([]string, len(w.MerkleBranch))
	for i, b := range w.MerkleBranch {
		branch[i] = hex.EncodeToString(b)
	}
	b, _ := json.Marshal(map[string]any{"id": nil, "method": "mining.notify", "params": []any{
		id, hex.EncodeToString(prev), hex.EncodeToString(w.Coinb1), hex.EncodeToString(w.Coinb2), branch,
		fmt.Sprintf("%08x", w.Version), fmt.Sprintf("%08x", w.Bits), fmt.Sprintf("%08x", w.CurTime), true,
	}})
	return append(b, '\n')
}
