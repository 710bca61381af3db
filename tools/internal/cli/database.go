package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	consulapi "github.com/hashicorp/consul/api"
	"github.com/urfave/cli/v2"

	"github.com/scryptpool/poolmicrocloud/tools/internal/dbmember"
	"github.com/scryptpool/poolmicrocloud/tools/internal/deploy"
)

func databaseCommand() *cli.Command {
	return &cli.Command{
		Name:  "database",
		Usage: "the pool's replicated PostgreSQL (run by the <pool>-database job)",
		Subcommands: []*cli.Command{{
			Name:  "member",
			Usage: "run one member of the database: write Patroni's configuration and become Patroni",
			Description: "Writes Patroni's configuration (the member's addresses, the cluster's\n" +
				"keys in Consul, the members' logins from --secrets, pg_hba.conf from\n" +
				"--allow) into --dir and replaces itself with `python3 -m patroni`.\n" +
				"Patroni runs PostgreSQL, holds or follows the leader lock in Consul and\n" +
				"fails over. The local Consul agent is $CONSUL_HTTP_ADDR, its CA\n" +
				"$CONSUL_CACERT and the task's token $CONSUL_HTTP_TOKEN.",
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "name", Required: true, Usage: "the member's name: its node's"},
				&cli.StringFlag{Name: "namespace", Required: true, Usage: "Patroni's namespace (the pool's keys in Consul)"},
				&cli.StringFlag{Name: "scope", Required: true, Usage: "Patroni's scope (the cluster's name)"},
				&cli.StringFlag{Name: "data-dir", Required: true, Usage: "PostgreSQL's data directory"},
				&cli.StringFlag{Name: "bin-dir", Required: true, Usage: "PostgreSQL's programs"},
				&cli.StringFlag{Name: "listen", Required: true, Usage: "PostgreSQL's address, IP:port"},
				&cli.StringFlag{Name: "api", Required: true, Usage: "Patroni's REST API address, IP:port"},
				&cli.StringFlag{Name: "socket-dir", Required: true, Usage: "directory of PostgreSQL's Unix socket"},
				&cli.StringSliceFlag{Name: "allow", Usage: "a network the pool's processes and the members connect from (repeatable)"},
				&cli.StringFlag{Name: "secrets", Required: true, Usage: "the members' logins, JSON rendered from the job's Nomad variable"},
				&cli.StringFlag{Name: "database", Value: "pool", Usage: "the pool's database"},
				&cli.StringFlag{Name: "dir", Required: true, Usage: "where to write Patroni's configuration (the task's secrets directory)"},
				&cli.IntFlag{Name: "shared-buffers-mb", Value: 64, Usage: "PostgreSQL's shared_buffers"},
				&cli.IntFlag{Name: "max-connections", Value: 50, Usage: "PostgreSQL's max_connections (the same on every member)"},
				&cli.StringFlag{Name: "python", Value: "/usr/bin/python3", Usage: "the Python that runs Patroni"},
				&cli.StringFlag{Name: "restore-from", Usage: "make a new cluster from the database's archive in this directory, not an empty one (only when none exists in Consul)"},
				&cli.StringFlag{Name: "restore-to", Usage: "with --restore-from: the time to restore to, with its zone (2026-01-02T15:04:05Z)"},
				&cli.StringFlag{Name: "restore-key", Usage: "the Consul key of the operator's restore request (poolctl database restore): when it names a restore this member's data directory does not follow yet, the directory is set aside and a new cluster is made from the archive it names"},
			},
			Action: func(c *cli.Context) error {
				s, err := dbmember.ReadSecrets(c.String("secrets"))
				if err != nil {
					return withCode(ExitInvalid, err)
				}
				m := dbmember.Member{
					Name: c.String("name"), Namespace: c.String("namespace"), Scope: c.String("scope"),
					DataDir: c.String("data-dir"), BinDir: c.String("bin-dir"),
					Listen: c.String("listen"), API: c.String("api"), SocketDir: c.String("socket-dir"),
					PGPass: c.String("dir") + "/pgpass", Allow: c.StringSlice("allow"),
					ConsulAddr: os.Getenv("CONSUL_HTTP_ADDR"), ConsulCACert: os.Getenv("CONSUL_CACERT"),
					ConsulToken:       os.Getenv("CONSUL_HTTP_TOKEN"),
					SuperuserPassword: s.SuperuserPassword, ReplicationPassword: s.ReplicationPassword,
					RewindPassword: s.RewindPassword, PoolUser: s.PoolUser, PoolVerifier: s.PoolVerifier,
					WebVerifier:     s.WebVerifier,
					PoolDatabase:    c.String("database"),
					SharedBuffersMB: c.Int("shared-buffers-mb"), MaxConnections: c.Int("max-connections"),
				}
				if m.ConsulAddr == "" {
					m.ConsulAddr = "127.0.0.1:8500"
				}
				_, port, err := net.SplitHostPort(m.Listen)
				if err != nil {
					return withCode(ExitInvalid, fmt.Errorf("--listen %q: %w", m.Listen, err))
				}
				if from, to := c.String("restore-from"), c.String("restore-to"); from != "" || to != "" {
					if from == "" || to == "" {
						return withCode(ExitInvalid, fmt.Errorf("--restore-from and --restore-to go together"))
					}
					m.RestoreCommand = []string{os.Args[0], "archive", "restore", "--dir=" + from, "--to=" + to, "--pg-bin=" + m.BinDir}
				} else if key := c.String("restore-key"); key != "" {
					cmd, err := followRestore(c, m, key)
					if err != nil {
						return err
					}
					m.RestoreCommand = cmd
				}
				m.EnsureLogins = []string{os.Args[0], "database", "ensure-logins",
					"--secrets=" + c.String("secrets"), "--socket-dir=" + m.SocketDir, "--port=" + port, "--database=" + m.PoolDatabase,
					"--patroni-api=" + m.API}
				if err := checkDataDir(c, m); err != nil {
					return err
				}
				files, err := dbmember.Prepare(m, c.String("dir"))
				if err != nil {
					return withCode(ExitInvalid, err)
				}
				fmt.Fprintf(c.App.ErrWriter, "database member %s: Patroni's configuration is in %s; starting Patroni\n", m.Name, files.Config)
				return withCode(ExitRuntime, dbmember.Exec(c.String("python"), files))
			},
		}, databaseRestoreCommand(), {
			Name:      "ensure-logins",
			Usage:     "make the primary's logins and the pool's database match the job's variable (Patroni runs it)",
			ArgsUsage: "[what Patroni adds: a URL, or action role scope]",
			Description: "Connects to this member's PostgreSQL through its Unix socket as the\n" +
				"superuser (peer: run it as the postgres user) and, if it is the primary,\n" +
				"creates or updates the pool's login, the replication and rewind logins\n" +
				"(SCRAM verifiers, never clear passwords) and the pool's database. On a\n" +
				"replica it does nothing: roles replicate from the primary. Patroni runs\n" +
				"it after creating the cluster, on start and on every change of role.",
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "secrets", Required: true, Usage: "the members' logins, JSON rendered from the job's Nomad variable"},
				&cli.StringFlag{Name: "socket-dir", Required: true, Usage: "directory of PostgreSQL's Unix socket"},
				&cli.IntFlag{Name: "port", Required: true, Usage: "PostgreSQL's port"},
				&cli.StringFlag{Name: "database", Value: "pool", Usage: "the pool's database"},
				&cli.DurationFlag{Name: "wait", Value: time.Minute, Usage: "how long to wait for PostgreSQL to accept connections"},
				&cli.StringFlag{Name: "patroni-api", Usage: "this member's Patroni REST API, host:port: the cluster's configuration gets the archive's slot"},
			},
			Action: func(c *cli.Context) error {
				s, err := dbmember.ReadSecrets(c.String("secrets"))
				if err != nil {
					return withCode(ExitInvalid, err)
				}
				logins, err := dbmember.Logins(s)
				if err != nil {
					return withCode(ExitRuntime, err)
				}
				conn, err := dbmember.ConnectLocal(c.Context, c.String("socket-dir"), c.Int("port"), c.Duration("wait"))
				if err != nil {
					return withCode(ExitRuntime, err)
				}
				defer conn.Close(context.Background())
				// Patroni's callbacks add: action, role, scope.
				promoting := c.Args().Len() == 3 && dbmember.PrimaryRole(c.Args().Get(1))
				ctx, cancel := context.WithTimeout(c.Context, c.Duration("wait"))
				defer cancel()
				err = dbmember.EnsureLogins(ctx, conn, logins, c.String("database"), promoting)
				switch {
				case errors.Is(err, dbmember.ErrReplica):
					fmt.Fprintln(c.App.ErrWriter, "ensure-logins:", err)
					return nil
				case err != nil:
					return withCode(ExitRuntime, err)
				}
				// Grants are per database: the read-only login's are made
				// in the pool's.
				pooldb, err := dbmember.ConnectLocalTo(ctx, c.String("socket-dir"), c.Int("port"), c.String("database"), c.Duration("wait"))
				if err != nil {
					return withCode(ExitRuntime, err)
				}
				defer pooldb.Close(context.Background())
				if err := dbmember.EnsureReadOnly(ctx, pooldb, logins, c.String("database"), s.PoolUser); err != nil {
					return withCode(ExitRuntime, err)
				}
				fmt.Fprintf(c.App.ErrWriter, "ensure-logins: the primary's logins (%d) and database %s match the job's variable\n", len(logins), c.String("database"))
				if api := c.String("patroni-api"); api != "" && c.Args().Len() == 3 {
					// Patroni's REST API answers once it runs callbacks;
					// post_bootstrap comes before it (bootstrap.dcs has the
					// settings then).
					changed, err := dbmember.EnsureSlotSettings(ctx, api)
					if err != nil {
						return withCode(ExitRuntime, err)
					}
					if changed {
						fmt.Fprintln(c.App.ErrWriter, "ensure-logins: the cluster's configuration now keeps the archive's replication slot")
					}
				}
				return nil
			},
		}},
	}
}

