package dbmember

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"time"
)

// EnsureSlotSettings makes the cluster's configuration carry SlotSettings,
// through the member's own Patroni REST API (api is host:port): PATCH
// /config merges them into what Patroni keeps in Consul, and Patroni makes
// the slot on the primary. It reports whether it changed anything.
//
// Patroni answers 502 while the cluster has no configuration in Consul
// yet (right after it takes over a data directory): that is waited out,
// up to ctx's deadline.
func EnsureSlotSettings(ctx context.Context, api string) (bool, error) {
	url := "http://" + api + "/config"
	var body []byte
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return false, err
		}
		resp, err := patroniClient.Do(req)
		if err != nil {
			return false, fmt.Errorf("read the cluster's configuration from Patroni: %w", err)
		}
		body, err = io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		if err == nil && resp.StatusCode == http.StatusOK {
			break
		}
		if resp.StatusCode != http.StatusBadGateway {
			return false, fmt.Errorf("read the cluster's configuration from Patroni: %s", resp.Status)
		}
		select {
		case <-ctx.Done():
			return false, fmt.Errorf("read the cluster's configuration from Patroni: it has none in Consul yet (%s): %w", resp.Status, ctx.Err())
		case <-time.After(500 * time.Millisecond):
		}
	}
	var current map[string]any
	if err := json.Unmarshal(body, &current); err != nil {
		return false, fmt.Errorf("Patroni's configuration is not JSON: %w", err)
	}
	want := SlotSettings()
	wantJSON, _ := json.Marshal(want)
	var wantGeneric map[string]any
	_ = json.Unmarshal(wantJSON, &wantGeneric)
	if reflect.DeepEqual(current["slots"], wantGeneric["slots"]) && reflect.DeepEqual(current["ignore_slots"], wantGeneric["ignore_slots"]) {
		return false, nil
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPatch, url, bytes.NewReader(wantJSON))
	if err != nil {
		return false, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := patroniClient.Do(req)
	if err != nil {
		return false, fmt.Errorf("set the archive's slot in the cluster's configuration: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return false, fmt.Errorf("set the archive's slot in the cluster's configuration: %s", resp.Status)
	}
	return true, nil
}

// patroniClient talks to the member's own Patroni directly: never through
// a proxy the environment may name.
var patroniClient = &http.Client{Transport: &http.Transport{Proxy: nil}, Timeout: 10 * time.Second}
