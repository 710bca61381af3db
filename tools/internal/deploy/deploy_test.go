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
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := &nomadapi.Deployment{Status: nomadapi.DeploymentStatusRunning, TaskGroups: map[string]*nomadapi.DeploymentState{"g": &tc.state}}
			_, stuck := notConverging(d)
			assert.Equal(t, tc.stuck, stuck)
		})
	}
}

func TestLastLines(t *testing.T) {
	assert.Equal(t, ": Error opening block database. / Please restart with -reindex", lastLines([]byte("x\n: Error opening block database.\nPlease restart with -reindex\n\n"), 2))
	assert.Equal(t, "a b", lastLines([]byte("a\x1bb"), 2))
	assert.Equal(t, "", lastLines(nil, 2))
}
