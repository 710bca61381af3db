package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/scryptpool/poolmicrocloud/tools/internal/config"
	"github.com/scryptpool/poolmicrocloud/tools/internal/jobspec"
)

// production is the example whose database job the members are sized by.
const production = "examples/home-12pi/pool.hcl"

// environment is what the figures were measured on.
type environment struct {
	cpus int
	// load is the 1-minute load average when the run began: the machine
	// may be shared, and the figures move with it.
	load string
	// filesystem is where the members' data is: fsync's cost is the
	// disk's.
	filesystem                      string
	goVersion, postgres, patroni    string
	sharedBuffersMB, maxConnections int
	single, synced                  settings
}

// settings are a primary's durability settings, read from the server.
type settings struct {
	fsync, synchronousCommit, syncStandbyNames string
}

// loadAverage is /proc/loadavg's 1-minute figure, or "unknown".
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); err == nil && len(f) > 0 {
		return f[0]
	}
	return "unknown"
}

// filesystem names the filesystem holding dir and its device.
func filesystem(dir string) string {
	out, err := exec.Command("findmnt", "-n", "-o", "FSTYPE,SOURCE", "-T", dir).Output()
	if f := strings.Fields(string(out)); err == nil && len(f) == 2 {
		return fmt.Sprintf("%s (%s)", f[0], f[1])
	}
	return "an unknown filesystem"
}

// productionSizing is the shared_buffers and max_connections the
// production example's database job gives its members.
func productionSizing() (sharedBuffersMB, maxConnections int, err error) {
	pool, _, diags := config.Load(production)
	if diags.HasErrors() {
		return 0, 0, fmt.Errorf("%s: %s", production, diags.Error())
	}
	for _, j := range jobspec.Render(pool) {
		if j.Kind != jobspec.KindDatabase {
			continue
		}
		for _, g := range j.Job.TaskGroups {
			for _, task := range g.Tasks {
				args, _ := task.Config["args"].([]string)
				for _, a := range args {
					if v, ok := strings.CutPrefix(a, "--shared-buffers-mb="); ok {
						sharedBuffersMB, err = strconv.Atoi(v)
					}
					if v, ok := strings.CutPrefix(a, "--max-connections="); ok && err == nil {
						maxConnections, err = strconv.Atoi(v)
					}
					if err != nil {
						return 0, 0, fmt.Errorf("%s's database job: %q: %w", production, a, err)
					}
				}
			}
		}
	}
	if sharedBuffersMB == 0 || maxConnections == 0 {
		return 0, 0, fmt.Errorf("%s renders no database job with --shared-buffers-mb and --max-connections", production)
	}
	return sharedBuffersMB, maxConnections, nil
}

// readSettings asks the cluster's primary how it makes a commit durable.
func readSettings(ctx context.Context, dsn string) (settings, error) {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return settings{}, err
	}
	defer conn.Close(context.Background())
	var s settings
	err = conn.QueryRow(ctx, `SELECT current_setting('fsync'), current_setting('synchronous_commit'), current_setting('synchronous_standby_names')`).
		Scan(&s.fsync, &s.synchronousCommit, &s.syncStandbyNames)
	if err != nil {
		return settings{}, fmt.Errorf("read the primary's settings: %w", err)
	}
	return s, nil
}
