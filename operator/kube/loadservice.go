package kube

import (
	"context"
	"errors"
	"fmt"

	"github.com/cascadelab/cascadelab/operator/admission"
	"github.com/cascadelab/cascadelab/operator/drive"
)

// checkLoadService re-reads the Service a spec.target loadURL names each
// time the load is ensured: before the load Job is created and on every
// later check while the load runs. The policy check before the drill only
// saw it once; a Service deleted, turned into an ExternalName (an alias of
// any host), replaced under its name or pointed at other pods since then
// ends the drill (a Permanent error: the driver fails it and stops the
// load) with what changed, instead of carrying the load elsewhere. A read
// that fails is retried. A restarted manager compares with the Service as
// it first reads it.
func (b *clusterBackend) checkLoadService(ctx context.Context) error {
	exp := b.exp()
	if exp.Spec.Target == nil || exp.Spec.Target.LoadURL == "" {
		return nil
	}
	domain := ""
	if b.r.Policy != nil {
		domain = b.r.Policy.ClusterDomain()
	}
	now, err := admission.ReadLoadService(ctx, b.r.reader(), exp.Spec.Target.LoadURL, exp.Namespace, domain)
	switch {
	case errors.Is(err, admission.ErrLoadServiceRefused):
		return drive.Permanent(fmt.Errorf("loadURL %s: %w", exp.Spec.Target.LoadURL, err))
	case err != nil:
		return err
	case b.loadService == nil:
		b.loadService = &now
		return nil
	}
	if d := b.loadService.Changed(now); d != "" {
		return drive.Permanent(fmt.Errorf("loadURL %s: %s since the load Job was created", exp.Spec.Target.LoadURL, d))
	}
	return nil
}
