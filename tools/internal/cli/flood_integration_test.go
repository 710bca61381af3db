package cli_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	nomadapi "github.com/hashicorp/nomad/api"
	"github.com/stretchr/testify/require"

	"github.com/scryptpool/poolmicrocloud/tools/internal/cluster"
	"github.com/scryptpool/poolmicrocloud/tools/internal/contract"
)

// hostileLines are messages an attacker sends the stratum port: malformed,
// non-finite, out of range, of the wrong type, oversized, out of order.
func hostileLines() []string {
	w := minerAddress + ".flood"
	return []string{
		`{"id":1,"method":"mining.suggest_difficulty","params":["NaN"]}`,
		`{"id":1,"method":"mining.suggest_difficulty","params":["Infinity"]}`,
		`{"id":1,"method":"mining.suggest_difficulty","params":[1e400]}`,
		`{"id":1,"method":"mining.suggest_difficulty","params":[-1]}`,
		`{"id":1,"method":"mining.suggest_difficulty","params":[5e-324]}`,
		`{"id":1e400,"method":"mining.subscribe","params":[]}`,
		`{"id":1,"method":"mining.subscribe","params":{"a":1}}`,
		`{"id":[1,2],"method":"mining.authorize","params":[123,null]}`,
		`{"id":1,"method":"mining.submit","params":["x","1","00","NaN","zz"]}`,
		`{"id":1,"method":"mining.authorize","params":["` + w + `","d=NaN"]}`,
		`{"id":1,"method":"mining.authorize","params":["` + w + `","d=1e308,d=-5,d=Infinity"]}`,
		`{"id":1,"method":"mining.submit","params":["` + w + `","99999999999999999999999","zzzz","ffffffff","NaN"]}`,
		`{"id":1,"method":"mining.extranonce.subscribe","params":[1e999]}`,
		`{"id":1,"method":"` + strings.Repeat("m", 3000) + `","params":[]}`,
		`{"id":1,"method":"mining.authorize","params":["` + strings.Repeat("a", 10000) + `"]}`,
		strings.Repeat("[", 4000),
		`{"id":1,"method":"mining.subscribe","params":[` + strings.Repeat("1,", 1500) + `1]}`,
		"not json at all",
		"\x00\x01\x02\xff\xfe",
		`{"id":1,"method":"mining.authorize","params":["` + minerAddress + "\u202e" + `.x","x"]}`,
	}
}

// floodTheDevPool attacks the deployed stratum server while our miner
// mines through it: every hostile message, thousands of workers on one
// connection, thousands of connections from one address. The server keeps
// running in the same task (no crash, no restart, memory within its
// limit), the attackers are refused and banned, and the miner keeps having
// shares accepted. Each attack comes from an address of its own on
// loopback (bans are per address; the miner is on 127.0.0.1).
func floodTheDevPool(t *testing.T, c *cluster.Cluster) {
	nomad, err := c.NomadClient()
	require.NoError(t, err)
	stratumAddr := serviceAddr(t, c, contract.StratumService("ltc"))
	metricsAddr := serviceAddr(t, c, contract.StratumMetricsService("ltc"))
	before := stratumTask(t, nomad)

	_, accepted, stopMining := mineInBackground(stratumAddr, minerAddress+".steady")
	defer stopMining()
	waitUntil(t, "the miner's first shares", func() bool { return accepted.Load() >= 3 })

	var wg sync.WaitGroup
	attack := func(from string, f func(dial func() (net.Conn, error))) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 5 * time.Second}
			f(func() (net.Conn, error) { return d.Dial("tcp", stratumAddr) })
		}()
	}
	// Every hostile message, each on its own connection, many times over.
	for i, line := range hostileLines() {
		from := fmt.Sprintf("127.0.1.%d", i+1)
		attack(from, func(dial func() (net.Conn, error)) {
			for round := 0; round < 5; round++ {
				conn, err := dial()
				if err != nil {
					return // refused: banned
				}
				_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
				for k := 0; k < 20; k++ {
					if _, err := io.WriteString(conn, line+"\n"); err != nil {
						break
					}
				}
				_, _ = io.Copy(io.Discard, conn) // until the server drops it or the deadline
				conn.Close()
			}
		})
	}
	// Thousands of workers on one connection. However the server ends it
	// (refused workers, then too many bad messages; or dropped for not
	// reading its answers fast enough), it authorizes at most its limit.
	var authorized, answered atomic.Int64
	attack("127.0.2.1", func(dial func() (net.Conn, error)) {
		conn, err := dial()
		if err != nil {
			return
		}
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
		read := make(chan struct{})
		go func() {
			defer close(read)
			sc := bufio.NewScanner(conn)
			for sc.Scan() {
				var answer struct {
					ID     int `json:"id"`
					Result any `json:"result"`
				}
				if json.Unmarshal(sc.Bytes(), &answer) != nil || answer.ID < 2 {
					continue // the subscribe's answer, notifications
				}
				answered.Add(1)
				if answer.Result == true {
					authorized.Add(1)
				}
			}
		}()
		bw := bufio.NewWriter(conn)
		fmt.Fprintln(bw, `{"id":1,"method":"mining.subscribe","params":[]}`)
		for n := 0; n < 20000; n++ {
			fmt.Fprintf(bw, `{"id":%d,"method":"mining.authorize","params":["%s.w%d","x"]}`+"\n", n+2, minerAddress, n)
		}
		_ = bw.Flush()
		<-read // until the server ends the connection (or the deadline)
	})
	// Thousands of connections from one address, held open.
	var held atomic.Int64
	attack("127.0.3.1", func(dial func() (net.Conn, error)) {
		var conns []net.Conn
		for n := 0; n < 2000; n++ {
			conn, err := dial()
			if err != nil {
				continue
			}
			conns = append(conns, conn)
		}
		// How many were served at all, for the log.
		for _, conn := range conns {
			_ = conn.SetDeadline(time.Now().Add(2 * time.Second))
			if _, err := io.WriteString(conn, `{"id":1,"method":"mining.subscribe","params":[]}`+"\n"); err == nil {
				if line, err := bufio.NewReader(conn).ReadString('\n'); err == nil && strings.Contains(line, `"result"`) {
					held.Add(1)
				}
			}
			conn.Close()
		}
	})
	wg.Wait()

	// The miner kept mining and keeps mining.
	after := accepted.Load()
	waitUntil(t, "the miner's shares after the flood", func() bool { return accepted.Load() >= after+3 })
	// Connections wait in the kernel's backlog until the server takes
	// them, so slots freed meanwhile let a few more in over time: the
	// refusals are the measure.
	t.Logf("the steady miner had %d shares accepted; of the one address's 2000 connections %d answered", accepted.Load(), held.Load())

	now := stratumTask(t, nomad)
	require.Equal(t, before.alloc, now.alloc, "the stratum server runs in the same allocation")
	require.Equal(t, before.restarts, now.restarts, "the stratum task did not restart (a crash or an out-of-memory kill would)")
	peak, limit := stratumMemory(t, now.alloc)
	t.Logf("stratum memory: peak %d MiB during the test, cgroup limit %d MiB (task memory_mb %d)", peak>>20, limit>>20, now.memoryMB)
	require.Positive(t, peak, "the stratum task's cgroup reports its memory")
	require.Less(t, peak, uint64(now.memoryMB)<<20, "the stratum task's memory stayed within its limit")

	metrics := metricValues(t, metricsAddr)
	t.Logf("stratum metrics after the flood: %v", metrics)
	require.Positive(t, metrics["stratum_bans_total"], "attackers were banned")
	t.Logf("20,000 authorizations on one connection: %d answered, %d authorized", answered.Load(), authorized.Load())
	require.LessOrEqual(t, authorized.Load(), int64(64), "workers one connection may authorize")
	require.Less(t, answered.Load(), int64(20000), "the server ended the connection before answering everything")
	require.Positive(t, metrics["stratum_bad_messages_total"], "hostile messages were counted")
	require.GreaterOrEqual(t, metrics[`stratum_connections_refused_total{reason="too many connections from one address"}`], 1000.0,
		"the one address's connections beyond the limit (32) were refused")
}

