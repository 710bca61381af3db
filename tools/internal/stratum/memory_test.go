package stratum

import (
	"fmt"
	"log/slog"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// connectionMemory opens n connections that each do what prepare writes,
// and returns the Go memory (heap and stacks in use, after a collection)
// they hold, per connection. The test's own ends of the connections are
// counted too, a few hundred bytes: the figure errs high.
func connectionMemory(t *testing.T, n int, prepare func(i int) string, answers int) float64 {
	t.Helper()
	cfg := testConfig()
	cfg.MaxConnections, cfg.MaxConnectionsPerIP = 0, 0
	cfg.MaxBadMessages = 1 << 30
	h := startServer(t, cfg)
	h.srv.Publish(work(t, tipA, hardBits), "w1", true)

	before := settledGoMemory()
	conns := make([]net.Conn, n)
	for i := range conns {
		conn, err := net.Dial("tcp", h.addr)
		require.NoError(t, err)
		conns[i] = conn
		_, err = conn.Write([]byte(prepare(i)))
		require.NoError(t, err)
		// Read the answers (and the job and difficulty) so that nothing
		// waits in a write, counting lines.
		buf := make([]byte, 64<<10)
		lines := 0
		_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		for lines < answers {
			k, err := conn.Read(buf)
			require.NoError(t, err, "connection %d after %d lines", i, lines)
			lines += strings.Count(string(buf[:k]), "\n")
		}
	}
	require.Equal(t, n, h.srv.Connections())
	after := settledGoMemory()
	for _, c := range conns {
		c.Close()
	}
	return float64(after-before) / float64(n)
}

func settledGoMemory() uint64 {
	var m runtime.MemStats
	for i := 0; i < 3; i++ {
		runtime.GC()
	}
	runtime.ReadMemStats(&m)
	return m.HeapAlloc + m.StackInuse
}

// The memory figures the connection cap is sized with: a miner as most
// are, and a connection holding all that the limits let it hold.
func TestConnectionMemory(t *testing.T) {
	const n = 300
	subscribe := `{"id":1,"method":"mining.subscribe","params":["cgminer/4.11"]}` + "\n"
	miner := connectionMemory(t, n, func(int) string {
		return subscribe + `{"id":2,"method":"mining.authorize","params":["` + regtestAddress + `.rig1","x"]}` + "\n"
	}, 4)
	worst := connectionMemory(t, n, func(i int) string {
		var b strings.Builder
		b.WriteString(subscribe)
		for w := 0; w < DefaultConfig().MaxWorkersPerConnection; w++ {
			name := fmt.Sprintf("%d-%d-", i, w)
			name += strings.Repeat("w", MaxWorkerNameBytes-len(name))
			fmt.Fprintf(&b, `{"id":%d,"method":"mining.authorize","params":["%s.%s","x"]}`+"\n", w+2, regtestAddress, name)
		}
		// A message left unfinished: the line buffer at its largest.
		b.WriteString(`{"id":1,"method":"mining.subscribe","params":["` + strings.Repeat("a", MaxLineBytes-60))
		return b.String()
	}, 3+DefaultConfig().MaxWorkersPerConnection)
	t.Logf("Go memory per connection: %.1f KiB for a miner, %.1f KiB for one holding all the limits allow (%d connections)", miner/1024, worst/1024, n)
	if raceEnabled {
		t.Skip("the race detector inflates memory: the figures above are not the server's")
	}
	require.LessOrEqual(t, worst+maxHeldBytes, float64(connectionBytes), "connectionBytes, what the connection cap is sized with, is below what a connection can hold")
}

// MaxConnections is sized to the task's memory when it is known, and the
// log says so once.
func TestConnectionsSizedToMemory(t *testing.T) {
	cases := []struct {
		limitMiB, asked int
		want            int
		log             string
	}{
		{0, 20000, 20000, ""},
		{128, 20000, 1280, `level=INFO msg="connection limit lowered to fit the task's memory" memory_limit_mib=128 per_connection_kib=48 reserved_mib=48 max_connections=1280 asked=20000`},
		{128, 0, 1280, `level=INFO msg="connection limit lowered to fit the task's memory" memory_limit_mib=128 per_connection_kib=48 reserved_mib=48 max_connections=1280 asked=0`},
		{128, 500, 500, `level=INFO msg="connection limit fits the task's memory" memory_limit_mib=128 per_connection_kib=48 reserved_mib=48 max_connections=500 would_fit=1280`},
		{1024, 20000, 15616, `level=INFO msg="connection limit lowered to fit the task's memory" memory_limit_mib=1024 per_connection_kib=48 reserved_mib=48 max_connections=15616 asked=20000`},
		{2048, 20000, 20000, `level=INFO msg="connection limit fits the task's memory" memory_limit_mib=2048 per_connection_kib=48 reserved_mib=48 max_connections=20000 would_fit=32000`},
		{32, 20000, 64, `level=WARN msg="the task's memory is below what the stratum server needs; raise the stratum task's memory" memory_limit_mib=32 per_connection_kib=48 reserved_mib=48 max_connections=64 needs_mib=52`},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("%d MiB, %d asked", tc.limitMiB, tc.asked), func(t *testing.T) {
			var log strings.Builder
			cfg := testConfig()
			cfg.Log = slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{ReplaceAttr: dropTime}))
			cfg.MemoryLimitMiB, cfg.MaxConnections = tc.limitMiB, tc.asked
			srv := New(cfg, &fakeSink{}, &fakeSubmitter{}, nil)
			assert.Equal(t, tc.want, srv.cfg.MaxConnections)
			want := ""
			if tc.log != "" {
				want = tc.log + "\n"
			}
			assert.Equal(t, want, log.String())
		})
	}
}

func dropTime(_ []string, a slog.Attr) slog.Attr {
	if a.Key == slog.TimeKey {
		return slog.Attr{}
	}
	return a
}
