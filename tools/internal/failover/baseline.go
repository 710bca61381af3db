package failover

import (
	"encoding/json"
	"strings"
	"time"

	"github.com/hashicorp/nomad/api"

	"github.com/scryptpool/poolmicrocloud/tools/internal/contract"
	"github.com/scryptpool/poolmicrocloud/tools/internal/jobspec"
)

// BaselineSuffix names the baseline's job and services after the pool's.
const BaselineSuffix = "-baseline"

// Baseline is a coin's wallet job as it is commonly written: the same
// daemon, configuration and peers, with Nomad's default restart,
// reschedule and update behaviour and a TCP check on the RPC port. No
// probe, no check_restart. It keeps its chain in a directory of its own on
// the same host volume.
func Baseline(wallet *jobspec.Job) *api.Job {
	data, _ := json.Marshal(wallet.Job)
	var job api.Job
	_ = json.Unmarshal(data, &job)
	id := *job.ID + BaselineSuffix
	job.ID, job.Name = &id, &id
	job.Update = nil
	job.Meta[contract.MetaKind] = "wallet-baseline"
	g := job.TaskGroups[0]
	g.RestartPolicy, g.ReschedulePolicy, g.ShutdownDelay = nil, nil, nil
	g.Networks = []*api.NetworkResource{{DynamicPorts: []api.Port{{Label: "rpc"}, {Label: "p2p"}}}}
	service := contract.WalletService(wallet.Coin) + BaselineSuffix
	p2p := contract.WalletP2PService(wallet.Coin) + BaselineSuffix
	tcp := func(name string) []api.ServiceCheck {
		return []api.ServiceCheck{{Name: name, Type: "tcp", Interval: 10 * time.Second, Timeout: 2 * time.Second}}
	}
	g.Services = []*api.Service{
		{Name: service, PortLabel: "rpc", Provider: "consul", Meta: map[string]string{"instance": "${NOMAD_ALLOC_INDEX}"}, Checks: tcp("rpc port open")},
		{Name: p2p, PortLabel: "p2p", Provider: "consul", Meta: map[string]string{"instance": "${NOMAD_ALLOC_INDEX}"}, Checks: tcp("p2p port open")},
	}
	var tasks []*api.Task
	for _, t := range g.Tasks {
		switch t.Name {
		case "probe":
			continue
		case "datadir":
			t.Config["args"] = []any{"-p", "/chain/baseline-${NOMAD_ALLOC_INDEX}"}
		case "daemon":
			t.KillTimeout = nil
			var args []any
			for _, a := range t.Config["args"].([]any) {
				args = append(args, strings.Replace(a.(string), "/chain/${NOMAD_ALLOC_INDEX}", "/chain/baseline-${NOMAD_ALLOC_INDEX}", 1))
			}
			t.Config["args"] = args
			for _, tpl := range t.Templates {
				data := strings.ReplaceAll(*tpl.EmbeddedTmpl, contract.WalletP2PService(wallet.Coin)+"|any", p2p+"|any")
				tpl.EmbeddedTmpl = &data
			}
		}
		tasks = append(tasks, t)
	}
	g.Tasks = tasks
	return &job
}