// stratumMemory reads the stratum task's memory cgroup: the most memory
// it held since it started, and its limit. Cgroups v1 (memory controller:
// max_usage_in_bytes, limit_in_bytes) or v2 (memory.peak, memory.max).
func stratumMemory(t *testing.T, allocID string) (peak, limit uint64) {
	t.Helper()
	glob := func(root string) []string {
		var dirs []string
		for _, depth := range []string{"", "*/", "*/*/"} {
			m, _ := filepath.Glob(root + depth + allocID + ".stratum*")
			dirs = append(dirs, m...)
		}
		return dirs
	}
	files := [2]string{"memory.max_usage_in_bytes", "memory.limit_in_bytes"}
	dirs := glob("/sys/fs/cgroup/memory/")
	if len(dirs) == 0 {
		files = [2]string{"memory.peak", "memory.max"}
		dirs = glob("/sys/fs/cgroup/")
	}
	require.Len(t, dirs, 1, "the stratum task's memory cgroup (allocation %s)", allocID)
	read := func(name string) uint64 {
		data, err := os.ReadFile(filepath.Join(dirs[0], name))
		require.NoError(t, err)
		v, err := strconv.ParseUint(strings.TrimSpace(string(data)), 10, 64)
		require.NoError(t, err, "%s: %q", name, data)
		return v
	}
	return read(files[0]), read(files[1])
}

type taskState struct {
	alloc, node string
	restarts    uint64
	memoryMB    int
}

// stratumTask is the running stratum allocation (the dev pool has one).
func stratumTask(t *testing.T, nomad *nomadapi.Client) taskState {
	t.Helper()
	stubs, _, err := nomad.Jobs().Allocations("ltc-stratum", false, nil)
	require.NoError(t, err)
	for _, s := range stubs {
		if s.ClientStatus != "running" {
			continue
		}
		a, _, err := nomad.Allocations().Info(s.ID, nil)
		require.NoError(t, err)
		st := taskState{alloc: a.ID, node: a.NodeID, restarts: a.TaskStates["stratum"].Restarts}
		if r := a.AllocatedResources.Tasks["stratum"]; r != nil {
			st.memoryMB = int(r.Memory.MemoryMB)
		}
		require.Positive(t, st.memoryMB, "the stratum task's memory limit")
		return st
	}
	require.FailNow(t, "no running stratum allocation")
	return taskState{}
}

var metricLine = regexp.MustCompile(`^(stratum_[a-z_]+(?:\{[^}]*\})?) ([0-9.e+-]+)$`)

// metricValues reads the stratum server's own counters.
func metricValues(t *testing.T, addr string) map[string]float64 {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if m := metricLine.FindStringSubmatch(sc.Text()); m != nil {
			v, err := strconv.ParseFloat(m[2], 64)
			if err == nil {
				out[m[1]] += v
			}
		}
	}
	require.NoError(t, sc.Err())
	return out
}
