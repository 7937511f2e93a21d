package kube

// Rights. The manager's rights come in two parts (docs/security.md,
// "Granting a team the right to run drills"):
//
//   - Cluster-wide, the ClusterRole cascadelab-manager, generated from the
//     markers below into manifests/rbac/role.yaml and bound by a
//     ClusterRoleBinding: Experiments (their status and finalizer), the
//     namespaces' opt-in label, Events, the reviews the webhook and the
//     metrics endpoint ask for, and list and watch on the kinds the
//     manager watches. Its informers select
//     app.kubernetes.io/managed-by=cascadelab (CacheOptions): nothing
//     but its own objects is cached. It writes no workload, ConfigMap,
//     Secret or chaos object anywhere.
//   - In each opted-in namespace, the ClusterRole cascadelab-manager-drills
//     (manifests/rbac/drill_role.yaml, written by hand: controller-gen
//     writes one ClusterRole only), bound there by the RoleBinding of
//     manifests/opt-in (make opt-in NS=…): creating, reading and deleting
//     the victim's Deployments, Services and PVC, the load Job, the report
//     ConfigMap and the chaos objects, and reading crashed containers' logs.
//     DrillRights lists the same rights; checkRights asks the API server
//     for them before a drill creates anything.

// +kubebuilder:rbac:groups=cascadelab.dev,resources=experiments,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=cascadelab.dev,resources=experiments/status,verbs=patch
// +kubebuilder:rbac:groups=cascadelab.dev,resources=experiments/finalizers,verbs=update
// +kubebuilder:rbac:groups="",resources=namespaces,verbs=get;list;watch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch
// +kubebuilder:rbac:groups="",resources=pods,verbs=list;watch
// +kubebuilder:rbac:groups=apps,resources=deployments,verbs=list;watch
// +kubebuilder:rbac:groups=batch,resources=jobs,verbs=list;watch
// +kubebuilder:rbac:groups=chaos-mesh.org,resources=podchaos;networkchaos,verbs=list;watch
