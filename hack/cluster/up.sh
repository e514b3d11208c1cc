#!/usr/bin/env bash
# Brings up a single-node Kubernetes cluster as plain processes (no systemd,
# no Docker, no registry): etcd, kube-apiserver, kube-controller-manager,
# kube-scheduler, containerd, kubelet and kube-proxy, all under CLUSTER_DIR
# (default bin/cluster/), with a fresh PKI. Needs root.
#
#   hack/cluster/up.sh            # bring up; prints the admin kubeconfig path
#   hack/cluster/down.sh          # tear down; always safe to run
#
# Before it: `make cluster-bin` (the Kubernetes binaries, cached in bin/k8s/)
# and `make image` (the OCI archives in bin/images/, imported here; the pause
# image among them is containerd's sandbox image). Debian's containerd, runc,
# CNI plugins, iptables and conntrack are installed if missing.
#
# On any failure it tears down what it started, and exits non-zero.
set -euo pipefail
source "$(dirname "$0")/common.sh"

[[ $(id -u) -eq 0 ]] || { echo "cluster: must run as root" >&2; exit 1; }
t0=$SECONDS
declare -A took
phase_start=$SECONDS
phase() { # phase <name>: closes the previous phase's clock
	took[$1]=$((SECONDS - phase_start))
	phase_start=$SECONDS
}

for d in "${DAEMONS_START_ORDER[@]}"; do
	if pid_alive "$d" >/dev/null; then
		log "a cluster is already up in $CLUSTER_DIR ($d runs): run hack/cluster/down.sh first"
		exit 1
	fi
done
if [[ -e $CLUSTER_DIR/up ]]; then
	# A run that was killed before its teardown: undo what it left.
	log "cleaning up after a previous run that did not tear down"
	"$(dirname "$0")/down.sh"
fi

for b in etcd kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl; do
	[[ -x $K8S_BIN/$b ]] || { log "$K8S_BIN/$b missing: run 'make cluster-bin'"; exit 1; }
done
for img in pause; do
	[[ -f $IMAGES_DIR/$img.tar ]] || { log "$IMAGES_DIR/$img.tar missing: run 'make image'"; exit 1; }
done

# --- Debian packages ----------------------------------------------------------
missing=()
for b in "${APT_BINARIES[@]}"; do
	command -v "$b" >/dev/null 2>&1 || [[ -x $b ]] || missing+=("$b")
