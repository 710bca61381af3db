package cluster

// AgentSettings are the Nomad and Consul agent settings that decide how a
// cluster lives through power cuts. PiAgentSettings are the ones the
// Ansible roles give the Pis (provision's TestAgentSettingsForPowerCuts
// holds the rendered roles to them); the reasons are written beside them
// in ansible/roles/{nomad,consul}.
type AgentSettings struct {
	// ServersLeave: a server leaves the Raft peer set on SIGINT/SIGTERM.
	ServersLeave bool
	// RejoinAfterLeave: an agent that left joins again with its state.
	RejoinAfterLeave bool
	// RetryInterval is how often an agent tries the servers it cannot
	// reach (forever: retry_max 0, the default too).
	RetryInterval string
	// HeartbeatGrace is how long a Nomad client may be silent before it
	// is marked down and its work moved ("": Nomad's 10s).
	HeartbeatGrace string
	// FailoverHeartbeatTTL is how long every client has to heartbeat after
	// a leader election ("": Nomad's 5m).
	FailoverHeartbeatTTL string
	// AutopilotMinQuorum keeps a dead server's vote while fewer voters
	// would stay (true: the server count; false: the defaults, 0).
	AutopilotMinQuorum bool
	// NomadLastContactThreshold and ConsulLastContactThreshold: how long a
	// server may not hear the leader and still count as healthy ("":
	// the defaults, 200ms).
	NomadLastContactThreshold  string
	ConsulLastContactThreshold string
}

// PiAgentSettings are the settings of ansible/roles/nomad and
// ansible/roles/consul.
var PiAgentSettings = AgentSettings{
	ServersLeave:               false,
	RejoinAfterLeave:           true,
	RetryInterval:              "5s",
	HeartbeatGrace:             "2m",
	FailoverHeartbeatTTL:       "5m",
	AutopilotMinQuorum:         true,
	NomadLastContactThreshold:  "1s",
	ConsulLastContactThreshold: "2s",
}

// DefaultAgentSettings are Nomad's and Consul's own, as an operator who
// sets nothing but the servers to join gets them (leave_on_* are not set
// either).
var DefaultAgentSettings = AgentSettings{
	RetryInterval: "30s",
}

// agentSettings are the settings of this cluster's agents.
func (c *Cluster) agentSettings() AgentSettings {
	if c.DefaultAgentSettings {
		return DefaultAgentSettings
	}
	return PiAgentSettings
}
