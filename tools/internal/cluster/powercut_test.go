package cluster_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	consulapi "github.com/hashicorp/consul/api"
	nomadapi "github.com/hashicorp/nomad/api"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/scryptpool/poolmicrocloud/tools/internal/binaries"
	"github.com/scryptpool/poolmicrocloud/tools/internal/cluster"
	"github.com/scryptpool/poolmicrocloud/tools/internal/testenv"
)

// The production shape: three nodes that are servers and clients and a
// client, Consul's state on disk, agents configured as the Pis are. Every
// node loses power at once and comes back in a random order, seconds
// apart: both leaders are elected again with every server voting, Consul
// still holds what was written before the cut, and the job's allocations
// run again where they were, none replaced, with nobody touching anything.
func TestProductionShapeSurvivesAWholePowerCut(t *testing.T) {
	testenv.Integration(t)
	shape := make([]cluster.Client, 4)
	for i := range shape {
		shape[i] = cluster.Client{Name: fmt.Sprintf("pi-%d", i+1), CPUMHz: 4800, MemoryMB: 1024}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	c, err := cluster.Up(ctx, cluster.Spec{
		StateDir: t.TempDir(), Slot: -1, Clients: shape, Servers: 3, Production: true,
		NomadBin: testenv.Tool(t, binaries.Nomad), ConsulBin: testenv.Tool(t, binaries.Consul),
		Log: tlog{t},
	})
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		assert.NoError(t, c.Down(ctx))
	})
	require.Len(t, c.Servers(), 3)
	require.Len(t, c.Clients(), 4, "every node runs a client, the servers' too")
	for _, n := range c.Servers() {
		config, err := os.ReadFile(filepath.Join(n.Dir, "consul.hcl"))
		require.NoError(t, err)
		assert.Contains(t, string(config), "bootstrap_expect", "%s runs a Consul server", n.Name)
		assert.NotContains(t, string(config), "-dev")
	}

	nomad, err := c.NomadClient()
	require.NoError(t, err)
	consul, err := c.ConsulClient()
	require.NoError(t, err)
	_, err = consul.KV().Put(&consulapi.KVPair{Key: "powercut/before", Value: []byte("kept")}, nil)
	require.NoError(t, err)
	job := sleeper("powercut", 4)
	job.TaskGroups[0].Constraints = []*nomadapi.Constraint{nomadapi.NewConstraint("", "distinct_hosts", "true")}
	before := runUntilRunning(t, c, job)
	placed := map[string]string{}
	for _, a := range before {
		if a.ClientStatus == "running" {
			placed[a.ID] = a.NodeName
		}
	}
	require.Len(t, placed, 4)

	var names []string
	for _, n := range c.Nodes {
		names = append(names, n.Name)
	}
	sockets := 0
	for _, n := range names {
		sockets += len(pluginSockets(t, c, n))
	}
	assert.GreaterOrEqual(t, sockets, 8, "a logmon and an executor per task, their sockets in the cluster's plugin directory")
	cut := time.Now()
	require.NoError(t, c.PowerCut(ctx, names...))
	for _, n := range names {
		assert.Empty(t, pluginSockets(t, c, n), "a reboot leaves no socket of %s's killed plugins", n)
	}
	seed := time.Now().UnixNano()
	rng := rand.New(rand.NewPCG(uint64(seed), 0))
	order := rng.Perm(len(names))
	var booted []string
	for _, i := range order {
		delay := time.Duration(rng.IntN(4000)) * time.Millisecond
		time.Sleep(delay) // the power comes back to the Pis one after another
		require.NoError(t, c.Boot(names[i]))
		booted = append(booted, fmt.Sprintf("%s after %s", names[i], delay))
	}
	back := time.Now()
	t.Logf("power cut %s; back (seed %d): %s", back.Sub(cut).Round(time.Millisecond), seed, strings.Join(booted, ", "))

	// Leaders, with every server a voter.
	waitFor(ctx, t, "Nomad and Consul leaders with three voters each", func() bool {
		nl, nerr := nomad.Status().Leader()
		cl, cerr := consul.Status().Leader()
		if nerr != nil || cerr != nil || nl == "" || cl == "" {
			return false
		}
		nr, err := nomad.Operator().RaftGetConfiguration(nil)
		if err != nil || voters(len(nr.Servers), func(i int) bool { return nr.Servers[i].Voter }) != 3 {
			return false
		}
		cr, err := consul.Operator().RaftGetConfiguration(nil)
		return err == nil && voters(len(cr.Servers), func(i int) bool { return cr.Servers[i].Voter }) == 3
	})
	t.Logf("leaders with three voters each %.1f s after the last node's power came back", time.Since(back).Seconds())
	// A new leader serves its state machine as restored from its last
	// snapshot until it has applied the log after it: a default read in
	// that window answers from before the write (a cold run read nothing
	// here once). A consistent read waits for the leader to have applied
	// everything; until then Consul refuses it.
	var kv *consulapi.KVPair
	waitFor(ctx, t, "a consistent read of Consul", func() bool {
		kv, _, err = consul.KV().Get("powercut/before", &consulapi.QueryOptions{RequireConsistent: true})
		return err == nil
	})
	require.NotNil(t, kv, "Consul kept its state through the power cut")
	assert.Equal(t, "kept", string(kv.Value))

	// The same allocations run again, each restarted on its own node.
	waitFor(ctx, t, "the job's allocations running again, restarted after the cut", func() bool {
		allocs, _, err := nomad.Jobs().Allocations(*job.ID, true, nil)
		if err != nil {
			return false
		}
		running := 0
		for _, a := range allocs {
			if a.ClientStatus != "running" || placed[a.ID] == "" {
				continue
			}
			if st := a.TaskStates["t"]; st != nil && st.StartedAt.After(cut) {
				running++
			}
		}
		return running == len(placed)
	})
	t.Logf("every allocation running again %.1f s after the last node's power came back", time.Since(back).Seconds())
	allocs, _, err := nomad.Jobs().Allocations(*job.ID, true, nil)
	require.NoError(t, err)
	var ids []string
	for _, a := range allocs {
		ids = append(ids, a.ID+" "+a.ClientStatus+" on "+a.NodeName)
		assert.Equal(t, placed[a.ID], a.NodeName, "allocation %s: none replaced, none moved", a.ID)
	}
	sort.Strings(ids)
	assert.Len(t, allocs, len(placed), "allocations after the cut: %v", ids)
}

func voters(n int, voter func(int) bool) int {
	v := 0
	for i := range n {
		if voter(i) {
			v++
		}
	}
	return v
}

// waitFor polls cond until it holds or ctx ends.
func waitFor(ctx context.Context, t *testing.T, what string, cond func() bool) {
	t.Helper()
	for !cond() {
		select {
		case <-ctx.Done():
			require.FailNow(t, "gave up waiting", "for %s", what)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

type tlog struct{ t *testing.T }

func (l tlog) Write(p []byte) (int, error) {
	l.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}
