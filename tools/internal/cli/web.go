package cli

import (
	"log/slog"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/scryptpool/poolmicrocloud/tools/internal/deploy"
	"github.com/scryptpool/poolmicrocloud/tools/internal/ledger"
	"github.com/scryptpool/poolmicrocloud/tools/internal/webserve"
)

func webCommand() *cli.Command {
	return &cli.Command{
		Name:  "web",
		Usage: "serve the pool's MiningCore-compatible API (run by the <pool>-web job)",
		Description: "Serves MiningCore's JSON API (/api/pools, /api/pools/{coin}/blocks, ...) from the\n" +
			"pool's database, read-only: give it the web job's read-only login. The coins'\n" +
			"settings come from the pool definition poolctl deploy recorded in Consul\n" +
			"(or --definition), each coin's pool address from Consul; both are followed,\n" +
			"so a deploy or a newly chosen pool address shows without a restart. SIGTERM\n" +
			"or SIGINT finish the requests under way and stop.",
		Flags: append(append(connFlags(), databaseFlags()...),
			&cli.StringFlag{Name: "listen", Value: "127.0.0.1:8080", Usage: "host:port to serve on"},
			&cli.StringFlag{Name: "definition", Usage: "a pool definition file to serve instead of the one deploy recorded in Consul"},
			&cli.DurationFlag{Name: "follow", Value: time.Minute, Usage: "at most this long before a newly chosen pool address shows"},
		),
		Action: runWeb,
	}
}

func runWeb(c *cli.Context) error {
	o := webserve.Options{
		Pool:   c.String("pool"),
		Listen: c.String("listen"),
		Follow: c.Duration("follow"),
		Logger: slog.New(slog.NewTextHandler(c.App.ErrWriter, nil)),
	}
	if path := c.String("definition"); path != "" {
		r, err := runValidate(path, true, c.App.Writer, c.App.ErrWriter)
		if err != nil {
			return err
		}
		o.Definition, o.Pool = r.Pool, r.Pool.Name
	}
	dbURL, err := databaseURL(c)
	if err != nil {
		return withCode(ExitInvalid, err)
	}
	consul, _, err := deploy.NewConsul(taskConnOptions(c))
	if err != nil {
		return withCode(ExitRuntime, err)
	}
	o.Consul = consul
	db, err := ledger.OpenReader(dbURL, consul, c.String("database-service"), 4)
	if err != nil {
		return withCode(ExitInvalid, err)
	}
	defer db.Close()
	o.DB = db
	if err := webserve.Run(c.Context, o); err != nil {
		return withCode(ExitRuntime, err)
	}
	return nil
}