// checkDataDir sets aside a data directory that is another cluster's or
// broken, when a primary exists to copy, and refuses to start when none
// does: such a directory is never run, let alone promoted.
func checkDataDir(c *cli.Context, m dbmember.Member) error {
	d, err := dbmember.Inspect(m.DataDir, m.BinDir)
	if err != nil {
		return withCode(ExitRuntime, err)
	}
	if d.Empty {
		return nil
	}
	var initialize, leader string
	consul, _, err := deploy.NewConsul(deploy.ConnOptions{})
	if err == nil {
		ctx, cancel := context.WithTimeout(c.Context, 10*time.Second)
		defer cancel()
		q := (&consulapi.QueryOptions{}).WithContext(ctx)
		var pair *consulapi.KVPair
		if pair, _, err = consul.KV().Get(m.DCSKey("initialize"), q); err == nil && pair != nil {
			initialize = string(pair.Value)
		}
		if err == nil {
			if pair, _, err = consul.KV().Get(m.DCSKey("leader"), q); err == nil && pair != nil {
				leader = string(pair.Value)
			}
		}
	}
	if err != nil {
		// Patroni waits for Consul itself; without it nothing is judged.
		fmt.Fprintf(c.App.ErrWriter, "database member %s: cannot compare the data directory with the cluster (%v); leaving it to Patroni\n", m.Name, err)
		return nil
	}
	verdict, why := dbmember.Decide(d, initialize, leader, m.Name)
	switch verdict {
	case dbmember.SetAside:
		to, err := dbmember.SetAsideDir(m.DataDir, time.Now())
		if err != nil {
			return withCode(ExitRuntime, err)
		}
		fmt.Fprintf(c.App.ErrWriter, "database member %s: %s (now %s)\n", m.Name, why, to)
	case dbmember.Refuse:
		return withCode(ExitRuntime, fmt.Errorf("database member %s: %s", m.Name, why))
	}
	return nil
}

