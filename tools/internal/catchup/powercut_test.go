package catchup

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	nomadapi "github.com/hashicorp/nomad/api"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/scryptpool/poolmicrocloud/tools/internal/cluster"
	"github.com/scryptpool/poolmicrocloud/tools/internal/story"
	"github.com/scryptpool/poolmicrocloud/tools/internal/testenv"
)

// A whole-cluster power cut across a slot, on the production shape (three
// nodes, servers and clients, state on disk, ACLs on): Nomad's new leader
// catches up the job launched before the cut and not the one never
// launched (its servers re-stamp its registration when they replay their
// log); Run launches that one, once, and not the other. Each job gets
// exactly one launch for the slot.
func TestRunAfterAWholeClusterCut(t *testing.T) {
	pool, _ := testenv.LoadPool(t, testenv.Example(t, "dev"))
	shape := make([]cluster.Client, 3)
	for i := range shape {
		shape[i] = cluster.Client{Name: fmt.Sprintf("node-%02d", i+1), CPUMHz: 2000, MemoryMB: 1024}
	}
	c := testenv.StartCluster(t, pool, testenv.ClusterOptions{Clients: shape, Servers: 3, Production: true, ACL: true})
	admin, err := c.NomadClient()
	require.NoError(t, err)
	catcher := catchupClient(t, c, admin)

	// The next slot at least 40 s away: time to launch one job before it.
	next, err := schedule(t, "*/2 * * * *")(time.Now().Add(40 * time.Second))
	require.NoError(t, err)
	slot := next
	before := periodicJob(pool.Name+"-before", pool.Name, pool.Settings.Datacenter, time.Now())
	never := periodicJob(pool.Name+"-never", pool.Name, pool.Settings.Datacenter, time.Now())
	for _, j := range []*nomadapi.Job{before, never} {
		_, _, err = admin.Jobs().Register(j, nil)
		require.NoError(t, err)
	}
	_, _, err = admin.Jobs().PeriodicForce(*before.ID, nil)
	require.NoError(t, err)
	waitLaunches(t, admin, *before.ID, func(ls []launchStub) bool { return len(ls) == 1 && ls[0].dead })

	// The power goes 8 s before the slot and comes back 2 s after it.
	time.Sleep(time.Until(slot.Add(-8 * time.Second)))
	var names []string
	for _, n := range c.Nodes {
		names = append(names, n.Name)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	require.NoError(t, c.PowerCut(ctx, names...))
	time.Sleep(time.Until(slot.Add(2 * time.Second)))
	for _, name := range names {
		require.NoError(t, c.Boot(name))
	}
	t.Logf("power cut across slot %s; back at %s", slot.UTC().Format("15:04:05"), time.Now().UTC().Format("15:04:05"))

	log := &syncBuffer{}
	runCtx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		assert.NoError(t, Run(runCtx, catcher, pool.Name, log))
	}()
	t.Cleanup(func() { stop(); <-done; t.Logf("catch-up log:\n%s", log.String()) })

	// Each job's launch for the slot, and then nothing more for it until
	// the launch has ended and the passes it set off have gone by.
	for _, id := range []string{*before.ID, *never.ID} {
		ls := waitLaunches(t, admin, id, func(ls []launchStub) bool {
			n := 0
			for _, l := range ls {
				if l.at.After(slot) && l.dead {
					n++
				}
			}
			return n > 0
		})
		var forSlot []string
		for _, l := range ls {
			if l.at.After(slot) && l.at.Before(slot.Add(2*time.Minute)) {
				forSlot = append(forSlot, l.at.UTC().Format("15:04:05"))
			}
		}
		assert.Len(t, forSlot, 1, "%s: one launch for slot %s", id, slot.UTC().Format("15:04:05"))
		t.Logf("%s: slot %s run at %v", id, slot.UTC().Format("15:04:05"), forSlot)
	}
	assert.Contains(t, log.String(), fmt.Sprintf("catchup: %s: slot %s missed and not run since; launched once now", *never.ID, slot.UTC().Format("2006-01-02 15:04:05")),
		"Nomad launches no run for a job never launched before the cut; the catch-up does")
	assert.NotContains(t, log.String(), *before.ID+": slot", "Nomad's leader caught up the job launched before; the catch-up left it")
	assert.Equal(t, 1, strings.Count(log.String(), "launched once now"))
}

type launchStub struct {
	at   time.Time
	dead bool
}

// waitLaunches follows a job's launches with blocking queries until done
// says so, for at most 4 minutes.
func waitLaunches(t *testing.T, nomad *nomadapi.Client, id string, done func([]launchStub) bool) []launchStub {
	t.Helper()
	deadline := time.Now().Add(4 * time.Minute)
	var index uint64
	for {
		q := &nomadapi.QueryOptions{Prefix: story.LaunchPrefix(id), WaitIndex: index, WaitTime: 10 * time.Second}
		stubs, meta, err := nomad.Jobs().List(q)
		var ls []launchStub
		if err == nil {
			index = meta.LastIndex
			for _, s := range stubs {
				if at, ok := story.LaunchTime(id, s.ID); ok {
					ls = append(ls, launchStub{at: at, dead: s.Status == "dead"})
				}
			}
			if done(ls) {
				return ls
			}
		}
		require.True(t, time.Now().Before(deadline), "%s's launches: %v (last error: %v)", id, ls, err)
		if err != nil {
			time.Sleep(time.Second) // the servers are electing a leader
		}
	}
}
