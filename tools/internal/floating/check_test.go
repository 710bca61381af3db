package floating_test

import (
	"context"
	"testing"

	consulapi "github.com/hashicorp/consul/api"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/scryptpool/poolmicrocloud/tools/internal/floating"
	"github.com/scryptpool/poolmicrocloud/tools/internal/testenv"
)

// Check against a real Consul agent, with instances registered as Nomad
// registers them and their checks set by hand.
func TestCheckReadsTheLocalAgent(t *testing.T) {
	c := testenv.StartConsul(t)
	consul := c.Client(t)
	register := func(name, status, output string) {
		require.NoError(t, consul.Agent().ServiceRegister(&consulapi.AgentServiceRegistration{
			ID: name + "-1", Name: name, Port: 3333,
			Check: &consulapi.AgentServiceCheck{CheckID: name + "-answers", Name: "stratum answers", TTL: "1h", Status: status},
		}))
		if output != "" {
			require.NoError(t, consul.Agent().UpdateTTL(name+"-answers", output, status))
		}
	}
	register("ltc-stratum", consulapi.HealthPassing, "")
	register("doge-stratum", consulapi.HealthWarning, "no wallet in service\nsecond line")
	register("btc-stratum", consulapi.HealthCritical, "connection refused")

	cases := []struct {
		name     string
		services []string
		want     string // "" for pass
	}{
		{"every instance passes", []string{"ltc-stratum"}, ""},
		{"a warning is not enough", []string{"ltc-stratum", "doge-stratum"}, `doge-stratum: check "stratum answers" is warning: no wallet in service`},
		{"critical", []string{"btc-stratum"}, `btc-stratum: check "stratum answers" is critical: connection refused`},
		{"no instance here", []string{"ltc-stratum", "bch-stratum"}, "bch-stratum: no instance on this node"},
		{"nothing asked", nil, "no service to check"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := floating.Check(context.Background(), consul, tc.services)
			if tc.want == "" {
				assert.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.Equal(t, tc.want, err.Error())
		})
	}
	t.Run("the agent away", func(t *testing.T) {
		cfg := consulapi.DefaultConfig()
		cfg.Address = "127.0.0.1:1"
		away, err := consulapi.NewClient(cfg)
		require.NoError(t, err)
		err = floating.Check(context.Background(), away, []string{"ltc-stratum"})
		require.Error(t, err)
		assert.Contains(t, err.Error(), "ask the local Consul agent about ltc-stratum")
	})
}
