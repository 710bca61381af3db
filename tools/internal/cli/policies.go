package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/urfave/cli/v2"

	"github.com/scryptpool/poolmicrocloud/tools/internal/contract"
)

func policiesCommand() *cli.Command {
	return &cli.Command{
		Name:      "policies",
		Usage:     "write the pool's Consul and Nomad ACL policies",
		ArgsUsage: "[FILE]",
		Description: "Validates the pool definition, then writes one file per ACL policy into the\n" +
			"output directory: consul-poolctl-deploy.hcl and nomad-poolctl-deploy.hcl for\n" +
			"the operator's deploy tokens, and consul-<job>.hcl for each job whose tasks\n" +
			"reach Consul, each rule with the reason it is there. Ansible's acl role\n" +
			"(acl_policy_dir, by default the inventory's policies/) and terraform/\n" +
			"(var.policy_dir) install these files.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "directory to write the policies to", Required: true},
		},
		Action: func(c *cli.Context) error {
			r, err := runValidate(poolFile(c), true, c.App.Writer, c.App.ErrWriter)
			if err != nil {
				return err
			}
			return writePolicies(c.String("output"), contract.FromConfig(r.Pool).PolicyFiles())
		},
	}
}

// writePolicies replaces the policy files in dir with files: a policy
// the pool no longer has must not stay behind to be installed.
func writePolicies(dir string, files map[string][]byte) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("write policies: %w", err)
	}
	for _, pattern := range []string{"consul-*.hcl", "nomad-*.hcl"} {
		old, _ := filepath.Glob(filepath.Join(dir, pattern))
		for _, f := range old {
			if _, keep := files[filepath.Base(f)]; !keep {
				if err := os.Remove(f); err != nil {
					return fmt.Errorf("write policies: %w", err)
				}
			}
		}
	}
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if err := os.WriteFile(filepath.Join(dir, name), files[name], 0o644); err != nil {
			return fmt.Errorf("write policies: %w", err)
		}
	}
	return nil
}
