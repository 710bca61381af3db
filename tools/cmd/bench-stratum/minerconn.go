package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"time"
)

// minerConn is one miner's connection in the miners' process.
type minerConn struct {
	conn        net.Conn
	r           *bufio.Reader
	extranonce1 string
	jobID       string
}

// handshake subscribes and authorizes, and waits for the first job when
// wantJob.
func handshake(addr string, wantJob bool) (*minerConn, error) {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	m := &minerConn{conn: conn, r: bufio.NewReader(conn)}
	hello := `{"id":1,"method":"mining.subscribe","params":["bench-stratum/1"]}` + "\n" +
		`{"id":2,"method":"mining.authorize","params":["` + payoutAddress + `","x"]}` + "\n"
	if _, err := conn.Write([]byte(hello)); err != nil {
		conn.Close()
		return nil, err
	}
	_ = conn.SetReadDeadline(time.Now().Add(2 * time.Minute))
	authorized := false
	for !authorized || (wantJob && m.jobID == "") {
		line, err := m.r.ReadBytes('\n')
		if err != nil {
			conn.Close()
			return nil, fmt.Errorf("handshake: %w", err)
		}
		switch {
		case bytes.HasPrefix(line, []byte(`{"id":1,`)):
			var res struct {
				Result []json.RawMessage
			}
			if err := json.Unmarshal(line, &res); err != nil || len(res.Result) < 2 {
				conn.Close()
				return nil, fmt.Errorf("subscribe answer %q", line)
			}
			_ = json.Unmarshal(res.Result[1], &m.extranonce1)
		case bytes.HasPrefix(line, []byte(`{"id":2,`)):
			if !bytes.Contains(line, []byte(`"result":true`)) {
				conn.Close()
				return nil, fmt.Errorf("authorize answer %q", line)
			}
			authorized = true
		default:
			if id, ok := notifyJobID(line); ok {
				m.jobID = id
			}
		}
	}
	_ = conn.SetReadDeadline(time.Time{})
	return m, nil
}

var notifyPrefix = []byte(`"method":"mining.notify","params":["`)

// notifyJobID is the job id of a mining.notify line, found without
// decoding the JSON: the miners' process must stay cheap.
func notifyJobID(line []byte) (string, bool) {
	i := bytes.Index(line, notifyPrefix)
	if i < 0 {
		return "", false
	}
	rest := line[i+len(notifyPrefix):]
	j := bytes.IndexByte(rest, '"')
	if j < 0 {
		return "", false
	}
	return string(rest[:j]), true
}
