package jobspec

import (
	"fmt"
	"strconv"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/nomad/api"

	"github.com/scryptpool/poolmicrocloud/tools/internal/config"
	"github.com/scryptpool/poolmicrocloud/tools/internal/nomadhcl"
	"github.com/scryptpool/poolmicrocloud/tools/internal/secrets"
)

// BackupMount is where the backup volume appears inside the backup task.
const BackupMount = "/backup"

type periodicSpec struct {
	coin string
	kind Kind
	// ledger jobs log in to the coin's wallets and the database with
	// credentials deploy copies into their own Nomad variable.
	ledger     bool
	cron       string
	args       []string
	cpu        int
	memory     int
	retries    int // in-place retries; 0 for anything that moves money
	volume     string
	user       string // default nobody
	source     hcl.Range
	extraNotes nomadhcl.Notes
}

// periodic builds a cron-launched batch job. Every run takes a Consul lock
// inside poolctl as well: prohibit_overlap alone has let overlapping runs
// through after Nomad leader elections.
func (b builder) periodic(spec periodicSpec) *Job {
	job := b.newJob(spec.coin, spec.kind, "batch", 50)
	job.Periodic = &api.PeriodicConfig{
		Specs:           []string{spec.cron},
		ProhibitOverlap: ptr(true),
		TimeZone:        ptr("UTC"),
	}
	sub := string(spec.kind)
	args := append([]string{"--pool=" + b.pool.Name}, spec.args...)
	task := b.poolctlTask(sub, sub, args, spec.cpu, spec.memory)
	if spec.user != "" {
		task.User = spec.user
	}
	if spec.ledger {
		secretsPath := LedgerSecretsPath(spec.coin, spec.kind)
		task.Templates = []*api.Template{
			secretTemplate("secrets/wallet.credentials", fmt.Sprintf("{{ with nomadVar %q }}{{ .%s }}:{{ .%s }}{{ end }}\n", secretsPath, secrets.ItemUser, secrets.ItemPassword)),
			secretTemplate("secrets/database.credentials", fmt.Sprintf("{{ with nomadVar %q }}{{ .%s }}:{{ .%s }}{{ end }}\n", secretsPath, secrets.ItemDatabaseUser, secrets.ItemDatabasePassword)),
		}
	}
	group := &api.TaskGroup{
		Name:          ptr(sub),
		Count:         ptr(1),
		RestartPolicy: restart(spec.retries, 10*time.Minute, 15*time.Second, "fail"),
		ReschedulePolicy: &api.ReschedulePolicy{
			Attempts:  ptr(0),
			Unlimited: ptr(false),
		},
		EphemeralDisk: &api.EphemeralDisk{SizeMB: ptr(100)},
		Tasks:         []*api.Task{task},
	}
	if spec.volume != "" {
		group.Volumes = hostVolume(spec.volume, false)
		task.VolumeMounts = []*api.VolumeMount{{Volume: ptr(spec.volume), Destination: ptr(BackupMount)}}
	}
	job.TaskGroups = []*api.TaskGroup{group}
	notes := nomadhcl.Notes{
		"periodic": "Cron in UTC, so daylight-saving changes neither skip nor repeat a run.\n" +
			"prohibit_overlap stops a slow run from being joined by the next one;\n" +
			"a missed slot runs once, not once per missed slot.",
		"group." + sub + "/reschedule": "A failed run is not moved and rerun by Nomad: the next scheduled run\n" +
			"picks up where it stopped, from what the database and wallet record.",
	}
	for k, v := range spec.extraNotes {
		notes[k] = v
	}
	return &Job{
		Job:        job,
		Kind:       spec.kind,
		Coin:       spec.coin,
		Stage:      StagePeriodic,
		Subcommand: sub,
		Source:     spec.source,
		Notes:      notes,
	}
}

