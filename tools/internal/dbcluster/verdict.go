package dbcluster

import (
	"fmt"
	"strings"
)

// Health is the judgement of the cluster as a whole.
type Health int

const (
	// Healthy: a primary, and a synchronous standby running: every commit
	// is on two nodes before the pool hears it is done.
	Healthy Health = iota
	// Single: the primary alone, where the pool asks for one instance.
	Single
	// Async: a primary without a synchronous standby running; commits
	// are acknowledged by the primary alone.
	Async
	// CommitsWait: as Async, but with synchronous_mode_strict every
	// commit waits for a standby that is not there.
	CommitsWait
	// NoPrimary: no member holds the leader key, or its PostgreSQL does
	// not run: writes fail.
	NoPrimary
	// NotBootstrapped: no member has initialised the cluster.
	NotBootstrapped
	// Unknown: a key needed to judge is missing or unreadable.
	Unknown
)

var healthNames = [...]string{
	Healthy: "healthy", Single: "single instance", Async: "degraded-async", CommitsWait: "commits wait",
	NoPrimary: "no primary", NotBootstrapped: "not bootstrapped", Unknown: "unknown",
}

func (h Health) String() string {
	if h < 0 || int(h) >= len(healthNames) {
		return fmt.Sprintf("Health(%d)", int(h))
	}
	return healthNames[h]
}

// Verdict is the judgement and the one line that says it.
type Verdict struct {
	Health Health
	// Loud says the operator must know now: what the pool runs on is not
	// what it was set up to run on.
	Loud bool
	// Line says it in plain words, naming the nodes.
	Line string
}

// Judge says what the view means for the pool's commits.
func (v *View) Judge() Verdict {
	ha := v.Want > 1
	switch {
	case v.Keys == 0:
		return Verdict{NotBootstrapped, ha, fmt.Sprintf("%s: no keys under %s (no Patroni member has started, or they run with another namespace or scope)",
			loud(ha, "not bootstrapped"), v.Prefix)}
	case v.Leader == "" && !v.Initialized:
		return Verdict{NotBootstrapped, ha, loud(ha, "not bootstrapped") + " yet: no member has initialised the cluster (no initialize key)"}
	case v.Leader == "":
		return Verdict{NoPrimary, true, "NO PRIMARY: no member holds the leader key: a failover is under way or every member is down; writes fail until one is elected"}
	}
	leader := v.Member(v.Leader)
	switch {
	case leader == nil:
		return Verdict{Unknown, true, fmt.Sprintf("UNKNOWN: the leader key names %s, which has no member key: cannot tell whether it serves", v.Leader)}
	case leader.State == "":
		return Verdict{Unknown, true, fmt.Sprintf("UNKNOWN: %s holds the leader key but its member key gives no state: cannot tell whether it serves", v.Leader)}
	case leader.State != "running":
		return Verdict{NoPrimary, true, fmt.Sprintf("NO PRIMARY: %s holds the leader key but its PostgreSQL is %s; writes fail until it runs", v.Leader, leader.State)}
	case v.syncUnreadable:
		return Verdict{Unknown, true, fmt.Sprintf("UNKNOWN: %s is the primary, but the sync key is unreadable: cannot tell whether commits are synchronous", v.Leader)}
	}
	var confirming []string
	for _, name := range v.SyncStandbys {
		if m := v.Member(name); m != nil && m.State == "running" {
			confirming = append(confirming, name)
		}
	}
	if len(confirming) > 0 {
		return Verdict{Healthy, false, fmt.Sprintf("healthy: %s is the primary; %s confirms every commit (synchronous standby)",
			v.Leader, strings.Join(confirming, " and "))}
	}
	for _, name := range v.SyncStandbys {
		if m := v.Member(name); m != nil && m.State == "" {
			return Verdict{Unknown, true, fmt.Sprintf("UNKNOWN: %s is the primary, but the member key of its synchronous standby %s gives no state: cannot tell whether it confirms commits", v.Leader, name)}
		}
	}
	why := v.whyAsync()
	if v.Config.Strict {
		return Verdict{CommitsWait, true, fmt.Sprintf("COMMITS WAIT: synchronous_mode_strict holds every commit on %s until a standby confirms it, and none does (%s)", v.Leader, why)}
	}
	if !ha && len(v.Members) == 1 {
		return Verdict{Single, false, fmt.Sprintf("one instance, no replica (instances = 1): %s is the primary", v.Leader)}
	}
	return Verdict{Async, true, fmt.Sprintf("NOT SYNCHRONOUS: commits are acknowledged by %s alone: a failure of %s now loses them (%s)", v.Leader, v.Leader, why)}
}

// whyAsync says why no synchronous standby confirms the primary's commits.
func (v *View) whyAsync() string {
	if v.Config.Known && !v.Config.SynchronousMode {
		return "synchronous_mode is off in Patroni's configuration"
	}
	if len(v.SyncStandbys) > 0 {
		name := v.SyncStandbys[0]
		if m := v.Member(name); m != nil {
			return fmt.Sprintf("its synchronous standby %s is %s", name, orUnknown(m.State))
		}
		return fmt.Sprintf("its synchronous standby %s has no member key: gone", name)
	}
	var running, others []string
	for _, m := range v.Members {
		switch {
		case m.Name == v.Leader:
		case m.State == "running":
			running = append(running, m.Name)
		default:
			others = append(others, m.Name+" is "+orUnknown(m.State))
		}
	}
	switch {
	case len(running) > 0:
		return fmt.Sprintf("%s is not its synchronous standby: just joined, or down with its member key not expired yet", strings.Join(running, " and "))
	case len(others) > 0:
		return "no replica runs: " + strings.Join(others, ", ")
	}
	return "no replica"
}

// notes are what an operator should know beside the verdict, derived from
// the view once it is read.
func (v *View) notes() {
	if v.Config.Paused {
		v.Notes = append(v.Notes, "Patroni is paused (maintenance mode): it fails nothing over until resumed (patronictl resume)")
	}
	if v.Switchover != "" {
		v.Notes = append(v.Notes, "a switchover is requested "+v.Switchover+" (failover key)")
	}
	replicas := 0
	for _, m := range v.Members {
		switch {
		case m.Name == v.Leader:
			continue
		case m.Role == NotLeader:
			v.Notes = append(v.Notes, fmt.Sprintf("%s says it is the primary but holds no leader key: an old primary not demoted yet, or down", m.Name))
		case m.Lag > v.Config.MaxLagOnFailover:
			v.Notes = append(v.Notes, fmt.Sprintf("%s is %s behind the primary, more than maximum_lag_on_failover (%s): Patroni would not promote it",
				m.Name, size(m.Lag), size(v.Config.MaxLagOnFailover)))
		}
		replicas++
	}
	if v.Leader != "" && replicas > 0 && v.LeaderPosition == NotKnown {
		v.Notes = append(v.Notes, fmt.Sprintf("lag unknown: neither the status key nor %s%s gives the primary's WAL position", keyMembers, v.Leader))
	}
	if v.Keys > 0 && v.Want > 1 && len(v.Members) < v.Want {
		v.Notes = append(v.Notes, fmt.Sprintf("member keys for %d of %d instances", len(v.Members), v.Want))
	}
}

func loud(yes bool, s string) string {
	if yes {
		return strings.ToUpper(s)
	}
	return s
}

func orUnknown(s string) string {
	if s == "" {
		return "in an unknown state"
	}
	return s
}

// size writes a byte count the way the operator reads it.
func size(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
