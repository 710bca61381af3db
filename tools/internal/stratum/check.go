package stratum

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"time"
)

// ErrNoWork is a server that answers miners but has no work to give them
// yet: no wallet is in service (a new pool's wallets still downloading the
// chain, or every wallet down).
var ErrNoWork = errors.New("waiting for a wallet in service")

// Check does what a miner does first: subscribe, and wait for the
// subscription's answer and a mining.notify. A server that accepts TCP
// but has no work (no wallet) fails it with ErrNoWork, which a port check
// cannot see.
func Check(ctx context.Context, addr string, timeout time.Duration) error {
	d := net.Dialer{Timeout: timeout}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(timeout))
	if _, err := conn.Write([]byte(`{"id":1,"method":"mining.subscribe","params":["poolctl-check"]}` + "\n")); err != nil {
		return fmt.Errorf("send mining.subscribe: %w", err)
	}
	r := bufio.NewReaderSize(conn, 4096)
	subscribed := false
	for {
		line, err := r.ReadBytes('\n')
		if err != nil {
			if !subscribed {
				return fmt.Errorf("no answer to mining.subscribe: %w", err)
			}
			return fmt.Errorf("subscribed, but no mining.notify (no work: is a wallet in service?): %w: %w", ErrNoWork, err)
		}
		var msg struct {
			ID     json.RawMessage `json:"id"`
			Method string          `json:"method"`
			Error  json.RawMessage `json:"error"`
		}
		if err := json.Unmarshal(line, &msg); err != nil {
			return fmt.Errorf("answer is not JSON: %q", line)
		}
		switch {
		case string(msg.ID) == "1":
			if len(msg.Error) > 0 && string(msg.Error) != "null" {
				return fmt.Errorf("mining.subscribe refused: %s", msg.Error)
			}
			subscribed = true
		case msg.Method == "mining.notify":
			if !subscribed {
				return fmt.Errorf("mining.notify before the answer to mining.subscribe")
			}
			return nil
		}
	}
}