// followRestore reads the operator's restore request from Consul and
// makes this member's data directory follow it (dbmember.FollowRestore).
// It returns the custom bootstrap command that fetches the archive from
// the service the request names and restores it, used if this member
// creates the new cluster; nil when no restore was ever asked for. A
// request that cannot be read stops the member: starting without it
// could run a copy the operator replaced.
func followRestore(c *cli.Context, m dbmember.Member, key string) ([]string, error) {
	consul, _, err := deploy.NewConsul(deploy.ConnOptions{})
	if err != nil {
		return nil, withCode(ExitRuntime, fmt.Errorf("database member %s: %w", m.Name, err))
	}
	ctx, cancel := context.WithTimeout(c.Context, 30*time.Second)
	defer cancel()
	pair, _, err := consul.KV().Get(key, (&consulapi.QueryOptions{}).WithContext(ctx))
	if err != nil {
		return nil, withCode(ExitRuntime, fmt.Errorf("database member %s: read the restore request %s: %w", m.Name, key, err))
	}
	if pair == nil {
		return nil, nil
	}
	r, err := dbmember.ParseRestoreRequest(pair.Value)
	if err != nil {
		return nil, withCode(ExitRuntime, fmt.Errorf("database member %s: Consul key %s: %w", m.Name, key, err))
	}
	moved, err := dbmember.FollowRestore(m.DataDir, r)
	if err != nil {
		return nil, withCode(ExitRuntime, fmt.Errorf("database member %s: %w", m.Name, err))
	}
	if moved != "" {
		fmt.Fprintf(c.App.ErrWriter, "database member %s: restore %s to %s: the data directory from before it is now %s\n",
			m.Name, r.ID, r.Target.UTC().Format(time.RFC3339Nano), moved)
	}
	passwordFile := filepath.Join(c.String("dir"), "replication.password")
	if err := os.WriteFile(passwordFile, []byte(m.ReplicationPassword+"\n"), 0o600); err != nil {
		return nil, withCode(ExitRuntime, fmt.Errorf("database member %s: %w", m.Name, err))
	}
	// Patroni runs the bootstrap without the task's Consul variables
	// (dbmember.PatroniEnv): the agent's address and CA are given as
	// flags, the task's token in a file of the task's secrets.
	cmd := []string{os.Args[0], "archive", "restore", "--from-service=" + r.Archive, "--password-file=" + passwordFile,
		"--to=" + r.Target.UTC().Format(time.RFC3339Nano), "--pg-bin=" + m.BinDir, "--consul-address=" + m.ConsulAddr}
	if m.ConsulCACert != "" {
		cmd = append(cmd, "--consul-ca-cert="+m.ConsulCACert)
	}
	if m.ConsulToken != "" {
		tokenFile := filepath.Join(c.String("dir"), "consul.token")
		if err := os.WriteFile(tokenFile, []byte(m.ConsulToken+"\n"), 0o600); err != nil {
			return nil, withCode(ExitRuntime, fmt.Errorf("database member %s: %w", m.Name, err))
		}
		cmd = append(cmd, "--consul-token-file="+tokenFile)
	}
	return cmd, nil
}
