package admission

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/url"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// DefaultClusterDomain is the cluster's DNS domain unless WithClusterDomain
// says otherwise.
const DefaultClusterDomain = "cluster.local"

// loadURLForms is the part of every loadURL rejection that says what is
// accepted.
func loadURLForms(ns, domain string) string {
	return fmt.Sprintf("name a Service of namespace %s: http://NAME[:PORT], NAME.%[1]s, NAME.%[1]s.svc or NAME.%[1]s.svc.%s", ns, domain)
}

// LoadService returns the name of the Service that loadURL names in
// namespace ns, or an error saying why it names anything else. Accepted
// hosts: NAME, NAME.NS, NAME.NS.svc and NAME.NS.svc.DOMAIN, where NAME is a
// Service name and NS is ns itself. Refused: IP literals, other namespaces,
// hosts outside the cluster, localhost, user information in the URL,
// schemes other than http and https, and rooted names (a trailing dot):
// the resolver applies no search domain to those, so "shop." or
// "shop.team." is a name under the DNS root, not the namespace's Service.
func LoadService(loadURL, ns, domain string) (string, error) {
	if domain == "" {
		domain = DefaultClusterDomain
	}
	u, err := url.Parse(loadURL)
	if err != nil {
		return "", fmt.Errorf("not a URL (%v); %s", err, loadURLForms(ns, domain))
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "", fmt.Errorf("scheme %q: only http and https; %s", u.Scheme, loadURLForms(ns, domain))
	}
	if u.User != nil {
		return "", fmt.Errorf("user information in the URL is not allowed; %s", loadURLForms(ns, domain))
	}
	host := strings.ToLower(u.Hostname())
	if host == "" {
		return "", fmt.Errorf("no host; %s", loadURLForms(ns, domain))
	}
	if strings.HasSuffix(host, ".") {
		return "", fmt.Errorf("host %s is a rooted name (trailing dot): no cluster search domain applies to it, so it may name a host outside the cluster; %s", host, loadURLForms(ns, domain))
	}
	if port := u.Port(); port != "" {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return "", fmt.Errorf("port %q: must be from 1 to 65535", port)
		}
	}
	if ip := net.ParseIP(host); ip != nil {
		return "", fmt.Errorf("host %s is an IP address: the load may only go to a Service of the experiment's namespace; %s", host, loadURLForms(ns, domain))
	}
	labels := strings.Split(host, ".")
	name := labels[0]
	if len(validation.IsDNS1035Label(name)) > 0 || name == "localhost" {
		return "", fmt.Errorf("host %s is not a Service name (an external host?); %s", host, loadURLForms(ns, domain))
	}
	rest := labels[1:]
	switch {
	case len(rest) == 0:
		return name, nil
	case len(rest) >= 2 && rest[1] == "svc" && (len(rest) == 2 || strings.Join(rest[2:], ".") == domain):
		if rest[0] != ns {
			return "", fmt.Errorf("host %s is a Service in another namespace (%s): the load may only go to the experiment's own namespace; %s", host, rest[0], loadURLForms(ns, domain))
		}
		return name, nil
	case len(rest) == 1 && rest[0] == ns:
		return name, nil
	}
	return "", fmt.Errorf("host %s is not a Service of namespace %s (another namespace or an external host): the load may only go to the experiment's own namespace; %s", host, ns, loadURLForms(ns, domain))
}

// ResolveLoadService checks, against the API server, that the Service
// LoadService finds exists in ns and is not of type ExternalName (a DNS
// alias to any host). It is what the reconciler checks before a drill
// starts; the webhook checks the URL's form only, since an Experiment may
// be created before its target's Service.
func ResolveLoadService(ctx context.Context, r client.Reader, loadURL, ns, domain string) error {
	_, err := ReadLoadService(ctx, r, loadURL, ns, domain)
	return err
}

// ErrLoadServiceRefused is wrapped by the errors of ReadLoadService and
// ResolveLoadService that say the Service may not carry the load (it is
// missing, an ExternalName, or the URL names no Service of the namespace),
// as opposed to a failed read, which may succeed later.
var ErrLoadServiceRefused = errors.New("the loadURL's Service may not carry the load")

// refused marks an error as ErrLoadServiceRefused, its text unchanged.
type refused struct{ error }

func (r refused) Is(target error) bool { return target == ErrLoadServiceRefused }
func (r refused) Unwrap() error        { return r.error }

// LoadServiceState is what decides where a loadURL's load goes, as read
// from its Service at one moment.
type LoadServiceState struct {
	// Name is the Service's name.
	Name string
	// UID tells the Service from one deleted and recreated under its name.
	UID types.UID
	// Type, ExternalName, Selector and ClusterIP route the load.
	Type         corev1.ServiceType
	ExternalName string
	Selector     map[string]string
	ClusterIP    string
}

// ReadLoadService is ResolveLoadService returning what it read, to be
// compared (Changed) with later reads: when the load Job is created and
// while the load runs, so that a Service deleted and recreated, turned
// into an ExternalName or pointed at other pods after the check stops the
// load instead of carrying it.
func ReadLoadService(ctx context.Context, r client.Reader, loadURL, ns, domain string) (LoadServiceState, error) {
	name, err := LoadService(loadURL, ns, domain)
	if err != nil {
		return LoadServiceState{}, refused{err}
	}
	svc := &corev1.Service{}
	if err := r.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, svc); err != nil {
		if apierrors.IsNotFound(err) {
			return LoadServiceState{}, refused{fmt.Errorf("the Service %s/%s, which it names, does not exist", ns, name)}
		}
		return LoadServiceState{}, fmt.Errorf("reading Service %s/%s: %w", ns, name, err)
	}
	st := LoadServiceState{Name: name, UID: svc.UID, Type: svc.Spec.Type, ExternalName: svc.Spec.ExternalName,
		Selector: svc.Spec.Selector, ClusterIP: svc.Spec.ClusterIP}
	if svc.Spec.Type == corev1.ServiceTypeExternalName {
		return st, refused{fmt.Errorf("the Service %s/%s is of type ExternalName (an alias of %s): the load may only go to the namespace's own workloads", ns, name, svc.Spec.ExternalName)}
	}
	return st, nil
}

// Changed says how now differs from s in what routes the load, "" when
// it does not.
func (s LoadServiceState) Changed(now LoadServiceState) string {
	switch {
	case now.UID != s.UID:
		return fmt.Sprintf("the Service %s was replaced (uid %s, was %s)", s.Name, now.UID, s.UID)
	case now.Type != s.Type || now.ExternalName != s.ExternalName:
		to := string(now.Type)
		if now.Type == corev1.ServiceTypeExternalName {
			to += " (an alias of " + now.ExternalName + ")"
		}
		return fmt.Sprintf("the Service %s is now of type %s, was %s", s.Name, to, cmp.Or(string(s.Type), "ClusterIP"))
	case !maps.Equal(now.Selector, s.Selector):
		return fmt.Sprintf("the Service %s selects other pods (%v, was %v)", s.Name, now.Selector, s.Selector)
	case now.ClusterIP != s.ClusterIP:
		return fmt.Sprintf("the Service %s changed its cluster IP from %s to %s", s.Name, s.ClusterIP, now.ClusterIP)
	}
	return ""
}