// LedgerSecretsPath is the Nomad variable of a coin's payout or blocks
// job: the wallets' RPC login and the database's, copied there by deploy
// (a periodic job's runs read their parent job's variable).
func LedgerSecretsPath(coin string, kind Kind) string {
	return "nomad/jobs/" + coin + "-" + string(kind)
}

// ledgerArgs are what the blocks and payout jobs share: where the wallets
// and the database are, and how a block is credited.
func (b builder) ledgerArgs(coin *config.Coin) []string {
	p := coin.Payout
	return []string{
		"--coin=" + coin.Name,
		"--network=" + coin.Network,
		"--wallet-service=" + WalletService(coin.Name),
		"--credentials=${NOMAD_SECRETS_DIR}/wallet.credentials",
		"--database-service=" + DatabaseService(b.pool),
		"--database-credentials=${NOMAD_SECRETS_DIR}/database.credentials",
		"--confirmations=" + strconv.Itoa(p.Confirmations),
		"--scheme=" + p.Scheme,
		"--window=" + formatFloat(p.Window),
		"--fee-percent=" + formatFloat(coin.Stratum.FeePercent),
	}
}

func (b builder) payout(coin *config.Coin) *Job {
	p := coin.Payout
	return b.periodic(periodicSpec{
		coin:   coin.Name,
		kind:   KindPayout,
		ledger: true,
		cron:   p.Cron,
		args: append(b.ledgerArgs(coin),
			"--minimum="+formatFloat(p.Minimum),
			"--reserve="+formatFloat(p.Reserve),
			"--max-outputs="+strconv.Itoa(p.MaxOutputs),
		),
		cpu:     p.CPUMHz,
		memory:  p.MemoryMB,
		retries: 0,
		source:  config.BlockRange(p.Body, coin.NameRange),
		extraNotes: nomadhcl.Notes{
			"group.payout/restart": "Never retried blindly: a payout that failed mid-way is reconciled\n" +
				"from the wallet by the next run, which cannot pay twice.",
		},
	})
}

func (b builder) blocks(coin *config.Coin) *Job {
	h := b.pool.Housekeeping
	return b.periodic(periodicSpec{
		coin:    coin.Name,
		kind:    KindBlocks,
		ledger:  true,
		cron:    h.BlocksCron,
		args:    b.ledgerArgs(coin),
		cpu:     h.CPUMHz,
		memory:  h.MemoryMB,
		retries: 1,
		source:  config.AttrRange(h.Body, "blocks_cron", coin.NameRange),
		extraNotes: nomadhcl.Notes{
			"group.blocks/restart": "Block tracking is idempotent (a block is credited once, by its hash),\n" +
				"so one quick retry is safe.",
		},
	})
}

func (b builder) stats() *Job {
	h := b.pool.Housekeeping
	return b.periodic(periodicSpec{
		kind:    KindStats,
		cron:    h.StatsCron,
		args:    []string{"--database-service=" + DatabaseService(b.pool)},
		cpu:     h.CPUMHz,
		memory:  h.MemoryMB,
		retries: 1,
		source:  config.AttrRange(h.Body, "stats_cron", b.pool.NameRange),
	})
}

func (b builder) backup() *Job {
	h := b.pool.Housekeeping
	args := []string{
		"--database-service=" + DatabaseService(b.pool),
		"--dir=" + BackupMount,
		"--keep-days=" + strconv.Itoa(h.BackupKeepDays),
	}
	for _, coin := range b.pool.Coins {
		args = append(args, "--wallet-service="+WalletService(coin.Name))
	}
	return b.periodic(periodicSpec{
		kind:    KindBackup,
		cron:    h.BackupCron,
		args:    args,
		cpu:     h.CPUMHz,
		memory:  h.MemoryMB,
		retries: 1,
		volume:  h.BackupVolume,
		// The backup volume is the database's (owned by postgres) unless the
		// operator gives backups their own.
		user:   DatabaseUser,
		source: config.AttrRange(h.Body, "backup_cron", b.pool.NameRange),
	})
}
