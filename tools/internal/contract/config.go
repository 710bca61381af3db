package contract

import "github.com/scryptpool/poolmicrocloud/tools/internal/config"

// FromConfig takes from a pool definition what the contract needs.
func FromConfig(p *config.Pool) Pool {
	out := Pool{Name: p.Name, FloatingAddress: p.Cluster.FloatingAddress != ""}
	for _, c := range p.Coins {
		out.Coins = append(out.Coins, c.Name)
		out.Volumes = append(out.Volumes, c.Wallet.Volume)
	}
	out.Volumes = append(out.Volumes, p.Database.Volume, p.Housekeeping.BackupVolume)
	return out
}