done
if ((${#missing[@]})); then
	log "installing ${APT_PACKAGES[*]} (missing: ${missing[*]})"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${APT_PACKAGES[@]}" >/dev/null
	# No init system here, but a package script may still have started one.
	if pgrep -x containerd >/dev/null; then
		log "warning: a containerd not started by us is running (pid $(pgrep -x containerd | tr '\n' ' '))"
	fi
fi
phase apt

# --- Run directory and the host's state before we touch it --------------------
if findmnt -rn -o TARGET | grep -q "^$CLUSTER_DIR/"; then
	log "mounts remain under $CLUSTER_DIR (see findmnt); not deleting it"
	exit 1
fi
rm -rf "$CLUSTER_DIR"
mkdir -p "$CLUSTER_DIR" "$PKI" "$PIDS" "$LOGS" "$HOST_STATE"
touch "$CLUSTER_DIR/up" # down.sh has work to do from here on

# From here on, a failure tears down.
trap 'rc=$?; if ((rc)); then log "bring-up failed (exit $rc); logs in $LOGS; tearing down"; tail -n 20 "$LOGS"/*.log >&2 || true; "$(dirname "$0")/down.sh" || true; fi' EXIT

for s in "${HOST_SYSCTLS[@]}"; do
	[[ -f /proc/sys/$s ]] && echo "$s=$(<"/proc/sys/$s")" >>"$HOST_STATE/sysctls"
done
for p in "${HOST_PATHS[@]}"; do
	[[ -e $p ]] && echo "$p" >>"$HOST_STATE/existing-paths"
done
touch "$HOST_STATE/existing-paths"
ls /run/netns 2>/dev/null >"$HOST_STATE/netns" || true
nft_tables >"$HOST_STATE/nft-tables"
mountpoint -q /run/netns 2>/dev/null && touch "$HOST_STATE/netns-mountpoint"
for c in /sys/fs/cgroup/*/; do
	[[ -d $c/kubepods ]] && echo "$c" >>"$HOST_STATE/kubepods-existing"
done
ip -o link show "$POD_BRIDGE" >/dev/null 2>&1 && touch "$HOST_STATE/pod-bridge-existed"

# --- The node's address --------------------------------------------------------
if ! ip -o link show "$NODE_BRIDGE" >/dev/null 2>&1; then
	ip link add "$NODE_BRIDGE" type bridge
fi
ip addr replace "$NODE_IP/32" dev "$NODE_BRIDGE"
ip link set "$NODE_BRIDGE" up
# Nothing addressed to the cluster may leave through the host's real
# interfaces: a Service IP that kube-proxy does not (or no longer) translate,
# and pod addresses outside this node's subnet, are routed into the node
# bridge, which has no ports, instead of to the default gateway. (The routes
# go away with the bridge.)
ip route replace "$SERVICE_CIDR" dev "$NODE_BRIDGE" src "$NODE_IP"
ip route replace "$CLUSTER_CIDR" dev "$NODE_BRIDGE" src "$NODE_IP"
# And pods reach nothing but the cluster: forwarding ip_forward=1 enables
# stops at the pod network (a pod's DNS query to the host's resolver, say).
iptables -w -N "$ISOLATE_CHAIN" 2>/dev/null || iptables -w -F "$ISOLATE_CHAIN"
iptables -w -A "$ISOLATE_CHAIN" -s "$CLUSTER_CIDR" ! -d "$CLUSTER_CIDR" -j DROP
iptables -w -C FORWARD -j "$ISOLATE_CHAIN" 2>/dev/null || iptables -w -I FORWARD 1 -j "$ISOLATE_CHAIN"
echo 1 >/proc/sys/net/ipv4/ip_forward
phase network

# --- PKI ------------------------------------------------------------------------
(
	cd "$PKI"
	openssl_q() { openssl "$@" 2>/dev/null; }
	openssl_q req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 2 -subj "/CN=chatgroup-cluster-ca" \
		-addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"
	# cert <name> <subject> <extendedKeyUsage> [subjectAltName]
	cert() {
		local name=$1 subj=$2 eku=$3 san=${4:-}
		openssl_q req -newkey rsa:2048 -nodes -keyout "$name.key" -out "$name.csr" -subj "$subj"
		{
			echo "basicConstraints=CA:FALSE"
			echo "keyUsage=critical,digitalSignature,keyEncipherment"
			echo "extendedKeyUsage=$eku"
			[[ -n $san ]] && echo "subjectAltName=$san"
		} >"$name.ext"
		openssl_q x509 -req -in "$name.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 -extfile "$name.ext" -out "$name.crt"
		rm -f "$name.csr" "$name.ext"
	}
	cert apiserver "/CN=kube-apiserver" serverAuth \
		"DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,IP:127.0.0.1,IP:$API_SERVICE_IP,IP:$NODE_IP"
	cert apiserver-kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client" clientAuth
	cert admin "/O=system:masters/CN=admin" clientAuth
	cert controller-manager "/CN=system:kube-controller-manager" clientAuth
	cert scheduler "/CN=system:kube-scheduler" clientAuth
	cert kubelet "/O=system:nodes/CN=system:node:$NODE_NAME" clientAuth
	cert kubelet-serving "/CN=$NODE_NAME" serverAuth "DNS:$NODE_NAME,IP:$NODE_IP"
	cert kube-proxy "/CN=system:kube-proxy" clientAuth
	openssl_q genrsa -out sa.key 2048
	openssl_q rsa -in sa.key -pubout -out sa.pub
	chmod 600 ./*.key
)
kubeconfig() { # kubeconfig <file> <cert name>
	cat >"$1" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: chatgroup
  cluster:
    server: https://$NODE_IP:$API_PORT
    certificate-authority: $PKI/ca.crt
users:
- name: $2
  user:
    client-certificate: $PKI/$2.crt
    client-key: $PKI/$2.key
contexts:
- name: chatgroup
  context: {cluster: chatgroup, user: $2}
current-context: chatgroup
EOF
}
kubeconfig "$KUBECONFIG_ADMIN" admin
for c in controller-manager scheduler kubelet kube-proxy; do kubeconfig "$CLUSTER_DIR/$c.kubeconfig" "$c"; done
phase pki

# --- Daemons --------------------------------------------------------------------
start() { # start <name> <binary> <args...>: in its own session, logs to $LOGS
	local name=$1 bin=$2
	shift 2
	setsid "$bin" "$@" >"$LOGS/$name.log" 2>&1 </dev/null &
	echo $! >"$PIDS/$name.pid"
}
wait_for() { # wait_for <what> <seconds> <command...>
	local what=$1 deadline=$((SECONDS + $2))
	shift 2
	until "$@" >/dev/null 2>&1; do
		if ((SECONDS > deadline)); then
			log "timed out waiting for $what"
			return 1
		fi
		sleep 0.5
	done
}
alive() { pid_alive "$1" >/dev/null || { log "$1 exited; see $LOGS/$1.log"; return 1; }; }

start etcd "$K8S_BIN/etcd" --name=node --data-dir="$CLUSTER_DIR/etcd" --unsafe-no-fsync \
	--listen-client-urls="http://127.0.0.1:$ETCD_CLIENT_PORT" --advertise-client-urls="http://127.0.0.1:$ETCD_CLIENT_PORT" \
	--listen-peer-urls="http://127.0.0.1:$ETCD_PEER_PORT" --initial-advertise-peer-urls="http://127.0.0.1:$ETCD_PEER_PORT" \
	--initial-cluster="node=http://127.0.0.1:$ETCD_PEER_PORT"
wait_for etcd 60 curl -sf "http://127.0.0.1:$ETCD_CLIENT_PORT/health"
phase etcd

start kube-apiserver "$K8S_BIN/kube-apiserver" \
	--etcd-servers="http://127.0.0.1:$ETCD_CLIENT_PORT" \
	--bind-address="$NODE_IP" --secure-port="$API_PORT" --advertise-address="$NODE_IP" \
	--cert-dir="$CLUSTER_DIR/apiserver" \
	--tls-cert-file="$PKI/apiserver.crt" --tls-private-key-file="$PKI/apiserver.key" \
	--client-ca-file="$PKI/ca.crt" \
	--kubelet-client-certificate="$PKI/apiserver-kubelet-client.crt" --kubelet-client-key="$PKI/apiserver-kubelet-client.key" \
	--kubelet-certificate-authority="$PKI/ca.crt" --kubelet-preferred-address-types=InternalIP \
	--service-account-issuer=https://kubernetes.default.svc.cluster.local \
	--service-account-key-file="$PKI/sa.pub" --service-account-signing-key-file="$PKI/sa.key" \
	--service-cluster-ip-range="$SERVICE_CIDR" \
	--authorization-mode=Node,RBAC --enable-admission-plugins=NodeRestriction \
	--allow-privileged=true --profiling=false
wait_for kube-apiserver 120 curl -sf --cacert "$PKI/ca.crt" --cert "$PKI/admin.crt" --key "$PKI/admin.key" "https://$NODE_IP:$API_PORT/readyz"
phase kube-apiserver

start kube-controller-manager "$K8S_BIN/kube-controller-manager" \
	--kubeconfig="$CLUSTER_DIR/controller-manager.kubeconfig" \
	--authentication-kubeconfig="$CLUSTER_DIR/controller-manager.kubeconfig" \
	--authorization-kubeconfig="$CLUSTER_DIR/controller-manager.kubeconfig" \
	--bind-address=127.0.0.1 --secure-port=0 \
	--use-service-account-credentials --root-ca-file="$PKI/ca.crt" \
	--service-account-private-key-file="$PKI/sa.key" \
	--cluster-signing-cert-file="$PKI/ca.crt" --cluster-signing-key-file="$PKI/ca.key" \
	--leader-elect=false --service-cluster-ip-range="$SERVICE_CIDR" --cluster-cidr="$CLUSTER_CIDR" \
	--allocate-node-cidrs=false --profiling=false
start kube-scheduler "$K8S_BIN/kube-scheduler" \
	--kubeconfig="$CLUSTER_DIR/scheduler.kubeconfig" \
	--authentication-kubeconfig="$CLUSTER_DIR/scheduler.kubeconfig" \
	--authorization-kubeconfig="$CLUSTER_DIR/scheduler.kubeconfig" \
	--bind-address=127.0.0.1 --secure-port=0 --leader-elect=false --profiling=false

# containerd: state, root, CNI config and IPAM under the run directory.
mkdir -p "$CLUSTER_DIR/cni/net.d" "$CLUSTER_DIR/containerd"
cat >"$CLUSTER_DIR/cni/net.d/10-chatgroup.conflist" <<EOF
{
  "cniVersion": "0.4.0",
  "name": "chatgroup-cluster",
  "plugins": [{
    "type": "bridge",
    "bridge": "$POD_BRIDGE",
    "isGateway": true,
    "ipMasq": false,
    "hairpinMode": true,
    "ipam": {
      "type": "host-local",
      "dataDir": "$CLUSTER_DIR/cni/ipam",
      "ranges": [[{"subnet": "$POD_SUBNET", "gateway": "$POD_GATEWAY"}]],
      "routes": [{"dst": "0.0.0.0/0"}]
    }
  }]
}
EOF
cat >"$CLUSTER_DIR/containerd/config.toml" <<EOF
version = 2
root = "$CLUSTER_DIR/containerd/root"
state = "$CLUSTER_DIR/containerd/state"
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs"]
[grpc]
  address = "$CONTAINERD_SOCK"
[plugins."io.containerd.internal.v1.opt"]
  path = "$CLUSTER_DIR/containerd/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "localhost/pause:dev"
  # Root here lacks CAP_SYS_RESOURCE: runc cannot lower oom_score_adj.
  restrict_oom_score_adj = true
  disable_apparmor = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$CLUSTER_DIR/cni/net.d"
EOF
start containerd "$(command -v containerd)" --config "$CLUSTER_DIR/containerd/config.toml"
wait_for containerd 60 ctr_ version
phase "containerd+controllers"

for tar in "$IMAGES_DIR"/*.tar; do
	ctr_ -n k8s.io images import "$tar" >>"$LOGS/images.log" 2>&1
done
log "images: $(ctr_ -n k8s.io images ls -q | grep '^localhost/' | tr '\n' ' ')"
phase images

mkdir -p "$CLUSTER_DIR/kubelet"
cat >"$CLUSTER_DIR/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $NODE_IP
port: 10250
healthzBindAddress: 127.0.0.1
healthzPort: 10248
readOnlyPort: 0
tlsCertFile: $PKI/kubelet-serving.crt
tlsPrivateKeyFile: $PKI/kubelet-serving.key
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $PKI/ca.crt}
authorization: {mode: Webhook}
containerRuntimeEndpoint: unix://$CONTAINERD_SOCK
cgroupDriver: cgroupfs
# This host has cgroup v1 (refused by default since 1.35) and no swap setup.
failCgroupV1: false
failSwapOn: false
rotateCertificates: false
serverTLSBootstrap: false
maxPods: 30
evictionHard: {memory.available: "100Mi", nodefs.available: "1%", imagefs.available: "1%", nodefs.inodesFree: "1%"}
imageGCHighThresholdPercent: 99
imageGCLowThresholdPercent: 98
EOF
start kubelet "$K8S_BIN/kubelet" --config="$CLUSTER_DIR/kubelet.yaml" --kubeconfig="$CLUSTER_DIR/kubelet.kubeconfig" \
	--root-dir="$CLUSTER_DIR/kubelet" --hostname-override="$NODE_NAME" --node-ip="$NODE_IP" --v=1

cat >"$CLUSTER_DIR/kube-proxy.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: iptables
clusterCIDR: $CLUSTER_CIDR
hostnameOverride: $NODE_NAME
bindAddress: $NODE_IP
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
nodePortAddresses: ["$NODE_IP/32"]
clientConnection: {kubeconfig: $CLUSTER_DIR/kube-proxy.kubeconfig}
# Leave the host's conntrack limits and route_localnet alone.
conntrack: {maxPerCore: 0, min: 0}
iptables: {localhostNodePorts: false}
EOF
start kube-proxy "$K8S_BIN/kube-proxy" --config="$CLUSTER_DIR/kube-proxy.yaml"

wait_for "node $NODE_NAME to register" 90 kubectl_ get node "$NODE_NAME"
kubectl_ wait --for=condition=Ready "node/$NODE_NAME" --timeout=120s >/dev/null
wait_for "the default ServiceAccount" 60 kubectl_ get serviceaccount default -n default
for d in "${DAEMONS_START_ORDER[@]}"; do alive "$d"; done
phase "kubelet+node Ready"

trap - EXIT
total=$((SECONDS - t0))
summary=""
for k in apt network pki etcd kube-apiserver "containerd+controllers" images "kubelet+node Ready"; do
	summary+="$k ${took[$k]}s, "
done
echo "$total" >"$CLUSTER_DIR/bringup-seconds"
log "up in ${total}s (${summary%, })"
log "export KUBECONFIG=$KUBECONFIG_ADMIN   # stop with hack/cluster/down.sh"
