package provision

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	consulapi "github.com/hashicorp/consul/api"
	nomadapi "github.com/hashicorp/nomad/api"
	"github.com/stretchr/testify/require"

	"github.com/scryptpool/poolmicrocloud/tools/internal/contract"
	"github.com/scryptpool/poolmicrocloud/tools/internal/jobspec"
)

// The pool of the production example, whose policies the tests install.
const examplePool = "scryptpool"

// scriptJob is a batch job of one exec task that runs a shell script as
// nobody, prints "script-end" and sleeps: what the task was given (its Consul
// token lives only as long as the task) is checked while it runs. With a
// Consul block its task gets a workload identity for Consul.
func scriptJob(id, script string, consul bool) *nomadapi.Job {
	job := nomadapi.NewBatchJob(id, id, "global", 50)
	job.Datacenters = []string{"home"}
	task := nomadapi.NewTask("script", "exec").
		SetConfig("command", "/bin/sh").
		SetConfig("args", []string{"-c", script + "\necho script-end\nexec sleep 3600\n"}).
		Require(&nomadapi.Resources{CPU: intp(50), MemoryMB: intp(32)})
	task.User = "nobody"
	task.Env = map[string]string{"CONSUL_CACERT": "${meta." + jobspec.MetaConsulCACert + "}"}
	group := nomadapi.NewTaskGroup("script", 1).AddTask(task)
	group.RestartPolicy = &nomadapi.RestartPolicy{Attempts: intp(0), Mode: strp("fail")}
	group.ReschedulePolicy = &nomadapi.ReschedulePolicy{Attempts: intp(0), Unlimited: boolp(false)}
	if consul {
		group.Consul = &nomadapi.Consul{}
	}
	job.AddTaskGroup(group)
	return job
}

func boolp(b bool) *bool { return &b }

// scriptOutput waits until the job's task runs and has printed "script-end", and
// returns what it printed before.
func scriptOutput(t *testing.T, client *nomadapi.Client, id string) string {
	t.Helper()
	stub := waitRunning(t, client, id)
	alloc, _, err := client.Allocations().Info(stub.ID, nil)
	require.NoError(t, err)
	var out string
	eventually(t, time.Minute, id+" prints its output", func(ctx context.Context) error {
		r, err := client.AllocFS().Cat(alloc, "alloc/logs/script.stdout.0", (&nomadapi.QueryOptions{}).WithContext(ctx))
		if err != nil {
			return err
		}
		defer r.Close()
		data, err := io.ReadAll(r)
		if err != nil {
			return err
		}
		before, _, found := strings.Cut(string(data), "script-end\n")
		if !found {
			return fmt.Errorf("not done yet: %q", data)
		}
		out = before
		return nil
	})
	return out
}

// A task of a job with a Consul block logs in to Consul with its workload
// identity and gets a token with its job's policy only, and the CA to check
// Consul's certificate inside its chroot.
func checkTaskConsulIdentity(t *testing.T, c *testCluster, deployNomad, nomadMgmt *nomadapi.Client) {
	id := contract.JobID(examplePool, "", contract.KindStats)
	_, _, err := deployNomad.Jobs().Register(scriptJob(id, `echo "token=$CONSUL_HTTP_TOKEN"; echo "cacert=$CONSUL_CACERT"; cat "$CONSUL_CACERT"`, true), nil)
	require.NoError(t, err, "register %s with the deploy token", id)
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			waitStopped(t, nomadMgmt, id)
		}
	})
	out := scriptOutput(t, nomadMgmt, id)

	m := regexp.MustCompile(`(?s)^token=(\S+)\ncacert=(\S+)\n(.*)$`).FindStringSubmatch(out)
	require.NotNil(t, m, "the task printed no token and CA:\n%s", out)
	token, cacert, caText := m[1], m[2], m[3]
	require.Equal(t, "/etc/ssl/pool/ca.pem", cacert, "CONSUL_CACERT of the task (client meta consul_cacert)")
	ca, err := os.ReadFile(c.caFile())
	require.NoError(t, err)
	require.Equal(t, strings.TrimSpace(string(ca)), strings.TrimSpace(caText), "the CA the task sees at %s", cacert)

	consul := c.consulClient(t, c.nodes[0], token)
	self, _, err := consul.ACL().TokenReadSelf(nil)
	require.NoError(t, err, "the task's token reads itself")
	require.Equal(t, []string{id}, policyNames(self.Policies), "the task's token's policies")
	require.Empty(t, self.Roles, "the task's token's roles")
	require.True(t, self.Local, "the task's token is local to the datacenter")
	require.Equal(t, "nomad-workloads", self.AuthMethod)

	_, err = consul.KV().Put(&consulapi.KVPair{Key: contract.RecordKey(examplePool, "", contract.KindStats), Value: []byte("{}")}, nil)
	require.NoError(t, err, "the stats task records its run")
	_, err = consul.KV().Put(&consulapi.KVPair{Key: contract.RecordKey(examplePool, "", contract.KindBackup), Value: []byte("{}")}, nil)
	requireForbidden(t, err, "the stats task writes the backup's record")
	_, err = consul.KV().Put(&consulapi.KVPair{Key: contract.ConfigKey(examplePool), Value: []byte("{}")}, nil)
	requireForbidden(t, err, "the stats task writes the pool's configuration")
	_, err = consul.KV().Delete(contract.RecordKey(examplePool, "", contract.KindStats), nil)
	require.NoError(t, err, "the stats task removes its run record")

	// The token ends with the task: Nomad logs it out. The job is purged
	// then: the pool's own stats job comes later under this ID.
	waitStopped(t, nomadMgmt, id)
	stopped = true
	_, _, err = nomadMgmt.Jobs().Deregister(id, true, nil)
	require.NoError(t, err, "purge %s", id)
	eventually(t, time.Minute, "the stopped task's token is gone", func(ctx context.Context) error {
		_, _, err := consul.ACL().TokenReadSelf((&consulapi.QueryOptions{}).WithContext(ctx))
		if err == nil {
			return fmt.Errorf("the token still works")
		}
		if !strings.Contains(err.Error(), "ACL not found") {
			return err
		}
		return nil
	})
}

