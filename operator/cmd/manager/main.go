// Command manager runs the cascadelab operator: a controller-runtime manager
// with the Experiment reconciler (package operator/kube).
//
// Run it against a cluster with Chaos Mesh installed:
//
//	go run ./operator/cmd/manager --kubeconfig ~/.kube/config --victim-image ghcr.io/cascadelab/victim:dev
//
// Without --kubeconfig it uses $KUBECONFIG, then in-cluster config, then
// ~/.kube/config.
//
// It serves a validating admission webhook for Experiments (the creator's
// rights checked with SubjectAccessReviews, and the policy of
// --allowed-victim-images, --max-load-rate and loadURLs limited to the
// namespace's own Services; docs/security.md), with a certificate it
// generates and rotates itself (open-policy-agent/cert-controller) unless
// --webhook-cert-rotation=false. Outside the cluster, where the API server
// cannot call it, run it with --enable-webhook=false: the policy is still
// enforced when a drill starts, the creator's rights are not checked. Where
// pod IPs are not reachable from the manager's machine (kind on Docker
// Desktop), add --scrape-via=apiserver: the victim's admin servers and
// chaos-daemon's metrics are then read through the API server's pod proxy,
// with the kubeconfig user's rights (get on pods/proxy).
package main

import (
	"crypto/tls"
	"flag"
	"os"
	"time"

	chaosv1alpha1 "github.com/chaos-mesh/chaos-mesh/api/v1alpha1"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/klog/v2/textlogger"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/metrics/filters"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/webhook"

	"github.com/cascadelab/cascadelab/operator/api/v1alpha1"
	"github.com/cascadelab/cascadelab/operator/kube"
	"github.com/cascadelab/cascadelab/operator/observe"
)

// The metrics endpoint authenticates its callers with TokenReviews and
// authorizes them with SubjectAccessReviews (get on the URL /metrics,
// manifests/rbac/metrics_reader_role.yaml).
// +kubebuilder:rbac:groups=authentication.k8s.io,resources=tokenreviews,verbs=create
// +kubebuilder:rbac:groups=authorization.k8s.io,resources=subjectaccessreviews,verbs=create

