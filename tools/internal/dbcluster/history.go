package dbcluster

import (
	"encoding/json"
	"time"

	consulapi "github.com/hashicorp/consul/api"
)

// Switch is one promotion in Patroni's history key: the timeline that
// ended, where, why, and (Patroni 2 and later) when and who became the
// primary on the timeline after it.
type Switch struct {
	// Timeline is the timeline the promotion ended; the new primary
	// writes on Timeline+1.
	Timeline  int64
	Position  int64
	Reason    string
	At        time.Time // zero when Patroni did not record it
	NewLeader string    // "" when Patroni did not record it
}

// readHistory reads the history key: a JSON list of
// [timeline, lsn, reason, timestamp, new_leader] lists, oldest first. An
// entry that is not that shape is a note, never a guess.
func (v *View) readHistory(p *consulapi.KVPair) {
	if p == nil {
		return
	}
	var entries [][]json.RawMessage
	if err := json.Unmarshal(p.Value, &entries); err != nil {
		v.problem(keyHistory, "not a JSON list of lists (%s)", clean(err.Error()))
		return
	}
	for i, e := range entries {
		var s Switch
		if len(e) < 3 || json.Unmarshal(e[0], &s.Timeline) != nil || json.Unmarshal(e[1], &s.Position) != nil || json.Unmarshal(e[2], &s.Reason) != nil {
			v.problem(keyHistory, "entry %d is not [timeline, lsn, reason, ...]", i+1)
			continue
		}
		s.Reason = clean(s.Reason)
		if len(e) > 3 {
			var at string
			if json.Unmarshal(e[3], &at) == nil {
				if t, err := time.Parse(time.RFC3339Nano, at); err == nil {
					s.At = t
				}
			}
		}
		if len(e) > 4 {
			var who string
			if json.Unmarshal(e[4], &who) == nil {
				s.NewLeader = clean(who)
			}
		}
		v.History = append(v.History, s)
	}
}
