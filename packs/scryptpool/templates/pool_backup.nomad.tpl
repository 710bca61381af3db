[[- $h := var "housekeeping" . -]]
[[- $args := list (printf "--database-service=%s-database" (var "pool_name" .)) "--dir=/backup" (printf "--keep-days=%v" $h.backup_keep_days) -]]
[[- range var "coins" . ]][[ $args = append $args (printf "--wallet-service=%s-wallet" .name) ]][[ end -]]
[[ template "periodic" (dict "ctx" . "kind" "backup" "id" (printf "%s-backup" (var "pool_name" .)) "title" "backups of the database and wallets" "cron" $h.backup_cron "retries" 1 "cpu" $h.cpu_mhz "memory" $h.memory_mb "volume" $h.backup_volume "user" "postgres" "args" $args) ]]
