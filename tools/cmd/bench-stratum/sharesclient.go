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
	// Each "go N" sends the next N shares on every connection, all at
	// once as a miner with a backlog would, and reads their answers.
	sent := make([]int, conns) // bytes of each batch already sent
	for cmd := range cmds {
		var n int
		if _, err := fmt.Sscanf(cmd, "go %d", &n); err != nil {
			return fmt.Errorf("expected go N, got %q", cmd)
		}
		var mu sync.Mutex
		accepted, rejected := 0, 0
		errs := make(chan error, 2*conns)
		for i, m := range miners {
			chunk := batches[i][sent[i]:]
			for k, lines := 0, 0; k < len(chunk); k++ {
				if chunk[k] == '\n' {
					if lines++; lines == n {
						chunk = chunk[:k+1]
						break
					}
				}
			}
			sent[i] += len(chunk)
			wg.Add(2)
			go func() {
				defer wg.Done()
				if _, err := m.conn.Write(chunk); err != nil {
					errs <- err
				}
			}()
			go func() {
				defer wg.Done()
				ok, bad := 0, 0
				for ok+bad < n {
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
	}
	return nil
}
