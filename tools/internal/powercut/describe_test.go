package powercut

import (
	"testing"
	"time"

	nomadapi "github.com/hashicorp/nomad/api"
	"github.com/stretchr/testify/assert"
)

func TestLastEvents(t *testing.T) {
	at := func(s int) int64 { return time.Date(2026, 12, 5, 2, 30, s, 0, time.UTC).UnixNano() }
	ev := func(s int, typ, display, msg string) *nomadapi.TaskEvent {
		return &nomadapi.TaskEvent{Time: at(s), Type: typ, DisplayMessage: display, Message: msg}
	}
	for _, tc := range []struct {
		name string
		a    nomadapi.AllocationListStub
		want string
	}{
		{
			name: "stopped: nothing",
			a: nomadapi.AllocationListStub{DesiredStatus: "stop", TaskStates: map[string]*nomadapi.TaskState{
				"database": {State: "dead", Events: []*nomadapi.TaskEvent{ev(1, "Killed", "Task successfully killed", "")}},
			}},
		},
		{name: "no task yet", a: nomadapi.AllocationListStub{DesiredStatus: "run"}},
		{
			name: "the newest four, tasks by name, the message when there is no display message",
			a: nomadapi.AllocationListStub{DesiredStatus: "run", TaskStates: map[string]*nomadapi.TaskState{
				"probe": {State: "running", Events: []*nomadapi.TaskEvent{ev(2, "Started", "Task started by client", "")}},
				"daemon": {State: "pending", Restarts: 3, Events: []*nomadapi.TaskEvent{
					ev(1, "Received", "Task received by client", ""),
					ev(3, "Started", "Task started by client", ""),
					ev(4, "Restart Signaled", "", "healthcheck: check \"rpc answers\" unhealthy"),
					ev(5, "Terminated", "Exit Code: 137", ""),
					ev(6, "Restarting", "Task restarting in 5s", ""),
				}},
			}},
			want: ` [task daemon pending, 3 restarts (02:30:03 Started: Task started by client; 02:30:04 Restart Signaled: healthcheck: check "rpc answers" unhealthy; 02:30:05 Terminated: Exit Code: 137; 02:30:06 Restarting: Task restarting in 5s); task probe running, 0 restarts (02:30:02 Started: Task started by client)]`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, lastEvents(&tc.a))
		})
	}
}
