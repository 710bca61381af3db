package aclcheck

import (
	"errors"
	"fmt"
	"testing"

	consulapi "github.com/hashicorp/consul/api"
	"github.com/stretchr/testify/assert"
)

func TestForbidden(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"Consul's 403", fmt.Errorf("put: %w", consulapi.StatusError{Code: 403, Body: "Permission denied"}), true},
		{"Consul's 404", consulapi.StatusError{Code: 404, Body: "not found"}, false},
		{"Nomad's legacy text", errors.New("Unexpected response code: 403 (Permission denied)"), true},
		{"Nomad's 500", errors.New("Unexpected response code: 500 (rpc error)"), false},
		{"a 403 in the port", errors.New(`Get "https://10.0.0.5:40312/v1/jobs": dial tcp 10.0.0.5:40312: connect: connection refused`), false},
		{"a 403 in a path", errors.New(`Unexpected response code: 404 (no such key poolctl/x/403)`), false},
	} {
		t.Run(tc.name, func(t *testing.T) { assert.Equal(t, tc.want, Forbidden(tc.err)) })
	}
}
