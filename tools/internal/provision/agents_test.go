package provision

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	consulapi "github.com/hashicorp/consul/api"
	nomadapi "github.com/hashicorp/nomad/api"
	"github.com/stretchr/testify/require"
)

// nodeAgents are the two agents of a node, started from what the playbook
// wrote into its root.
type nodeAgents struct {
	consul, nomad *agent
}

func (c *testCluster) startAgents(t *testing.T, n *testNode) *nodeAgents {
	t.Helper()
	logs := filepath.Join(c.dir, "logs")
	require.NoError(t, os.MkdirAll(logs, 0o755))
	a := &nodeAgents{}
	a.consul = startAgent(t, "consul "+n.name, n.root, filepath.Join(logs, n.name+"-consul.log"),
		"setpriv", "--reuid=consul", "--regid=consul", "--init-groups", "/usr/bin/consul", "agent", "-config-dir=/etc/consul.d")
	a.nomad = startAgent(t, "nomad "+n.name, n.root, filepath.Join(logs, n.name+"-nomad.log"),
		"/usr/bin/nomad", "agent", "-config=/etc/nomad.d")
	t.Cleanup(func() {
		if t.Failed() {
			for _, f := range []string{n.name + "-consul.log", n.name + "-nomad.log"} {
				data, _ := os.ReadFile(filepath.Join(logs, f))
				t.Logf("--- %s (last 3000 bytes)\n%s", f, tail(string(data), 3000))
			}
		}
	})
	return a
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

func (c *testCluster) caFile() string { return filepath.Join(c.secrets, "pki", "ca.pem") }

// consulClient talks to a node's Consul over HTTPS with the given token
// ("" is anonymous), ignoring the caller's CONSUL_* environment.
func (c *testCluster) consulClient(t *testing.T, n *testNode, token string) *consulapi.Client {
	t.Helper()
	cfg := consulapi.DefaultNonPooledConfig()
	cfg.Address = n.addr + ":8501"
	cfg.Scheme = "https"
	cfg.Token = token
	cfg.TokenFile = ""
	cfg.Namespace, cfg.Partition = "", ""
	cfg.TLSConfig = consulapi.TLSConfig{CAFile: c.caFile()}
	client, err := consulapi.NewClient(cfg)
	require.NoError(t, err)
	return client
}

// nomadClient talks to a node's Nomad over HTTPS with the given token.
func (c *testCluster) nomadClient(t *testing.T, n *testNode, token string) *nomadapi.Client {
	t.Helper()
	cfg := nomadapi.DefaultConfig()
	cfg.Address = "https://" + n.addr + ":4646"
	cfg.SecretID = token
	cfg.Namespace, cfg.Region = "", ""
	cfg.TLSConfig = &nomadapi.TLSConfig{CACert: c.caFile()}
	client, err := nomadapi.NewClient(cfg)
	require.NoError(t, err)
	return client
}

// rootToken reads a token the acl role kept on the first server, checking
// only root can read it.
func rootToken(t *testing.T, n *testNode, name string) string {
	t.Helper()
	path := filepath.Join(n.root, "etc/pool/tokens", name+".token")
	st, err := os.Stat(path)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), st.Mode().Perm(), path)
	dir, err := os.Stat(filepath.Dir(path))
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o700), dir.Mode().Perm())
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	return strings.TrimSpace(string(data))
}

func requireForbidden(t *testing.T, err error, what string) {
	t.Helper()
	require.Error(t, err, "%s was allowed", what)
	require.True(t, strings.Contains(err.Error(), "403") || strings.Contains(strings.ToLower(err.Error()), "permission denied"),
		"%s: want 403 permission denied, got %v", what, err)
}

func waitConsulLeader(t *testing.T, client *consulapi.Client, not string) string {
	t.Helper()
	var leader string
	eventually(t, 3*time.Minute, "Consul elects a leader", func(ctx context.Context) error {
		l, err := client.Status().LeaderWithQueryOptions((&consulapi.QueryOptions{}).WithContext(ctx))
		if err != nil {
			return err
		}
		if l == "" || (not != "" && strings.HasPrefix(l, not+":")) {
			return fmt.Errorf("leader %q", l)
		}
		leader = l
		return nil
	})
	return leader
}

func waitNomadLeader(t *testing.T, client *nomadapi.Client, not string) string {
	t.Helper()
	var leader string
	eventually(t, 3*time.Minute, "Nomad elects a leader", func(ctx context.Context) error {
		l, err := client.Status().Leader()
		if err != nil {
			return err
		}
		if l == "" || (not != "" && strings.HasPrefix(l, not+":")) {
			return fmt.Errorf("leader %q", l)
		}
		leader = l
		return nil
	})
	return leader
}

