[[ template "coin" (dict "ctx" . "index" 2 "kind" "payout") ]]