func main() {
	var (
		metricsAddr, probeAddr, image, storage, scrapeVia string
		chaosMeshNS                                       string
		leaderElect, metricsSecure                        bool
		sample                                            time.Duration
	)
	flag.StringVar(&metricsAddr, "metrics-bind-address", ":8080", "address of the metrics endpoint (0 disables it)")
	flag.BoolVar(&metricsSecure, "metrics-secure", true, "serve metrics over HTTPS to callers the API server authenticates and authorizes (get on the non-resource URL /metrics: ClusterRole cascadelab-metrics-reader); false serves them to anyone over plain HTTP")
	flag.StringVar(&probeAddr, "health-probe-bind-address", ":8081", "address of /healthz and /readyz")
	flag.BoolVar(&leaderElect, "leader-elect", false, "elect a leader, for more than one replica")
	flag.StringVar(&image, "victim-image", kube.DefaultVictimImage, "victim image when spec.victim.image is empty")
	flag.StringVar(&storage, "ledger-storage", "", "size of a PVC for the ledger (empty: emptyDir)")
	flag.DurationVar(&sample, "sample-interval", 2*time.Second, "time between observations of a drill")
	flag.StringVar(&scrapeVia, "scrape-via", kube.ScrapeDirect, "how to reach the pods scraped (victim admin servers, chaos-daemon metrics): direct (pod IPs; in the cluster) or apiserver (the API server's pod proxy; for a manager outside the cluster, whose kubeconfig user needs get on pods/proxy)")
	flag.StringVar(&chaosMeshNS, "chaos-mesh-namespace", kube.DefaultChaosMeshNamespace, "Chaos Mesh's namespace: the residue check reads chaos-daemon only from pods there that a DaemonSet controls")
	var sec securityFlags
	sec.register(flag.CommandLine)
	logCfg := textlogger.NewConfig()
	logCfg.AddFlags(flag.CommandLine) // -v, --vmodule
	flag.Parse()                      // --kubeconfig is registered by controller-runtime's config package
	ctrl.SetLogger(textlogger.NewLogger(logCfg))
	log := ctrl.Log.WithName("setup")
	policy, err := sec.policy(image)
	if err != nil {
		log.Error(err, "invalid policy flags")
		os.Exit(2)
	}
	if scrapeVia, err = kube.ParseScrapeVia(scrapeVia); err != nil {
		log.Error(err, "invalid flag")
		os.Exit(2)
	}

	scheme := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(v1alpha1.AddToScheme(scheme))
	utilruntime.Must(chaosv1alpha1.AddToScheme(scheme))

	cfg := ctrl.GetConfigOrDie()
	metrics := metricsserver.Options{BindAddress: metricsAddr}
	if metricsSecure {
		metrics.SecureServing = true
		metrics.FilterProvider = filters.WithAuthenticationAndAuthorization
		// HTTP/1.1 only: HTTP/2's stream handling had denial-of-service
		// flaws (rapid reset) an unauthenticated caller could use.
		metrics.TLSOpts = []func(*tls.Config){func(c *tls.Config) { c.NextProtos = []string{"http/1.1"} }}
	} else {
		log.Info("WARNING: --metrics-secure=false: metrics (every team's experiments and faults) served to anyone over plain HTTP")
	}
	chaosMesh, err := chaosMeshServed(cfg)
	if err != nil {
		log.Error(err, "discovering the API server's kinds")
		os.Exit(1)
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                 scheme,
		Cache:                  kube.CacheOptions(chaosMesh),
		Client:                 kube.ClientOptions(),
		Metrics:                metrics,
		HealthProbeBindAddress: probeAddr,
		LeaderElection:         leaderElect,
		LeaderElectionID:       "cascadelab-manager.cascadelab.dev",
		WebhookServer:          webhook.NewServer(webhook.Options{Port: sec.port, CertDir: sec.certDir}),
	})
	if err != nil {
		log.Error(err, "creating manager")
		os.Exit(1)
	}
	r := &kube.ExperimentReconciler{
		Client:         mgr.GetClient(),
		APIReader:      mgr.GetAPIReader(),
		Recorder:       mgr.GetEventRecorder(kube.ManagerName),
		VictimImage:    image,
		LedgerStorage:  storage,
		SampleInterval: sample,
		Policy:         policy,

		ChaosMeshNamespace: chaosMeshNS,
	}
	if scrapeVia == kube.ScrapeAPIServer {
		hc, err := rest.HTTPClientFor(cfg)
		if err != nil {
			log.Error(err, "an HTTP client for the API server's pod proxy")
			os.Exit(1)
		}
		r.PodProxy = &kube.PodProxy{Host: cfg.Host, Client: hc}
		r.ScrapeOptions = append(r.ScrapeOptions, observe.WithHTTPClient(hc))
		log.Info("scraping pods through the API server's pod proxy", "host", cfg.Host)
	}
	if err := r.SetupWithManager(mgr); err != nil {
		log.Error(err, "setting up the experiment controller")
		os.Exit(1)
	}
	utilruntime.Must(mgr.AddHealthzCheck("healthz", healthz.Ping))
	utilruntime.Must(mgr.AddReadyzCheck("readyz", healthz.Ping))
	hook, err := sec.setupWebhook(mgr, policy, log)
	if err != nil {
		log.Error(err, "setting up the admission webhook")
		os.Exit(1)
	}
	utilruntime.Must(mgr.AddReadyzCheck("webhook", hook.check))
	log.Info("starting manager")
	if err := mgr.Start(ctrl.SetupSignalHandler()); err != nil {
		log.Error(err, "running manager")
		os.Exit(1)
	}
}

// chaosMeshServed reports whether the API server serves Chaos Mesh's kinds
// (the cache selects them only then).
func chaosMeshServed(cfg *rest.Config) (bool, error) {
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return false, err
	}
	mapper, err := apiutil.NewDynamicRESTMapper(cfg, hc)
	if err != nil {
		return false, err
	}
	return kube.ChaosMeshInstalled(mapper), nil
}