// plainHTTPRefused checks an HTTPS-only API answers plain HTTP with an
// error, never with data.
func plainHTTPRefused(t *testing.T, addr string) {
	t.Helper()
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Get("http://" + addr + "/v1/status/leader")
	if err == nil {
		defer resp.Body.Close()
		require.Equal(t, http.StatusBadRequest, resp.StatusCode, "plain HTTP to %s", addr)
	}
}

// nomadRPCRefusesPlaintext opens Nomad's RPC port and speaks plaintext
// Nomad RPC (first byte 0x01): with TLS required the server hangs up.
func nomadRPCRefusesPlaintext(t *testing.T, addr string) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	require.NoError(t, err)
	defer conn.Close()
	_, err = conn.Write([]byte{0x01})
	require.NoError(t, err)
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(20*time.Second)))
	_, err = conn.Read(make([]byte, 1))
	require.Error(t, err, "plaintext RPC to %s was answered", addr)
	var ne net.Error
	require.False(t, errors.As(err, &ne) && ne.Timeout(), "plaintext RPC to %s was not refused", addr)
}

// sleepJob is a one-task service job on the exec driver.
func sleepJob(id string) *nomadapi.Job {
	job := nomadapi.NewServiceJob(id, id, "global", 50)
	job.Datacenters = []string{"home"}
	task := nomadapi.NewTask("sleep", "exec").
		SetConfig("command", "/bin/sleep").
		SetConfig("args", []string{"3600"}).
		Require(&nomadapi.Resources{CPU: intp(50), MemoryMB: intp(32)})
	group := nomadapi.NewTaskGroup("sleep", 1).AddTask(task)
	group.RestartPolicy = &nomadapi.RestartPolicy{Attempts: intp(0), Mode: strp("fail")}
	job.AddTaskGroup(group)
	return job
}

func intp(i int) *int       { return &i }
func strp(s string) *string { return &s }

// waitRunning follows the job's allocations with blocking queries until one
// runs.
func waitRunning(t *testing.T, client *nomadapi.Client, id string) *nomadapi.AllocationListStub {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var index uint64
	for {
		allocs, meta, err := client.Jobs().Allocations(id, false, (&nomadapi.QueryOptions{WaitIndex: index, WaitTime: 30 * time.Second}).WithContext(ctx))
		if err != nil && ctx.Err() != nil {
			logJobState(t, client, id)
		}
		require.NoError(t, err, "allocations of %s", id)
		for _, a := range allocs {
			switch a.ClientStatus {
			case "running":
				return a
			case "failed":
				var events []string
				for task, st := range a.TaskStates {
					for _, e := range st.Events {
						events = append(events, task+": "+e.Type+": "+e.DisplayMessage)
					}
				}
				t.Fatalf("allocation %s of %s on %s failed:\n%s", a.ID, id, a.NodeName, strings.Join(events, "\n"))
			}
		}
		index = meta.LastIndex
	}
}

// logJobState says why a job is not running: its evaluations (blocked,
// failed placements) and its allocations with their task events.
func logJobState(t *testing.T, client *nomadapi.Client, id string) {
	t.Helper()
	evals, _, err := client.Jobs().Evaluations(id, nil)
	if err != nil {
		t.Logf("evaluations of %s: %v", id, err)
	}
	for _, e := range evals {
		t.Logf("evaluation %s of %s: %s %s (%s) failed placements %v, blocked by %s", e.ID, id, e.TriggeredBy, e.Status, e.StatusDescription, e.FailedTGAllocs, e.BlockedEval)
	}
	allocs, _, err := client.Jobs().Allocations(id, true, nil)
	if err != nil {
		t.Logf("allocations of %s: %v", id, err)
	}
	for _, a := range allocs {
		var events []string
		for task, st := range a.TaskStates {
			for _, e := range st.Events {
				events = append(events, task+": "+e.Type+": "+e.DisplayMessage)
			}
		}
		t.Logf("allocation %s of %s on %s: desired %s, client %s (%s)\n%s", a.ID, id, a.NodeName, a.DesiredStatus, a.ClientStatus, a.ClientDescription, strings.Join(events, "\n"))
	}
}

// waitStopped deregisters a job and waits until none of its allocations
// runs. Not purged: a purged job's allocations vanish from the servers'
// state at once, before the client has stopped their tasks, and a client
// agent stopped right after leaves them running.
func waitStopped(t *testing.T, client *nomadapi.Client, id string) {
	t.Helper()
	_, _, err := client.Jobs().Deregister(id, false, nil)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var index uint64
	for {
		allocs, meta, err := client.Allocations().List((&nomadapi.QueryOptions{WaitIndex: index, WaitTime: 30 * time.Second}).WithContext(ctx))
		require.NoError(t, err)
		running := 0
		for _, a := range allocs {
			if a.JobID == id && (a.ClientStatus == "running" || a.ClientStatus == "pending") {
				running++
			}
		}
		if running == 0 {
			return
		}
		index = meta.LastIndex
	}
}
