package cli

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/scryptpool/poolmicrocloud/tools/internal/miner"
)

func minerCommand() *cli.Command {
	return &cli.Command{
		Name:      "miner",
		Usage:     "mine through a stratum server with the CPU (for tests and benchmarks)",
		ArgsUsage: "host:port",
		Description: "A scrypt CPU miner speaking stratum v1 as cpuminer does. It reconnects when\n" +
			"the server goes away or sends client.reconnect, and prints accepted and\n" +
			"rejected shares every --report and when it stops (Ctrl-C, or --duration).",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "user", Required: true, Usage: "payout address[.worker]"},
			&cli.StringFlag{Name: "password", Value: "x", Usage: "password; d=N asks for share difficulty N"},
			&cli.IntFlag{Name: "threads", Value: 1, Usage: "hashing threads"},
			&cli.DurationFlag{Name: "duration", Usage: "stop after this long (0: until interrupted)"},
			&cli.DurationFlag{Name: "report", Value: 10 * time.Second, Usage: "how often to print the counts"},
		},
		Action: func(c *cli.Context) error {
			if c.Args().Len() != 1 {
				return withCode(ExitInvalid, fmt.Errorf("give the stratum server as host:port"))
			}
			ctx := c.Context
			if d := c.Duration("duration"); d > 0 {
				var cancel func()
				ctx, cancel = context.WithTimeout(ctx, d)
				defer cancel()
			}
			m := miner.New(miner.Options{
				Addr: c.Args().First(), User: c.String("user"), Password: c.String("password"),
				Threads: c.Int("threads"), Log: slog.New(slog.NewTextHandler(c.App.ErrWriter, nil)),
			})
			start := time.Now()
			done := make(chan struct{})
			go func() {
				defer close(done)
				_ = m.Run(ctx)
			}()
			report := time.NewTicker(c.Duration("report"))
			defer report.Stop()
			for {
				select {
				case <-report.C:
					printMinerStats(c, m.Stats(), time.Since(start))
				case <-done:
					printMinerStats(c, m.Stats(), time.Since(start))
					return nil
				}
			}
		},
	}
}

func printMinerStats(c *cli.Context, s miner.Stats, elapsed time.Duration) {
	fmt.Fprintf(c.App.Writer, "accepted %d  rejected %d  blocks %d  connects %d  %.0f H/s\n",
		s.Accepted, s.Rejected, s.Blocks, s.Connects, float64(s.Hashes)/elapsed.Seconds())
}
