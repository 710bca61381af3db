package dbcluster

import (
	"testing"
	"time"

	consulapi "github.com/hashicorp/consul/api"
	"github.com/stretchr/testify/assert"
)

// Patroni's history key as Patroni 1 (three fields) and Patroni 2 and
// later (with the time and the new leader) write it, and broken ones.
func TestHistory(t *testing.T) {
	for _, tc := range []struct {
		name, value string
		want        []Switch
		notes       int
	}{
		{name: "patroni-1", value: `[[1,25165984,"no recovery target specified"]]`,
			want: []Switch{{Timeline: 1, Position: 25165984, Reason: "no recovery target specified"}}},
		{name: "patroni-2", value: `[[1,25165984,"no recovery target specified","2026-12-03T10:28:32.123456+00:00","pi-07"],[2,50331800,"no recovery target specified","2026-12-03T11:00:00+00:00","pi-03"]]`,
			want: []Switch{
				{Timeline: 1, Position: 25165984, Reason: "no recovery target specified", At: time.Date(2026, 12, 3, 10, 28, 32, 123456000, time.UTC), NewLeader: "pi-07"},
				{Timeline: 2, Position: 50331800, Reason: "no recovery target specified", At: time.Date(2026, 12, 3, 11, 0, 0, 0, time.UTC), NewLeader: "pi-03"},
			}},
		{name: "a time that is not one", value: `[[1,25165984,"r","yesterday","pi-07"]]`,
			want: []Switch{{Timeline: 1, Position: 25165984, Reason: "r", NewLeader: "pi-07"}}},
		{name: "not a list", value: `{"1":2}`, notes: 1},
		{name: "a short entry among good ones", value: `[[1,2],[2,3,"r"]]`, want: []Switch{{Timeline: 2, Position: 3, Reason: "r"}}, notes: 1},
		{name: "wrong types", value: `[["one",2,"r"]]`, notes: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := &View{Prefix: "pool/database/"}
			v.readHistory(&consulapi.KVPair{Key: "pool/database/history", Value: []byte(tc.value)})
			for i := range v.History {
				if !v.History[i].At.IsZero() {
					v.History[i].At = v.History[i].At.UTC()
				}
			}
			assert.Equal(t, tc.want, v.History)
			assert.Len(t, v.Notes, tc.notes, "%v", v.Notes)
		})
	}
}
