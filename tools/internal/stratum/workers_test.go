package stratum

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// authorizeAll runs one connection that subscribes and then authorizes
// each of users, to its end, and returns the session and its answers to
// the authorizations.
func authorizeAll(t *testing.T, cfg Config, users []string) (*session, *Server, []answer) {
	t.Helper()
	var in strings.Builder
	in.WriteString(`{"id":0,"method":"mining.subscribe"}` + "\n")
	for i, u := range users {
		fmt.Fprintf(&in, `{"id":%d,"method":"mining.authorize","params":[%s,"x"]}`+"\n", i+1, rawJSONString(u))
	}
	srv := New(cfg, &fakeSink{}, &fakeSubmitter{}, nil)
	conn := newMinerConn([]byte(in.String()))
	sess, reason := srv.admit(conn)
	require.NotNil(t, sess, reason)
	sess.serve()
	answers := conn.answers(t)
	require.NotEmpty(t, answers)
	return sess, srv, answers[1:]
}

// rawJSONString quotes s as JSON without replacing invalid UTF-8, as
// json.Marshal would: what a hostile miner sends is not always UTF-8.
func rawJSONString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c < 0x20:
			fmt.Fprintf(&b, `\u%04x`, c)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}

func names(n int, format string) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = regtestAddress + "." + fmt.Sprintf(format, i)
	}
	return out
}

// One connection may carry many workers (a stratum proxy carries dozens),
// but not without bound: 20,000 names on one connection once grew the
// heap by 80 MiB. Past MaxWorkersPerConnection a new name is refused with
// code 24 and counts as misbehaviour; a name already authorized may
// authorize again.
func TestWorkersPerConnectionAreBounded(t *testing.T) {
	t.Run("20,000 names from a connection that is never dropped", func(t *testing.T) {
		cfg := testConfig()
		cfg.MaxBadMessages = math.MaxInt
		users := names(20_000, "rig%d")
		sess, srv, answers := authorizeAll(t, cfg, users)
		require.Len(t, answers, len(users), "every authorize is answered")
		assert.Equal(t, cfg.MaxWorkersPerConnection, len(sess.workers), "workers kept by the session")
		for i, a := range answers {
			if i < cfg.MaxWorkersPerConnection {
				require.Nil(t, a.Error, "worker %d: %s", i, a.line)
				continue
			}
			require.Equal(t, float64(CodeUnauthorized), a.Error[0], "worker %d: %s", i, a.line)
			require.Contains(t, a.Error[1], fmt.Sprintf("at most %d workers on one connection", cfg.MaxWorkersPerConnection))
		}
		assert.Equal(t, map[string]float64{"too many workers": float64(len(users) - cfg.MaxWorkersPerConnection)}, counts(t, srv.metrics.authorizeRefused))
	})
	t.Run("20,000 names with the default allowance of bad messages", func(t *testing.T) {
		cfg := testConfig()
		sess, srv, answers := authorizeAll(t, cfg, names(20_000, "rig%d"))
		assert.Equal(t, cfg.MaxWorkersPerConnection, len(sess.workers))
		assert.Len(t, answers, cfg.MaxWorkersPerConnection+cfg.MaxBadMessages+1, "answered until dropped")
		assert.Equal(t, map[string]float64{"too many bad messages": 1}, counts(t, srv.metrics.dropped))
	})
	t.Run("a worker already authorized authorizes again at the limit", func(t *testing.T) {
		cfg := testConfig()
		users := names(cfg.MaxWorkersPerConnection, "rig%d")
		users = append(users, users[0], " "+users[1]+" ")
		sess, _, answers := authorizeAll(t, cfg, users)
		assert.Equal(t, cfg.MaxWorkersPerConnection, len(sess.workers))
		for _, a := range answers {
			assert.Nil(t, a.Error, "%s", a.line)
		}
	})
}

// Names are refused, not cut short or stored as sent, when they are
// longer than MaxWorkerNameBytes or hold what no log or database row
// should (control characters, invalid UTF-8).
func TestWorkerNamesAreChecked(t *testing.T) {
	cases := []struct {
		user   string
		reason string // "" when accepted
		stored string
	}{
		{regtestAddress, "", regtestAddress},
		{regtestAddress + ".rig1", "", regtestAddress + ".rig1"},
		{"  " + regtestAddress + ".rig1\t", "", regtestAddress + ".rig1"},
		{regtestAddress + "." + strings.Repeat("n", MaxWorkerNameBytes), "", regtestAddress + "." + strings.Repeat("n", MaxWorkerNameBytes)},
		{regtestAddress + ".ÿrig-é", "", regtestAddress + ".ÿrig-é"},
		{regtestAddress + "." + strings.Repeat("n", MaxWorkerNameBytes+1), "name too long", ""},
		{regtestAddress + "." + strings.Repeat(" ", 3000) + "x", "name too long", ""},
		{regtestAddress + ".rig\x00", "name not printable", ""},
		{regtestAddress + ".rig\nfake log line", "name not printable", ""},
		{regtestAddress + ".rig\x1b[31m", "name not printable", ""},
		{regtestAddress + ".rig\xff", "name not printable", ""},
		{"not-an-address.rig", "not a payout address", ""},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("%.40q", tc.user), func(t *testing.T) {
			sess, srv, answers := authorizeAll(t, testConfig(), []string{tc.user})
			require.Len(t, answers, 1)
			if tc.reason == "" {
				assert.Nil(t, answers[0].Error, "%s", answers[0].line)
				require.Contains(t, sess.workers, tc.stored)
				assert.Equal(t, 1, len(sess.workers))
				return
			}
			assert.Equal(t, float64(CodeUnauthorized), answers[0].Error[0], "%s", answers[0].line)
			assert.Empty(t, sess.workers)
			assert.Equal(t, map[string]float64{tc.reason: 1}, counts(t, srv.metrics.authorizeRefused))
		})
	}
}
