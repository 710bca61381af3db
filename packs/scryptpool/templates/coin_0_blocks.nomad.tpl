[[ template "coin" (dict "ctx" . "index" 0 "kind" "blocks") ]]
