package jobspec

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/hashicorp/nomad/api"

	"github.com/scryptpool/poolmicrocloud/tools/internal/nomadhcl"
)

// What each kind of job is, for the header of its file.
var kindTitles = map[Kind]string{
	KindDatabase: "PostgreSQL: shares, blocks and the payout ledger",
	KindWallet:   "wallets: the coin daemons that build work and pay miners",
	KindStratum:  "stratum servers: where miners connect",
	KindHealth:   "pool health: keeps the pool's Consul check current",
	KindPayout:   "payouts: pays miners what they are owed, exactly once",
	KindBlocks:   "block tracking: follows found blocks to maturity or orphaning",
	KindStats:    "statistics roll-up",
	KindBackup:   "backups of the database and wallets",
	KindArchive:  "the database's archive: WAL and base backups, for point-in-time restores",
	KindWeb:      "web pages and the MiningCore-compatible API",
}

// FileName is the job file name for j.
func (j *Job) FileName() string { return j.ID() + ".nomad.hcl" }

// HCL is the job as a job specification file.
func (j *Job) HCL(poolName string) []byte {
	header := fmt.Sprintf("%s: %s.\nRendered by `poolctl render` from pool %q: edit the pool definition, not this file.",
		j.ID(), kindTitles[j.Kind], poolName)
	return nomadhcl.Encode(j.Job, header, j.Notes)
}

// JSON is the job as the HTTP API takes it ({"Job": ...}).
func (j *Job) JSON() ([]byte, error) {
	out, err := json.MarshalIndent(api.JobRegisterRequest{Job: j.Job}, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode job %q: %w", j.ID(), err)
	}
	return append(out, '\n'), nil
}

// WriteFiles writes every job into dir as <id>.nomad.hcl (or .json) and
// returns the paths written.
func WriteFiles(dir string, poolName string, jobs []*Job, asJSON bool) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create %s: %w", dir, err)
	}
	var paths []string
	for _, j := range jobs {
		name, content := j.FileName(), j.HCL(poolName)
		if asJSON {
			var err error
			name = j.ID() + ".json"
			if content, err = j.JSON(); err != nil {
				return paths, err
			}
		}
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, content, 0o644); err != nil {
			return paths, fmt.Errorf("write job file: %w", err)
		}
		paths = append(paths, p)
	}
	return paths, nil
}
