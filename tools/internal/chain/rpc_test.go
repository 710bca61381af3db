package chain_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/scryptpool/poolmicrocloud/tools/internal/chain"
	"github.com/scryptpool/poolmicrocloud/tools/internal/testenv"
)

func short(t *testing.T) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 2*time.Second)
}

// Against a real regtest litecoind: answers, a refused password, an
// unknown method, a daemon that hangs (SIGSTOP) and one that is gone.
func TestAgainstLitecoind(t *testing.T) {
	if testing.Short() {
		t.Skip("starts litecoind")
	}
	l := testenv.StartLitecoind(t)
	c := l.Client()

	ctx, cancel := short(t)
	defer cancel()
	require.NoError(t, c.EnsureWallet(ctx, "pool"), "a second time is fine")
	info, err := c.BlockchainInfo(ctx)
	require.NoError(t, err)
	assert.Equal(t, "regtest", info.Chain)
	assert.False(t, info.InitialBlockDownload)
	addr, err := c.NewAddress(ctx)
	require.NoError(t, err)
	hashes, err := c.GenerateToAddress(ctx, 3, addr)
	require.NoError(t, err)
	require.Len(t, hashes, 3)
	n, err := c.BlockCount(ctx)
	require.NoError(t, err)
	assert.Equal(t, int64(3), n)
	tip, err := c.BlockTime(ctx, hashes[2])
	require.NoError(t, err)
	assert.WithinDuration(t, time.Now(), tip, 10*time.Minute)

	wrong := chain.NewClient(l.RPCAddr, l.User, "wrong")
	_, err = wrong.BlockCount(ctx)
	assert.Equal(t, chain.Auth, chain.KindOf(err), "%v", err)

	err = c.Call(ctx, "nosuchmethod", nil, nil)
	assert.Equal(t, chain.RPC, chain.KindOf(err))
	assert.Equal(t, -32601, chain.CodeOf(err))

	require.NoError(t, l.Cmd.Process.Signal(syscall.SIGSTOP))
	waitStopped(t, l.Cmd.Process.Pid)
	hung, hungCancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	_, err = c.BlockCount(hung)
	hungCancel()
	assert.Equal(t, chain.Timeout, chain.KindOf(err), "%v", err)
	require.NoError(t, l.Cmd.Process.Signal(syscall.SIGCONT))

	require.NoError(t, l.Cmd.Process.Kill())
	_ = l.Cmd.Wait()
	_, err = c.BlockCount(ctx)
	assert.Equal(t, chain.Unreachable, chain.KindOf(err), "%v", err)
}

// fakeDaemon answers what no real litecoind would: garbage and errors of
// the HTTP layer. A fake, because a real daemon cannot be made to.
func fakeDaemon(t *testing.T, status int, body string) *chain.Client {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(srv.Close)
	c := chain.NewClient(srv.Listener.Addr().String(), "u", "p")
	return c
}

func TestGarbageAnswers(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status int
		body   string
		kind   chain.Kind
	}{
		{"html", 200, "<html>proxy error</html>", chain.Garbage},
		{"binary", 200, "\x00\x01\x02\xff", chain.Garbage},
		{"empty object", 200, "{}", chain.Garbage},
		{"wrong result type", 200, `{"result":"many","error":null,"id":1}`, chain.Garbage},
		{"server error page", 500, "oops", chain.HTTPStatus},
		{"forbidden", 403, "", chain.Auth},
		{"rpc error", 500, `{"result":null,"error":{"code":-28,"message":"Loading block index..."},"id":1}`, chain.RPC},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := short(t)
			defer cancel()
			_, err := fakeDaemon(t, tc.status, tc.body).BlockCount(ctx)
			require.Error(t, err)
			assert.Equal(t, tc.kind, chain.KindOf(err), "%v", err)
		})
	}
}

// A block template of a full block (8 MB of hex) is read; any other answer
// that large is garbage. What is tested is the size, not the speed: the
// calls get a context with no deadline (tens of megabytes of JSON took
// more than the 2 s of short on a loaded machine, and the answer was a
// timeout instead of garbage).
func TestLargeAnswers(t *testing.T) {
	big := `{"result":"` + strings.Repeat("ab", 5<<20) + `","error":null,"id":1}`
	ctx := context.Background()
	var s string
	require.NoError(t, fakeDaemon(t, 200, big).Call(ctx, "getblocktemplate", nil, &s))
	assert.Len(t, s, 10<<20)
	err := fakeDaemon(t, 200, big).Call(ctx, "getblock", nil, &s)
	assert.Equal(t, chain.Garbage, chain.KindOf(err), "%v", err)
	huge := `{"result":"` + strings.Repeat("ab", 17<<20) + `","error":null,"id":1}`
	err = fakeDaemon(t, 200, huge).Call(ctx, "getblocktemplate", nil, &s)
	assert.Equal(t, chain.Garbage, chain.KindOf(err), "%v", err)
}

func TestReadCredentials(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good")
	require.NoError(t, os.WriteFile(good, []byte("pool:s3cret\n"), 0o400))
	user, pass, err := chain.ReadCredentials(good)
	require.NoError(t, err)
	assert.Equal(t, "pool", user)
	assert.Equal(t, "s3cret", pass)
	bad := filepath.Join(dir, "bad")
	require.NoError(t, os.WriteFile(bad, []byte("no-colon"), 0o400))
	_, _, err = chain.ReadCredentials(bad)
	assert.Error(t, err)
}

// waitStopped waits until every thread of pid is stopped: kill(SIGSTOP)
// returns before the signal has reached all of them, and a thread still
// running could answer.
func waitStopped(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/stat", pid))
		require.NoError(t, err)
		stopped := len(tasks) > 0
		for _, task := range tasks {
			b, err := os.ReadFile(task)
			// The state follows the command name in parentheses.
			if i := strings.LastIndexByte(string(b), ')'); err != nil || i < 0 || i+2 >= len(b) || (b[i+2] != 'T' && b[i+2] != 't') {
				stopped = false
			}
		}
		if stopped {
			return
		}
		require.True(t, time.Now().Before(deadline), "litecoind (pid %d) did not stop", pid)
		time.Sleep(5 * time.Millisecond)
	}
}
