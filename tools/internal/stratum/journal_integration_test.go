package stratum_test

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/scryptpool/poolmicrocloud/tools/internal/miner"
	"github.com/scryptpool/poolmicrocloud/tools/internal/stratum"
	"github.com/scryptpool/poolmicrocloud/tools/internal/testenv"
)

// syncBuffer collects a process's output for the test to read while it
// runs.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestAcceptedSharesSurviveAKill: `poolctl stratum` with its share journal
// accepts shares while the database is down and is then killed with
// SIGKILL, as a power cut would end it. Every share the miner was told
// was accepted is in the database after the next start, once.
func TestAcceptedSharesSurviveAKill(t *testing.T) {
	testenv.Integration(t)
	ctx := context.Background()
	a, b := testenv.StartLitecoind(t), testenv.StartLitecoind(t)
	a.ConnectTo(t, b)
	poolAddress, err := a.Client().NewAddress(ctx)
	require.NoError(t, err)
	minerAddress, err := b.Client().NewAddress(ctx)
	require.NoError(t, err)
	db := testenv.StartPostgres(t)
	poolctl := testenv.Poolctl(t)
	dir := t.TempDir()
	credentials := filepath.Join(dir, "wallet.credentials")
	require.NoError(t, os.WriteFile(credentials, []byte(a.User+":"+a.Password+"\n"), 0o600))
	journalDir := filepath.Join(dir, "share-journal")
	listen := freeAddr(t)

	start := func() (*exec.Cmd, *syncBuffer) {
		out := &syncBuffer{}
		// The difficulty is held at 0.01 at most: vardiff would raise
		// it until a share comes once per target interval, and the test
		// waits for ten shares in a minute while the database is down.
		cmd := exec.Command(poolctl, "stratum", "--coin=ltc", "--network=regtest", "--instance=kill",
			"--listen="+listen, "--metrics-listen="+freeAddr(t),
			"--wallet="+a.RPCAddr, "--wallet="+b.RPCAddr, "--credentials="+credentials,
			"--database-url="+db.DSN, "--pool-address="+poolAddress,
			"--difficulty=0.01", "--min-difficulty=0.001", "--max-difficulty=0.01", "--share-journal="+journalDir)
		cmd.Stdout, cmd.Stderr = out, out
		require.NoError(t, cmd.Start())
		t.Cleanup(func() {
			if cmd.ProcessState == nil {
				_ = cmd.Process.Kill()
				_ = cmd.Wait()
			}
		})
		waitFor(t, "the stratum check", func() bool { return stratum.Check(ctx, listen, time.Second) == nil })
		return cmd, out
	}
	stored := func() int64 {
		conn, err := pgx.Connect(ctx, db.DSN)
		if err != nil {
			return -1
		}
		defer conn.Close(ctx)
		var n int64
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM shares`).Scan(&n); err != nil {
			return -1
		}
		return n
	}

	first, firstOut := start()
	var accepted atomic.Int64
	m := miner.New(miner.Options{
		Addr: listen, User: minerAddress + ".rig1", Password: "x", Threads: 1,
		Log: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})),
		OnEvent: func(e miner.Event) {
			if e.Kind == "accepted" {
				accepted.Add(1)
			}
		},
	})
	mineCtx, stopMining := context.WithCancel(ctx)
	mined := make(chan struct{})
	go func() {
		defer close(mined)
		_ = m.Run(mineCtx)
	}()
	t.Cleanup(func() {
		stopMining()
		<-mined
	})

	waitFor(t, "shares stored while the database is up", func() bool { return stored() >= 20 })
	db.Stop()
	before := accepted.Load()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("the first server's output:\n%s", firstOut.String())
		}
	})
	waitFor(t, "shares accepted while the database is down", func() bool { return accepted.Load() >= before+10 })
	require.NoError(t, first.Process.Signal(syscall.SIGKILL))
	_ = first.Wait()
	stopMining()
	<-mined
	acked := accepted.Load()
	t.Logf("acknowledged %d shares, %d of them while the database was down", acked, acked-before)
	assert.NotContains(t, firstOut.String(), "share refused")

	db.Start()
	second, secondOut := start()
	waitFor(t, "the replayed shares in the database", func() bool { return stored() >= acked })
	assert.Contains(t, secondOut.String(), "journal replayed")
	require.NoError(t, second.Process.Signal(syscall.SIGTERM))
	require.NoError(t, second.Wait(), secondOut.String())

	conn, err := pgx.Connect(ctx, db.DSN)
	require.NoError(t, err)
	defer conn.Close(ctx)
	var rows int64
	require.NoError(t, conn.QueryRow(ctx, `SELECT count(*) FROM shares`).Scan(&rows))
	assert.GreaterOrEqual(t, rows, acked, "every acknowledged share is stored")
	entries, err := os.ReadDir(journalDir)
	require.NoError(t, err)
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".journal") {
			fi, err := e.Info()
			require.NoError(t, err)
			assert.Zero(t, fi.Size(), "after a clean stop with the database up, the journal holds nothing: %s", e.Name())
		}
	}
}
