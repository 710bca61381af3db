// Command poolctl renders, validates, plans, deploys and reports a scrypt
// mining pool on Nomad and Consul, and runs the pool's own processes.
package main

import (
	"os"

	"github.com/scryptpool/poolmicrocloud/tools/internal/cli"
)

func main() {
	os.Exit(cli.Main(os.Args, os.Stdout, os.Stderr))
}
