package catchup

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	nomadapi "github.com/hashicorp/nomad/api"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/scryptpool/poolmicrocloud/tools/internal/cluster"
	"github.com/scryptpool/poolmicrocloud/tools/internal/contract"
	"github.com/scryptpool/poolmicrocloud/tools/internal/story"
	"github.com/scryptpool/poolmicrocloud/tools/internal/testenv"
)

// syncBuffer is a log both Run and the test touch.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// The case Nomad's own catch-up skips, for real, on a Nomad with ACLs
// on: a run under way (prohibit_overlap) makes Nomad skip a slot; once
// the run ends, Run launches the job once for that slot, with a token
// that may only list, read and force jobs. A job of another pool skipped
// the same way is left alone.
func TestRunCatchesUpASkippedSlot(t *testing.T) {
	pool, jobs := testenv.LoadPool(t, testenv.Example(t, "dev"))
	c := testenv.StartCluster(t, pool, testenv.ClusterOptions{Clients: cluster.ModelClients(pool, jobs)[:1], ACL: true})
	admin, err := c.NomadClient()
	require.NoError(t, err)

	catcher := catchupClient(t, c, admin)

	// The first run, forced now, lasts until 8 s after the next slot
	// at least 20 s away; later runs end at once.
	now := time.Now()
	next, err := schedule(t, "*/2 * * * *")(now.Add(20 * time.Second))
	require.NoError(t, err)
	slot := next
	ours := periodicJob(pool.Name+"-tick", pool.Name, pool.Settings.Datacenter, slot.Add(8*time.Second))
	theirs := periodicJob("other-tick", "other", pool.Settings.Datacenter, slot.Add(8*time.Second))
	for _, j := range []*nomadapi.Job{ours, theirs} {
		_, _, err = admin.Jobs().Register(j, nil)
		require.NoError(t, err)
		_, _, err = admin.Jobs().PeriodicForce(*j.ID, nil)
		require.NoError(t, err)
	}
	t.Logf("first runs forced at %s; slot %s is skipped while they run", now.UTC().Format("15:04:05"), slot.UTC().Format("15:04:05"))

	log := &syncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		assert.NoError(t, Run(ctx, catcher, pool.Name, log))
	}()
	t.Cleanup(func() { cancel(); <-done; t.Logf("catch-up log:\n%s", log.String()) })

	// Follow the jobs until ours has a launch after the slot and that
	// launch has ended, and a few passes have followed it.
	offSchedule := func(id string) []time.Time {
		stubs, _, err := admin.Jobs().PrefixList(story.LaunchPrefix(id))
		require.NoError(t, err)
		var out []time.Time
		for _, s := range stubs {
			if l, ok := story.LaunchTime(id, s.ID); ok && l.After(slot) && l.Before(slot.Add(2*time.Minute)) {
				out = append(out, l)
			}
		}
		return out
	}
	waitLaunches(t, admin, *ours.ID, func(ls []launchStub) bool {
		for _, l := range ls {
			if l.at.After(slot) && l.dead {
				return strings.Contains(log.String(), "launched once now")
			}
		}
		return false
	})
	// The slot's run came once, after the first run ended, and no more
	// came while the passes its launch set off went by; the other pool's
	// job got none.
	launched := offSchedule(*ours.ID)
	require.Len(t, launched, 1, "one launch for slot %s", slot.UTC().Format("15:04:05"))
	assert.False(t, launched[0].Before(slot.Add(8*time.Second)), "launched %s, before the run under way ended", launched[0])
	assert.Empty(t, offSchedule(*theirs.ID), "another pool's job is not this pool's to catch up")
	assert.Equal(t, 1, strings.Count(log.String(), "launched once now"))
	assert.Contains(t, log.String(), fmt.Sprintf("catchup: %s: slot %s missed", *ours.ID, slot.UTC().Format("2006-01-02 15:04:05")))
	t.Logf("slot %s skipped by Nomad; run once at %s", slot.UTC().Format("15:04:05"), launched[0].UTC().Format("15:04:05"))
}

// catchupClient is a client with a token holding the catch-up's policy
// and nothing else.
func catchupClient(t *testing.T, c *cluster.Cluster, admin *nomadapi.Client) *nomadapi.Client {
	t.Helper()
	_, err := admin.ACLPolicies().Upsert(&nomadapi.ACLPolicy{Name: "catchup", Rules: string(contract.CatchupPolicy())}, nil)
	require.NoError(t, err)
	tok, _, err := admin.ACLTokens().Create(&nomadapi.ACLToken{Name: "catchup", Type: "client", Policies: []string{"catchup"}}, nil)
	require.NoError(t, err)
	cfg := nomadapi.DefaultConfig()
	cfg.Address, cfg.Region, cfg.SecretID, cfg.TLSConfig = c.NomadAddr(), c.Region, tok.SecretID, &nomadapi.TLSConfig{}
	catcher, err := nomadapi.NewClient(cfg)
	require.NoError(t, err)
	return catcher
}

// periodicJob is a batch job launched every two minutes, one run at a
// time, whose runs last until end.
func periodicJob(id, pool, dc string, end time.Time) *nomadapi.Job {
	job := nomadapi.NewBatchJob(id, id, "global", 50)
	job.Datacenters = []string{dc}
	job.Meta = map[string]string{contract.MetaPool: pool}
	job.Periodic = &nomadapi.PeriodicConfig{
		SpecType:        ptr(nomadapi.PeriodicSpecCron),
		Spec:            ptr("*/2 * * * *"),
		ProhibitOverlap: ptr(true),
		TimeZone:        ptr("UTC"),
	}
	task := nomadapi.NewTask("run", "exec")
	task.Config = map[string]any{
		"command": "/bin/sh",
		"args":    []string{"-c", fmt.Sprintf(`left=$((%d - $(date +%%s))); [ "$left" -gt 0 ] && sleep "$left"; exit 0`, end.Unix())},
	}
	task.Resources = &nomadapi.Resources{CPU: ptr(20), MemoryMB: ptr(32)}
	group := nomadapi.NewTaskGroup("run", 1).AddTask(task)
	group.RestartPolicy = &nomadapi.RestartPolicy{Attempts: ptr(0), Mode: ptr("fail")}
	group.EphemeralDisk = &nomadapi.EphemeralDisk{SizeMB: ptr(50)}
	task.LogConfig = &nomadapi.LogConfig{MaxFiles: ptr(1), MaxFileSizeMB: ptr(5)}
	return job.AddTaskGroup(group)
}
