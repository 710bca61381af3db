package stratum

import (
	"bufio"
	"bytes"
	"context"
	"net"
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

// Whatever a connection sends, the server answers or drops it and keeps
// serving: after the fuzzed input, a fresh miner still subscribes.
func FuzzSession(f *testing.F) {
	f.Add([]byte("{\"id\":1,\"method\":\"mining.subscribe\"}\n{\"id\":2,\"method\":\"mining.authorize\",\"params\":[\"mipcBbFg9gMiCh81Kj8tqqdgoZub1ZJRfn\",\"d=x\"]}\n{\"id\":3,\"method\":\"mining.submit\",\"params\":[\"mipcBbFg9gMiCh81Kj8tqqdgoZub1ZJRfn\",\"1\",\"00000000\",\"00000000\",\"00000000\"]}\n"))
	f.Add([]byte("{\"id\":1,\"method\":\"mining.suggest_difficulty\",\"params\":[\"1e308\"]}\n"))
	f.Add([]byte("\n\n\r\n{}\n"))
	w := work(f, tipA, hardBits)
	f.Fuzz(func(t *testing.T, input []byte) {
		cfg := testConfig()
		cfg.HandshakeTimeout, cfg.LineTimeout = time.Second, time.Second
		srv := New(cfg, &fakeSink{}, &fakeSubmitter{}, nil)
		srv.Publish(w, "w", true)
		server, client := net.Pipe()
		sess, _ := srv.admit(server)
		done := make(chan struct{})
		go func() {
			defer close(done)
			sess.serve()
		}()
		go func() { _, _ = client.Write(input) }()
		go func() { _, _ = bufio.NewReader(client).WriteTo(discard{}) }()
		time.Sleep(time.Millisecond)
		client.Close()
		<-done

		// The server still serves a well-behaved miner.
		server2, client2 := net.Pipe()
		sess2, _ := srv.admit(server2)
		go sess2.serve()
		defer client2.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = client2.SetDeadline(time.Now().Add(2 * time.Second))
		go func() { _, _ = client2.Write([]byte(`{"id":1,"method":"mining.subscribe"}` + "\n")) }()
		line, err := bufio.NewReader(client2).ReadBytes('\n')
		if err != nil || !bytes.Contains(line, []byte(`"result":[[`)) || ctx.Err() != nil {
			t.Fatalf("after %q the server no longer answers subscribe: %q %v", input, line, err)
		}
	})
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
