package main

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"os"
	"sync"

	"github.com/scryptpool/poolmicrocloud/tools/internal/chain"
)

// sharesClient is the miners' process of the share phase: it solves its
// shares before the clock starts, then sends them all as fast as the
// server takes them.
func sharesClient() error {
	addr := os.Getenv("BENCH_STRATUM_ADDR")
	conns, total := envInt("CONNS"), envInt("SHARES")
	cmds := commands()
	w, err := benchWork(0)
	if err != nil {
		return err
	}
	miners := make([]*minerConn, conns)
	for i := range miners {
		if miners[i], err = handshake(addr, true); err != nil {
			return err
		}
		defer miners[i].conn.Close()
	}
	target := chain.TargetForDifficulty(shareDifficulty)
	batches := make([][]byte, conns)
	var wg sync.WaitGroup
	for i, m := range miners {
		wg.Add(1)
		go func() {
			defer wg.Done()
			en1, _ := hex.DecodeString(m.extranonce1)
			var buf bytes.Buffer
			for k := 0; k < total/conns; k++ {
				en2 := []byte{byte(k >> 24), byte(k >> 16), byte(k >> 8), byte(k)}
				extranonce := append(append([]byte{}, en1...), en2...)
				for nonce := uint32(0); ; nonce++ {
					header := w.Header(extranonce, w.CurTime, nonce, w.Version)
					if chain.HashValue(chain.ScryptHash(header)).Cmp(target) <= 0 {
						fmt.Fprintf(&buf, `{"id":%d,"method":"mining.submit","params":["%s","%s","%x","%08x","%08x"]}`+"\n",
							k+10, payoutAddress, m.jobID, en2, w.CurTime, nonce)
						break
					}
				}
			}
			batches[i] = buf.Bytes()
		}()
	}
	wg.Wait()
	fmt.Println("ready")
	if cmd := <-cmds; cmd != "go" {
		return fmt.Errorf("expected go, got %q", cmd)
	}
	var mu sync.Mutex
	accepted, rejected := 0, 0
	errs := make(chan error, 2*conns)
	for i, m := range miners {
		wg.Add(2)
		go func() {
			defer wg.Done()
			if _, err := m.conn.Write(batches[i]); err != nil {
				errs <- err
			}
		}()
		go func() {
			defer wg.Done()
			ok, bad := 0, 0
			for ok+bad < total/conns {
				line, err := m.r.ReadSlice('\n')
				if err != nil {
					errs <- err
					return
				}
				switch {
				case bytes.Contains(line, []byte(`"result":true`)):
					ok++
				case bytes.Contains(line, []byte(`"error":[`)):
					bad++
				}
			}
			mu.Lock()
			accepted, rejected = accepted+ok, rejected+bad
			mu.Unlock()
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return err
	}
	fmt.Printf("done %d %d\n", accepted, rejected)
	for range cmds {
	}
	return nil
}
