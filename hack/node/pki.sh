# The node lab's PKI, made with openssl (sourced by up.sh): a CA, serving
# certificates for the apiserver and the kubelet, client certificates for
# each component, and the service-account signing key. ECDSA P-256.
pki_cert() { # NAME SUBJECT [SAN] [EXT: server|client|both]
	local name=$1 subj=$2 san=${3:-} ext=${4:-client} d=$LAB/pki
	openssl ecparam -name prime256v1 -genkey -noout -out "$d/$name.key" 2>/dev/null
	openssl req -new -key "$d/$name.key" -subj "$subj" -out "$d/$name.csr" 2>/dev/null
	{
		echo "basicConstraints=CA:FALSE"
		echo "keyUsage=critical,digitalSignature,keyEncipherment"
		case $ext in
		server) echo "extendedKeyUsage=serverAuth" ;;
		client) echo "extendedKeyUsage=clientAuth" ;;
		both) echo "extendedKeyUsage=serverAuth,clientAuth" ;;
		esac
		[ -z "$san" ] || echo "subjectAltName=$san"
	} >"$d/$name.ext"
	openssl x509 -req -in "$d/$name.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" -CAcreateserial \
		-days 30 -sha256 -extfile "$d/$name.ext" -out "$d/$name.crt" 2>/dev/null
	rm -f "$d/$name.csr" "$d/$name.ext"
}

pki_kubeconfig() { # NAME USER-CERT
	local name=$1 cert=$2 d=$LAB/pki
	cat >"$LAB/$name.kubeconfig" <<KC
apiVersion: v1
kind: Config
clusters:
- name: cascadelab-node
  cluster:
    server: https://$NODE_IP:$API_PORT
    certificate-authority: $d/ca.crt
users:
- name: $name
  user:
    client-certificate: $d/$cert.crt
    client-key: $d/$cert.key
contexts:
- name: cascadelab-node
  context: {cluster: cascadelab-node, user: $name}
current-context: cascadelab-node
KC
}

pki_all() {
	local d=$LAB/pki
	mkdir -p "$d"
	openssl ecparam -name prime256v1 -genkey -noout -out "$d/ca.key" 2>/dev/null
	openssl req -x509 -new -key "$d/ca.key" -subj "/CN=cascadelab-node-ca" -days 30 -sha256 \
		-addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
		-out "$d/ca.crt" 2>/dev/null
	pki_cert apiserver "/CN=kube-apiserver" \
		"IP:$NODE_IP,IP:${SVC_CIDR%.0/16}.1,IP:127.0.0.1,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,DNS:localhost" server
	pki_cert kubelet-serving "/CN=$NODE_NAME" "IP:$NODE_IP,DNS:$NODE_NAME" server
	pki_cert apiserver-kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client"
	pki_cert admin "/O=system:masters/CN=cascadelab-node-admin"
	pki_cert kubelet "/O=system:nodes/CN=system:node:$NODE_NAME"
	pki_cert controller-manager "/CN=system:kube-controller-manager"
	pki_cert scheduler "/CN=system:kube-scheduler"
	pki_cert kube-proxy "/CN=system:kube-proxy"
	openssl genrsa -out "$d/sa.key" 2048 2>/dev/null
	openssl rsa -in "$d/sa.key" -pubout -out "$d/sa.pub" 2>/dev/null
	chmod 600 "$d"/*.key
	pki_kubeconfig admin admin
	pki_kubeconfig kubelet kubelet
	pki_kubeconfig controller-manager controller-manager
	pki_kubeconfig scheduler scheduler
	pki_kubeconfig kube-proxy kube-proxy
}
