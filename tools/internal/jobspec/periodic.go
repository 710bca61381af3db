package jobspec

import (
	"fmt"
	"path"
	"strconv"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/nomad/api"

	"github.com/scryptpool/poolmicrocloud/tools/internal/config"
	"github.com/scryptpool/poolmicrocloud/tools/internal/contract"
	"github.com/scryptpool/poolmicrocloud/tools/internal/nomadhcl"
	"github.com/scryptpool/poolmicrocloud/tools/internal/secrets"
)

// BackupMount is where the backup volume appears inside the backup task.
const BackupMount = "/backup"

type periodicSpec struct {
	coin string
	kind Kind
	// secrets are the credential files the job's task reads, rendered
	// from its own Nomad variable (deploy copies the logins there).
	secrets    []*api.Template
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
	task.Templates = spec.secrets
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

// loginTemplate renders user:password from two items of a Nomad
// variable into a file of the task's secrets directory. A task that runs
// as another user than nobody (the backup, as postgres, whose uid differs
// from node to node) gets it readable by all, inside the secrets
// directory that only the task's user can enter.
func loginTemplate(file, variable, userItem, passwordItem, taskUser string) *api.Template {
	t := secretTemplate("secrets/"+file, fmt.Sprintf("{{ with nomadVar %q }}{{ .%s }}:{{ .%s }}{{ end }}\n", variable, userItem, passwordItem))
	if taskUser != "" && taskUser != "nobody" {
		t.Perms, t.Uid, t.Gid = ptr("0444"), nil, nil
	}
	return t
}

// ledgerSecrets are the wallets' and the database's logins of a payout
// or blocks job.
func ledgerSecrets(coin string, kind Kind) []*api.Template {
	variable := LedgerSecretsPath(coin, kind)
	return []*api.Template{
		loginTemplate("wallet.credentials", variable, secrets.ItemUser, secrets.ItemPassword, ""),
		loginTemplate("database.credentials", variable, secrets.ItemDatabaseUser, secrets.ItemDatabasePassword, ""),
	}
}

// HousekeepingSecretsPath is the Nomad variable of the pool's stats or
// backup job: the database's login and, for backups, each coin's wallets'
// (items <coin>_rpc_user and <coin>_rpc_password).
func HousekeepingSecretsPath(p *config.Pool, kind Kind) string {
	return contract.VariablePath(JobID(p, "", kind))
}

// CoinItem is a coin's copy of a wallet login item in a variable that
// holds several coins'.
func CoinItem(coin, item string) string { return coin + "_" + item }

// LedgerSecretsPath is the Nomad variable of a coin's payout or blocks
// job: the wallets' RPC login and the database's, copied there by deploy
// (a periodic job's runs read their parent job's variable).
func LedgerSecretsPath(coin string, kind Kind) string {
	return contract.VariablePath(contract.JobID("", coin, string(kind)))
}

// ledgerArgs are what the blocks and payout jobs share: where the wallets
// and the database are, and how a block is credited.
func (b builder) ledgerArgs(coin *config.Coin) []string {
	p := coin.Payout
	return []string{
		"--coin=" + coin.Name,
		"--network=" + coin.Network,
		"--wallet-service=" + contract.WalletService(coin.Name),
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
		coin:    coin.Name,
		kind:    KindPayout,
		secrets: ledgerSecrets(coin.Name, KindPayout),
		cron:    p.Cron,
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
		secrets: ledgerSecrets(coin.Name, KindBlocks),
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
	args := []string{
		"--database-service=" + DatabaseService(b.pool),
		"--database-credentials=${NOMAD_SECRETS_DIR}/database.credentials",
	}
	for _, coin := range b.pool.Coins {
		scheme := coin.Payout.Scheme
		if scheme == "pplns" {
			scheme += ":" + formatFloat(coin.Payout.Window)
		}
		args = append(args, "--scheme="+coin.Name+"="+scheme)
	}
	variable := HousekeepingSecretsPath(b.pool, KindStats)
	return b.periodic(periodicSpec{
		kind:    KindStats,
		cron:    h.StatsCron,
		args:    args,
		secrets: []*api.Template{loginTemplate("database.credentials", variable, secrets.ItemDatabaseUser, secrets.ItemDatabasePassword, "")},
		cpu:     h.CPUMHz,
		memory:  h.MemoryMB,
		retries: 1,
		source:  config.AttrRange(h.Body, "stats_cron", b.pool.NameRange),
		extraNotes: nomadhcl.Notes{
			"group.stats/restart": "The roll-up replaces the hours it counts and pruning keeps every\n" +
				"window a payout may read, so one quick retry is safe.",
		},
	})
}

func (b builder) backup() *Job {
	h := b.pool.Housekeeping
	variable := HousekeepingSecretsPath(b.pool, KindBackup)
	args := []string{
		"--database-service=" + DatabaseService(b.pool),
		"--database-credentials=${NOMAD_SECRETS_DIR}/database.credentials",
		"--dir=" + BackupMount,
		"--keep-days=" + strconv.Itoa(h.BackupKeepDays),
		"--wallet-backup-dir=" + path.Join(ChainMount, "{instance}", WalletBackupDir),
	}
	templates := []*api.Template{loginTemplate("database.credentials", variable, secrets.ItemDatabaseUser, secrets.ItemDatabasePassword, DatabaseUser)}
	for _, coin := range b.pool.Coins {
		file := coin.Name + "-wallet.credentials"
		args = append(args, "--wallet="+contract.WalletService(coin.Name)+":${NOMAD_SECRETS_DIR}/"+file)
		templates = append(templates, loginTemplate(file, variable, CoinItem(coin.Name, secrets.ItemUser), CoinItem(coin.Name, secrets.ItemPassword), DatabaseUser))
	}
	return b.periodic(periodicSpec{
		kind:    KindBackup,
		cron:    h.BackupCron,
		args:    args,
		secrets: templates,
		cpu:     h.CPUMHz,
		memory:  h.MemoryMB,
		retries: 1,
		volume:  h.BackupVolume,
		// The backup volume is the database's (owned by postgres) unless the
		// operator gives backups their own.
		user:   DatabaseUser,
		source: config.AttrRange(h.Body, "backup_cron", b.pool.NameRange),
		extraNotes: nomadhcl.Notes{
			"group.backup/restart": "A dump is renamed into place only once it reads back whole, and a\n" +
				"wallet copy overwrites only its own day's, so one quick retry is safe.",
		},
	})
}
