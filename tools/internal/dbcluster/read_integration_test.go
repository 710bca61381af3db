package dbcluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	consulapi "github.com/hashicorp/consul/api"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/scryptpool/poolmicrocloud/tools/internal/aclcheck"
	"github.com/scryptpool/poolmicrocloud/tools/internal/contract"
	"github.com/scryptpool/poolmicrocloud/tools/internal/testenv"
)

// Two real Patroni members on a real Consul agent, keys where the
// contract puts them: the view names the primary and a synchronous
// standby with no lag, as the members' own REST APIs do; once the standby
// loses power (Patroni and PostgreSQL killed), the view says commits are
// acknowledged by the primary alone.
func TestReadRealPatroniCluster(t *testing.T) {
	testenv.Integration(t)
	consul := testenv.StartConsul(t)
	kv := consul.Client(t).KV()
	const pool = "scryptpool"
	started := time.Now()
	members := testenv.StartPatroni(t, consul.Addr, pool, "pi-01", "pi-02")
	byName := map[string]*testenv.Patroni{}
	for _, m := range members {
		byName[m.Name] = m
	}

	v := waitForView(t, kv, pool, members, "a primary and a synchronous standby with no lag", func(v *View) bool {
		if v.Judge().Health != Healthy || len(v.SyncStandbys) != 1 {
			return false
		}
		s := v.Member(v.SyncStandbys[0])
		return s != nil && s.Lag == 0
	})
	t.Logf("healthy %s after the members started:\n%s", time.Since(started).Round(100*time.Millisecond), render(v))
	primary, standby := byName[v.Leader], byName[v.SyncStandbys[0]]
	require.NotNil(t, primary, "the leader key names a member the test started: %q", v.Leader)
	require.NotNil(t, standby, "the sync key names a member the test started: %q", v.SyncStandbys[0])
	require.NotEqual(t, primary, standby)
	assert.True(t, primary.Answers("/primary"), "%s's REST API says it is the primary", primary.Name)
	// A member's REST API answers from what its last HA loop read of the
	// keys: up to loop_wait behind them.
	assert.Eventually(t, func() bool { return standby.Answers("/sync") }, 15*time.Second, 250*time.Millisecond,
		"%s's REST API says it is a synchronous standby", standby.Name)
	for _, m := range members {
		got := v.Member(m.Name)
		require.NotNil(t, got, "member %s", m.Name)
		assert.Equal(t, fmt.Sprintf("127.0.0.1:%d", m.PGPort), got.Address, "member %s", m.Name)
		assert.Equal(t, "running", got.State, "member %s", m.Name)
		assert.Positive(t, got.Timeline, "member %s", m.Name)
	}
	assert.Equal(t, Primary, v.Member(primary.Name).Role)
	assert.Equal(t, SyncStandby, v.Member(standby.Name).Role)
	assert.Equal(t, keyStatus, v.PositionFrom, "the leader's position comes from the status key")
	assert.True(t, v.Config.Known && v.Config.SynchronousMode && !v.Config.Strict, "%+v", v.Config)
	assert.Empty(t, v.Notes)

	standby.Kill()
	killed := time.Now()
	v = waitForView(t, kv, pool, []*testenv.Patroni{primary}, "commits acknowledged by the primary alone", func(v *View) bool {
		return v.Judge().Health == Async
	})
	t.Logf("degraded-async %s after %s lost power:\n%s", time.Since(killed).Round(100*time.Millisecond), standby.Name, render(v))
	assert.Equal(t, primary.Name, v.Leader)
	assert.Empty(t, v.SyncStandbys)
	assert.True(t, v.Judge().Loud)
	assert.Contains(t, v.Judge().Line, "acknowledged by "+primary.Name+" alone")
}

