package basicauth

import (
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestValid(t *testing.T) {
	for _, tc := range []struct {
		name, user, password string
		none                 bool
		want                 bool
	}{
		{name: "the login", user: "replicator", password: "s3cret", want: true},
		{name: "no authentication", none: true},
		{name: "a wrong password", user: "replicator", password: "s3cret "},
		{name: "a wrong user", user: "postgres", password: "s3cret"},
		{name: "empty", user: "", password: ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			if !tc.none {
				r.SetBasicAuth(tc.user, tc.password)
			}
			assert.Equal(t, tc.want, Valid(r, "replicator", "s3cret"))
		})
	}
}