func policyNames(links []*consulapi.ACLTokenPolicyLink) []string {
	var out []string
	for _, l := range links {
		out = append(out, l.Name)
	}
	sort.Strings(out)
	return out
}

// A task sees only the parts of /etc that nomad_client_chroot_env_paths
// names: on the first server, where the management tokens are kept, none
// of the agents' configurations, keys and tokens; and it sees poolctl.
func checkTaskChroot(t *testing.T, c *testCluster, nomadMgmt *nomadapi.Client) {
	defaults, err := os.ReadFile(filepath.Join(ansibleDir(t), "roles", "nomad", "defaults", "main.yml"))
	require.NoError(t, err)
	allowed := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^  - /etc/(\S+)$`).FindAllStringSubmatch(string(defaults), -1) {
		allowed[m[1]] = true
	}
	require.NotEmpty(t, allowed)

	id := "provision-chroot"
	first := c.nodes[0]
	job := scriptJob(id, `for p in /etc/consul.d /etc/nomad.d /etc/pool /opt/consul /opt/nomad; do
  if [ -e "$p" ]; then echo "present $p"; else echo "absent $p"; fi
done
if [ -x /usr/local/bin/poolctl ]; then echo "poolctl: present"; fi
ls -A /etc | sed 's/^/etc: /'`, false)
	job.Constrain(nomadapi.NewConstraint("${node.unique.name}", "=", first.name))
	_, _, err = nomadMgmt.Jobs().Register(job, nil)
	require.NoError(t, err)
	t.Cleanup(func() { waitStopped(t, nomadMgmt, id) })
	out := scriptOutput(t, nomadMgmt, id)

	_, err = os.Stat(filepath.Join(first.root, "etc/pool/tokens/consul-management.token"))
	require.NoError(t, err, "the first server keeps the management tokens")
	var etc []string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if name, ok := strings.CutPrefix(line, "etc: "); ok {
			etc = append(etc, name)
			continue
		}
		if line == "poolctl: present" {
			continue
		}
		require.True(t, strings.HasPrefix(line, "absent "), "the task sees the agents' files: %s", line)
	}
	require.Contains(t, out, "absent /etc/pool\n")
	require.Contains(t, out, "poolctl: present\n", "the pool's tasks run poolctl (pool_poolctl_path)")
	t.Logf("the task's /etc: %s", strings.Join(etc, " "))
	for _, name := range etc {
		require.True(t, allowed[name], "the task's /etc has %s, which nomad_client_chroot_env_paths does not name", name)
	}
	require.Contains(t, etc, "ssl")
	require.Contains(t, etc, "passwd")
}

// A job whose ID names no Consul policy gets no token: its task's login
// fails and the task never starts (no policy means no token, not an
// anonymous one).
func checkNoPolicyNoToken(t *testing.T, nomadMgmt *nomadapi.Client) {
	id := "provision-no-policy"
	_, _, err := nomadMgmt.Jobs().Register(scriptJob(id, `echo started`, true), nil)
	require.NoError(t, err)
	t.Cleanup(func() { waitStopped(t, nomadMgmt, id) })
	stub := waitAllocStatus(t, nomadMgmt, id, "failed")
	var events []string
	for task, st := range stub.TaskStates {
		for _, e := range st.Events {
			events = append(events, task+": "+e.Type+": "+e.DisplayMessage)
		}
	}
	all := strings.Join(events, "\n")
	t.Logf("events of %s:\n%s", id, all)
	require.Contains(t, all, "Setup Failure")
	require.Contains(t, all, "failed to derive Consul token for task script")
	require.Contains(t, all, "Permission denied")
	require.NotContains(t, all, "Started", "the task started without a token")
}

// waitAllocStatus follows the job's allocations with blocking queries until
// one has the client status.
func waitAllocStatus(t *testing.T, client *nomadapi.Client, id, status string) *nomadapi.AllocationListStub {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var index uint64
	for {
		allocs, meta, err := client.Jobs().Allocations(id, false, (&nomadapi.QueryOptions{WaitIndex: index, WaitTime: 30 * time.Second}).WithContext(ctx))
		require.NoError(t, err, "allocations of %s", id)
		for _, a := range allocs {
			if a.ClientStatus == status {
				return a
			}
		}
		index = meta.LastIndex
	}
}

// A task's Nomad workload identity reads its own job's variable (Nomad's
// implicit access, which the pool's secrets layout relies on: each job's
// secrets under its own job's path) and no other job's: the stats task
// cannot read the wallets' RPC logins or the database's password, nor
// write its own variable.
func checkTaskVariables(t *testing.T, c *testCluster, nomadMgmt *nomadapi.Client) {
	id := contract.JobID(examplePool, "", contract.KindStats)
	own := contract.VariablePath(id)
	others := []string{
		jobspec.WalletSecretsPath("ltc"),
		contract.VariablePath(contract.JobID(examplePool, "", contract.KindDatabase)),
		contract.VariablePath(contract.JobID(examplePool, "ltc", contract.KindPayout)),
	}
	for _, path := range append([]string{own}, others...) {
		_, _, err := nomadMgmt.Variables().Create(&nomadapi.Variable{Path: path, Items: map[string]string{"secret": "of " + path}}, nil)
		require.NoError(t, err, "write %s", path)
		t.Cleanup(func() { _, _ = nomadMgmt.Variables().Delete(path, nil) })
	}
	job := scriptJob(id, `echo "token=$NOMAD_TOKEN"`, false)
	job.TaskGroups[0].Tasks[0].Identity = &nomadapi.WorkloadIdentity{Env: true}
	_, _, err := nomadMgmt.Jobs().Register(job, nil)
	require.NoError(t, err)
	defer func() {
		waitStopped(t, nomadMgmt, id)
		_, _, err := nomadMgmt.Jobs().Deregister(id, true, nil)
		require.NoError(t, err, "purge %s", id)
	}()
	out := scriptOutput(t, nomadMgmt, id)
	m := regexp.MustCompile(`^token=(\S+)\n$`).FindStringSubmatch(out)
	require.NotNil(t, m, "the task printed no Nomad token:\n%s", out)
	task := c.nomadClient(t, c.nodes[0], m[1])

	v, _, err := task.Variables().Read(own, nil)
	require.NoError(t, err, "the stats task reads its own job's variable")
	require.Equal(t, "of "+own, v.Items["secret"])
	for _, path := range others {
		// Nomad answers a workload a variable it may not read as not
		// found (its existence is not told either); the variable is there.
		v, _, err := task.Variables().Read(path, nil)
		require.Error(t, err, "the stats task read %s: %v", path, v)
		require.True(t, strings.Contains(err.Error(), "403") || strings.Contains(err.Error(), "variable not found"),
			"the stats task reads %s: want permission denied or not found, got %v", path, err)
		_, _, err = nomadMgmt.Variables().Read(path, nil)
		require.NoError(t, err, "%s is there for the management token", path)
	}
	_, _, err = task.Variables().Create(&nomadapi.Variable{Path: own, Items: map[string]string{"secret": "changed"}}, nil)
	requireForbidden(t, err, "the stats task writes its own job's variable")
	listed, _, err := task.Variables().List(nil)
	require.NoError(t, err, "the stats task lists the variables it may see")
	var paths []string
	for _, l := range listed {
		paths = append(paths, l.Path)
	}
	require.Equal(t, []string{own}, paths, "the variables the stats task sees")
}
