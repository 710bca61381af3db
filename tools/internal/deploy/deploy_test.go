package deploy

import (
	"testing"

	nomadapi "github.com/hashicorp/nomad/api"
	"github.com/stretchr/testify/assert"
)

func TestTaskCausesPreferWhatTheDriverSaid(t *testing.T) {
	a := &nomadapi.Allocation{TaskStates: map[string]*nomadapi.TaskState{
		"datadir": {Events: []*nomadapi.TaskEvent{
			{Type: nomadapi.TaskStarted},
			{Type: nomadapi.TaskTerminated, ExitCode: 0, DisplayMessage: "Exit Code: 0"},
		}},
		"daemon": {Events: []*nomadapi.TaskEvent{
			{Type: nomadapi.TaskReceived},
			{Type: nomadapi.TaskDriverFailure, DisplayMessage: "file /usr/lib/litecoin/nope not found"},
			{Type: nomadapi.TaskNotRestarting, DisplayMessage: "Error was unrecoverable"},
			{Type: "Alloc Unhealthy", DisplayMessage: "Unhealthy because of failed task"},
		}},
	}}
	assert.Equal(t, []Cause{{Task: "daemon", Text: "Driver Failure: file /usr/lib/litecoin/nope not found (then Alloc Unhealthy: Unhealthy because of failed task)"}}, TaskCauses(a))
}

func TestTaskCausesExitCode(t *testing.T) {
	a := &nomadapi.Allocation{TaskStates: map[string]*nomadapi.TaskState{
		"daemon": {Events: []*nomadapi.TaskEvent{{Type: nomadapi.TaskTerminated, ExitCode: 1}}},
	}}
	assert.Equal(t, []Cause{{Task: "daemon", Text: "Terminated: exit code 1"}}, TaskCauses(a))
	b := &nomadapi.Allocation{TaskStates: map[string]*nomadapi.TaskState{
		"daemon": {Events: []*nomadapi.TaskEvent{{Type: nomadapi.TaskTerminated, ExitCode: 1, DisplayMessage: "Exit Code: 1"}}},
	}}
	assert.Equal(t, []Cause{{Task: "daemon", Text: "Terminated: Exit Code: 1"}}, TaskCauses(b), "said once")
}

func TestNotConverging(t *testing.T) {
	for _, tc := range []struct {
		name  string
		state nomadapi.DeploymentState
		stuck bool
	}{
		{"starting", nomadapi.DeploymentState{DesiredTotal: 2, PlacedAllocs: 2}, false},
		{"one failed, one healthy", nomadapi.DeploymentState{DesiredTotal: 2, HealthyAllocs: 1, UnhealthyAllocs: 1}, false},
		{"one of two failed", nomadapi.DeploymentState{DesiredTotal: 2, UnhealthyAllocs: 1}, false},
		{"all failed", nomadapi.DeploymentState{DesiredTotal: 2, UnhealthyAllocs: 2}, true},
		{"one healthy, the other failed twice", nomadapi.DeploymentState{DesiredTotal: 2, HealthyAllocs: 1, UnhealthyAllocs: 2}, true},
		{"one of one failed", nomadapi.DeploymentState{DesiredTotal: 1, UnhealthyAllocs: 1}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := &nomadapi.Deployment{Status: nomadapi.DeploymentStatusRunning, TaskGroups: map[string]*nomadapi.DeploymentState{"g": &tc.state}}
			_, stuck := notConverging(d)
			assert.Equal(t, tc.stuck, stuck)
		})
	}
}

func TestTellingLines(t *testing.T) {
	for _, tc := range []struct {
		name           string
		stderr, stdout string
		want           string
	}{
		{"last two stderr lines", "x\n: Error opening block database.\nPlease restart with -reindex\n\n", "", ": Error opening block database. / Please restart with -reindex"},
		{"control characters", "a\x1bb", "", "a b"},
		{"nothing", "", "", ""},
		{"a restarted task's repeats once",
			"Error: Unable to start HTTP server.\nError: Unable to start HTTP server.\n",
			"2026-11-25T04:17:59Z Loading wallet...\n2026-11-25T04:17:59Z Binding RPC on address 198.18.1.1 port 24603 failed.\n2026-11-25T04:17:59Z Shutdown: done\n",
			"2026-11-25T04:17:59Z Binding RPC on address 198.18.1.1 port 24603 failed. / Error: Unable to start HTTP server."},
		{"stdout line already on stderr", "Error: disk full\n", "Error: disk full\n", "Error: disk full"},
		{"the first error is the cause",
			"LOG:  could not bind IPv4 address \"198.18.1.1\": Address already in use\nHINT:  Is another postmaster already running on port 24603?\nWARNING:  could not create listen socket for \"198.18.1.1\"\nFATAL:  could not create any TCP/IP sockets\nLOG:  database system is shut down\n",
			"",
			`LOG:  could not bind IPv4 address "198.18.1.1": Address already in use / FATAL:  could not create any TCP/IP sockets / LOG:  database system is shut down`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, tellingLines([]byte(tc.stderr), []byte(tc.stdout)))
		})
	}
}
