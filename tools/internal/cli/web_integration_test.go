package cli_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	consulapi "github.com/hashicorp/consul/api"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/scryptpool/poolmicrocloud/tools/internal/config"
	"github.com/scryptpool/poolmicrocloud/tools/internal/contract"
	"github.com/scryptpool/poolmicrocloud/tools/internal/ledger"
	"github.com/scryptpool/poolmicrocloud/tools/internal/localdb"
	"github.com/scryptpool/poolmicrocloud/tools/internal/testenv"
)

// httpGet is url's status and body; status 0 and the error when there is
// no answer.
func httpGet(url string) (int, string) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// poolctl web, as the web job runs it, against a real PostgreSQL and
// Consul: it serves the pool definition deploy recorded and the pool
// address the stratum servers chose, follows a new address without a
// restart, and stops cleanly on SIGTERM.
func TestWebServesTheRecordedPool(t *testing.T) {
	pg := testenv.StartPostgres(t)
	consul := testenv.StartConsul(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	db, err := pgxpool.New(ctx, pg.DSN)
	require.NoError(t, err)
	defer db.Close()
	require.NoError(t, ledger.Migrate(ctx, db), "the pool's own processes make the tables")

	pool, _, diags := config.Load(dev)
	require.False(t, diags.HasErrors(), diags.Error())
	def, err := json.Marshal(pool)
	require.NoError(t, err)
	kv := consul.Client(t).KV()
	_, err = kv.Put(&consulapi.KVPair{Key: contract.ConfigKey(pool.Name), Value: def}, nil)
	require.NoError(t, err)
	setAddress := func(addr string) {
		_, err := kv.Put(&consulapi.KVPair{Key: contract.PoolAddressKey(pool.Name, "ltc"), Value: []byte(addr)}, nil)
		require.NoError(t, err)
	}
	first, second := "rltc1qfirst", "rltc1qsecond"
	setAddress(first)

	port, err := localdb.FreePort()
	require.NoError(t, err)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	var logs strings.Builder
	cmd := exec.Command(testenv.Poolctl(t), "web", "--pool="+pool.Name, fmt.Sprintf("--listen=127.0.0.1:%d", port),
		"--database-url="+pg.DSN, "--consul-address="+consul.Addr, "--follow=1s")
	cmd.Stdout, cmd.Stderr = &logs, &logs
	require.NoError(t, cmd.Start())
	exited := make(chan struct{})
	var exitErr error
	go func() { exitErr = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		select {
		case <-exited:
		default:
			_ = cmd.Process.Kill()
			<-exited
		}
	})

	get := func(path string) (int, string) { return httpGet(base + path) }
	require.Eventually(t, func() bool { code, _ := get("/api/health-check"); return code == http.StatusOK },
		30*time.Second, 200*time.Millisecond, "the health check answers; log:\n%s", &logs)

	type poolsAnswer struct {
		Pools []struct {
			ID      string `json:"id"`
			Address string `json:"address"`
			Coin    struct{ Symbol string }
			Ports   map[string]json.RawMessage
		}
	}
	pools := func() (poolsAnswer, string) {
		var answer poolsAnswer
		code, body := get("/api/pools")
		if code == http.StatusOK {
			_ = json.Unmarshal([]byte(body), &answer)
		}
		return answer, body
	}
	answer, body := pools()
	require.Len(t, answer.Pools, 1, body)
	p := answer.Pools[0]
	assert.Equal(t, "ltc", p.ID)
	assert.Equal(t, "LTC", p.Coin.Symbol)
	assert.Contains(t, p.Ports, "3333", "the dev example's stratum port")
	assert.Equal(t, first, p.Address, "the pool address the stratum servers chose")
	code, body := get("/api/pools/ltc/blocks")
	assert.Equal(t, http.StatusOK, code, body)
	assert.JSONEq(t, "[]", body, "no block yet")
	code, body = get("/")
	assert.Equal(t, http.StatusOK, code, body)
	assert.Contains(t, body, "<html", "the front page is served beside the API")
	code, body = get("/start")
	assert.Equal(t, http.StatusOK, code, body)
	assert.Contains(t, body, "3333", "the start page names the dev example's stratum port")

	setAddress(second)
	assert.Eventually(t, func() bool { a, _ := pools(); return len(a.Pools) == 1 && a.Pools[0].Address == second }, 30*time.Second, 500*time.Millisecond,
		"a newly chosen pool address shows without a restart")

	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	select {
	case <-exited:
		assert.NoError(t, exitErr, "SIGTERM stops poolctl web cleanly; log:\n%s", &logs)
	case <-time.After(20 * time.Second):
		t.Fatalf("poolctl web did not stop on SIGTERM; log:\n%s", &logs)
	}
}
