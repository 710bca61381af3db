// Package pack writes the variables file of the scryptpool nomad-pack
// (packs/scryptpool) for a pool definition, so that the pack renders the
// same jobs as `poolctl render` does.
package pack

import (
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/zclconf/go-cty/cty"

	"github.com/scryptpool/poolmicrocloud/tools/internal/config"
)

// MaxCoins is how many coins the pack's templates render (coin_0 to coin_3).
const MaxCoins = config.MaxCoins

// Vars is the pack's variables file for pool p.
func Vars(p *config.Pool) []byte {
	f := hclwrite.NewEmptyFile()
	b := f.Body()
	b.AppendUnstructuredTokens(hclwrite.Tokens{{
		Type:  hclsyntax.TokenComment,
		Bytes: []byte("# Variables for packs/scryptpool, written by `poolctl render --pack-vars` from pool \"" + p.Name + "\".\n"),
	}})
	b.SetAttributeValue("pool_name", cty.StringVal(p.Name))
	b.SetAttributeValue("datacenter", cty.StringVal(p.Settings.Datacenter))
	b.SetAttributeValue("region", cty.StringVal(p.Settings.Region))
	b.SetAttributeValue("poolctl", cty.StringVal(p.Settings.Poolctl))
	lan := make([]cty.Value, 0, len(p.Cluster.LAN))
	for _, l := range p.Cluster.LAN {
		lan = append(lan, cty.StringVal(l))
	}
	if len(lan) == 0 {
		b.SetAttributeValue("lan", cty.ListValEmpty(cty.String))
	} else {
		b.SetAttributeValue("lan", cty.ListVal(lan))
	}
	b.SetAttributeValue("floating_address", cty.StringVal(p.Cluster.FloatingAddress))
	coins := make([]cty.Value, 0, len(p.Coins))
	for _, c := range p.Coins {
		coins = append(coins, coinValue(c))
	}
	b.SetAttributeValue("coins", cty.TupleVal(coins))
	d := p.Database
	b.SetAttributeValue("database", cty.ObjectVal(map[string]cty.Value{
		"instances": num(d.Instances),
		"cpu_mhz":   num(d.CPUMHz),
		"memory_mb": num(d.MemoryMB),
		"volume":    cty.StringVal(d.Volume),
		"command":   cty.StringVal(d.Command),
	}))
	h := p.Housekeeping
	b.SetAttributeValue("housekeeping", cty.ObjectVal(map[string]cty.Value{
		"blocks_cron":      cty.StringVal(h.BlocksCron),
		"stats_cron":       cty.StringVal(h.StatsCron),
		"backup_cron":      cty.StringVal(h.BackupCron),
		"backup_volume":    cty.StringVal(h.BackupVolume),
		"backup_keep_days": num(h.BackupKeepDays),
		"cpu_mhz":          num(h.CPUMHz),
		"memory_mb":        num(h.MemoryMB),
	}))
	w := p.Web
	b.SetAttributeValue("web", cty.ObjectVal(map[string]cty.Value{
		"port":      num(w.Port),
		"instances": num(w.Instances),
		"cpu_mhz":   num(w.CPUMHz),
		"memory_mb": num(w.MemoryMB),
	}))
	return hclwrite.Format(f.Bytes())
}

func num(i int) cty.Value { return cty.NumberIntVal(int64(i)) }

func stringList(ss []string) cty.Value {
	if len(ss) == 0 {
		return cty.ListValEmpty(cty.String)
	}
	vals := make([]cty.Value, len(ss))
	for i, s := range ss {
		vals[i] = cty.StringVal(s)
	}
	return cty.ListVal(vals)
}

func coinValue(c *config.Coin) cty.Value {
	w, s, p := c.Wallet, c.Stratum, c.Payout
	return cty.ObjectVal(map[string]cty.Value{
		"name":    cty.StringVal(c.Name),
		"chain":   cty.StringVal(c.Chain),
		"network": cty.StringVal(c.Network),
		"wallet": cty.ObjectVal(map[string]cty.Value{
			"instances":       num(w.Instances),
			"cpu_mhz":         num(w.CPUMHz),
			"memory_mb":       num(w.MemoryMB),
			"volume":          cty.StringVal(w.Volume),
			"command":         cty.StringVal(w.Command),
			"max_lag_blocks":  num(w.MaxLagBlocks),
			"max_tip_age":     cty.StringVal(w.MaxTipAge),
			"dbcache_mb":      num(w.DBCacheMB),
			"prune_mb":        num(w.PruneMB),
			"max_connections": num(w.MaxConnections),
			"peers":           stringList(w.Peers),
		}),
		"stratum": cty.ObjectVal(map[string]cty.Value{
			"port":        num(s.Port),
			"instances":   num(s.Instances),
			"cpu_mhz":     num(s.CPUMHz),
			"memory_mb":   num(s.MemoryMB),
			"fee_percent": cty.NumberFloatVal(s.FeePercent),
			"difficulty": cty.ObjectVal(map[string]cty.Value{
				"start":                cty.NumberFloatVal(s.Difficulty.Start),
				"min":                  cty.NumberFloatVal(s.Difficulty.Min),
				"max":                  cty.NumberFloatVal(s.Difficulty.Max),
				"target_share_seconds": num(s.Difficulty.TargetShareSeconds),
			}),
		}),
		"payout": cty.ObjectVal(map[string]cty.Value{
			"cron":          cty.StringVal(p.Cron),
			"scheme":        cty.StringVal(p.Scheme),
			"minimum":       cty.NumberFloatVal(p.Minimum),
			"window":        cty.NumberFloatVal(p.Window),
			"reserve":       cty.NumberFloatVal(p.Reserve),
			"max_outputs":   cty.NumberIntVal(int64(p.MaxOutputs)),
			"confirmations": num(p.Confirmations),
			"cpu_mhz":       num(p.CPUMHz),
			"memory_mb":     num(p.MemoryMB),
		}),
	})
}
