[[- $h := var "housekeeping" . -]]
[[- $args := list (printf "--database-service=%s-database" (var "pool_name" .)) "--database-credentials=${NOMAD_SECRETS_DIR}/database.credentials" -]]
[[- range var "coins" . ]][[ if eq .payout.scheme "pplns" ]][[ $args = append $args (printf "--scheme=%s=pplns:%v" .name .payout.window) ]][[ else ]][[ $args = append $args (printf "--scheme=%s=%s" .name .payout.scheme) ]][[ end ]][[ end -]]
[[ template "periodic" (dict "ctx" . "kind" "stats" "id" (printf "%s-stats" (var "pool_name" .)) "title" "statistics roll-up" "cron" $h.stats_cron "retries" 1 "cpu" $h.cpu_mhz "memory" $h.memory_mb "args" $args "logins" (list (dict "file" "database.credentials" "user" "db_user" "password" "db_password"))) ]]