// A token that may not read the keys gets no view, never an empty one:
// Consul answers the list as if there were no keys to a token that may
// read none (the anonymous one here), leaves out, with only a header to
// say so, what a token may not read, and refuses (403) a token it does not
// know. With the operator's grant, the keys are read.
func TestReadRefusedToken(t *testing.T) {
	consul := testenv.StartConsulWithACLs(t)
	const pool = "scryptpool"
	admin := consul.Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	token := func(prefix string) string {
		policy, _, err := admin.ACL().PolicyCreate(&consulapi.ACLPolicy{Name: "read-" + strings.ReplaceAll(strings.Trim(prefix, "/"), "/", "-"),
			Rules: fmt.Sprintf("key_prefix %q { policy = \"read\" }", prefix)}, nil)
		require.NoError(t, err)
		tok, _, err := admin.ACL().TokenCreate(&consulapi.ACLToken{Policies: []*consulapi.ACLTokenPolicyLink{{ID: policy.ID}}}, nil)
		require.NoError(t, err)
		return tok.SecretID
	}
	operator := token(contract.KVRoot(pool))
	membersOnly := token(contract.DatabaseDCSKey(pool, keyMembers))

	v, err := Read(ctx, consul.ClientWithToken(t, operator).KV(), pool, 2)
	require.NoError(t, err, "nothing written yet")
	assert.Equal(t, NotBootstrapped, v.Judge().Health)

	for k, value := range healthy() {
		_, err := admin.KV().Put(&consulapi.KVPair{Key: contract.DatabaseDCSKey(pool, k), Value: []byte(value)}, nil)
		require.NoError(t, err)
	}
	v, err = Read(ctx, consul.ClientWithToken(t, operator).KV(), pool, 2)
	require.NoError(t, err, "the operator's grant: every key under the pool's root")
	assert.Equal(t, "pi-03", v.Leader)
	assert.Equal(t, []string{"pi-07"}, v.SyncStandbys)

	_, err = Read(ctx, consul.ClientWithToken(t, "").KV(), pool, 2)
	require.Error(t, err, "the anonymous token")
	t.Logf("the anonymous token: %v", err)
	assert.True(t, aclcheck.Forbidden(err), "reported as a missing permission: %v", err)

	_, err = Read(ctx, consul.ClientWithToken(t, membersOnly).KV(), pool, 2)
	require.Error(t, err, "a token that may read the member keys only")
	t.Logf("a token that may read the member keys only: %v", err)
	assert.ErrorIs(t, err, ErrFiltered)
	assert.True(t, aclcheck.Forbidden(err), "reported as a missing permission: %v", err)

	_, err = Read(ctx, consul.ClientWithToken(t, "6a1f3c2e-0000-4000-8000-000000000000").KV(), pool, 2)
	require.Error(t, err, "a token Consul does not know")
	t.Logf("a token Consul does not know: %v", err)
	assert.True(t, aclcheck.Forbidden(err), "a 403: %v", err)
}

// waitForView follows the keys with blocking queries until the view
// satisfies done, and fails when a member's Patroni exits on its own or a
// minute passes.
func waitForView(t *testing.T, kv *consulapi.KV, pool string, running []*testenv.Patroni, what string, done func(*View) bool) *View {
	t.Helper()
	ctx, cancel := context.WithTimeoutCause(context.Background(), time.Minute, errors.New("out of time"))
	defer cancel()
	ctx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	for _, m := range running {
		go func() {
			select {
			case <-m.Exited():
				stop(fmt.Errorf("patroni %s exited:\n%s", m.Name, m.LogTail()))
			case <-ctx.Done():
			}
		}()
	}
	var last *View
	var index uint64
	for {
		v, err := read(ctx, kv, pool, 2, index)
		if ctx.Err() != nil {
			require.FailNow(t, "waiting for "+what, "%v; last view:\n%s", context.Cause(ctx), render(last))
		}
		require.NoError(t, err)
		if done(v) {
			return v
		}
		last = v
		// A smaller index means the agent's state was reset: start over.
		if v.Index < index {
			index = 0
		} else {
			index = v.Index
		}
	}
}

func render(v *View) string {
	if v == nil {
		return "(none)"
	}
	var b bytes.Buffer
	v.Write(&b)
	return b.String()
}
