package loadgen

import (
	"context"
	"net/http"
	"time"
)

// probeEvery and probeTimeout pace waitTarget's probes.
const (
	probeEvery   = 250 * time.Millisecond
	probeTimeout = time.Second
)

// waitTarget sends GET base+"/" until the target answers with any HTTP
// response, and reports whether it did before ctx ended. A Service name
// resolves and a ClusterIP routes some time after the pods behind it are
// ready (kube-proxy and DNS program them asynchronously: on the node lab,
// a drill's first payments waited ~10 s in SYN retransmits), so load sent
// at once would start the drill's steady state with no request reaching
// the victim. The probe is not a payment: it counts in no metric here and
// reaches no handler of the victim's but the router's 404.
func waitTarget(ctx context.Context, client *http.Client, base string) bool {
	t := time.NewTicker(probeEvery)
	defer t.Stop()
	for {
		pctx, cancel := context.WithTimeout(ctx, probeTimeout)
		req, err := http.NewRequestWithContext(pctx, http.MethodGet, base+"/", nil)
		if err == nil {
			var resp *http.Response
			if resp, err = client.Do(req); err == nil {
				resp.Body.Close()
			}
		}
		cancel()
		if err == nil {
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
		}
	}
}
