# Shared settings of hack/cluster/{up,down,build}.sh. Sourced, not run.
# Everything the cluster writes lives under CLUSTER_DIR, except what the
# daemons hard-code on the host (recorded by up.sh, undone by down.sh).

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

# Versions come from the envtest build module, like `make envtest`.
K8S_VERSION=$(awk '$1=="k8s.io/kubernetes"{print $2; exit}' "$repo/hack/envtest/go.mod")
ETCD_VERSION=$(awk '$1=="go.etcd.io/etcd/server/v3"{print $2; exit}' "$repo/hack/envtest/go.mod")
K8S_BIN=${K8S_BIN:-$repo/bin/k8s/$K8S_VERSION-etcd-$ETCD_VERSION}

CLUSTER_DIR=${CLUSTER_DIR:-$repo/bin/cluster}
IMAGES_DIR=${IMAGES_DIR:-$repo/bin/images}

NODE_NAME=chatgroup-node
# The node's address: on a bridge of our own (no ports), so that nothing the
# cluster does ever targets the host's real interfaces. Pods reach it through
# their gateway; kube-apiserver, kubelet and imsim listen on it.
NODE_BRIDGE=cgnode0
NODE_IP=10.250.0.1
POD_BRIDGE=cni0
POD_SUBNET=10.244.0.0/24
POD_GATEWAY=10.244.0.1
CLUSTER_CIDR=10.244.0.0/16
SERVICE_CIDR=10.96.0.0/16
API_SERVICE_IP=10.96.0.1
API_PORT=6443
ETCD_CLIENT_PORT=23790
ETCD_PEER_PORT=23800

# Our own FORWARD chain (CNI- prefix: down.sh removes KUBE-* and CNI-* chains).
ISOLATE_CHAIN=CNI-CHATGROUP-ISOLATE

PKI=$CLUSTER_DIR/pki
PIDS=$CLUSTER_DIR/pids
LOGS=$CLUSTER_DIR/logs
HOST_STATE=$CLUSTER_DIR/host-state
CONTAINERD_SOCK=$CLUSTER_DIR/containerd/containerd.sock
KUBECONFIG_ADMIN=$CLUSTER_DIR/admin.kubeconfig

# Host paths the daemons create whatever their flags say; down.sh removes the
# ones that did not exist before up.sh.
HOST_PATHS=(/run/netns /run/containerd /var/lib/cni /var/log/pods /var/log/containers
	/var/lib/kubelet /run/kubernetes /var/run/kubernetes /etc/cni /opt/cni
	/var/lib/containerd /opt/containerd /run/runc)

# Kernel settings kubelet, kube-proxy and the CNI bridge change; down.sh puts
# back what up.sh saw.
HOST_SYSCTLS=(net/ipv4/ip_forward net/ipv6/conf/all/forwarding net/ipv4/conf/all/route_localnet
	net/netfilter/nf_conntrack_max vm/overcommit_memory vm/panic_on_oom kernel/panic
	kernel/panic_on_oops kernel/keys/root_maxkeys kernel/keys/root_maxbytes
	net/bridge/bridge-nf-call-iptables net/bridge/bridge-nf-call-ip6tables)

# Debian packages the cluster needs (binaries they provide, for the check).
# nftables: Debian's iptables is iptables-nft, whose tables down.sh removes with nft.
APT_PACKAGES=(containerd runc containernetworking-plugins iptables nftables conntrack openssl curl)
APT_BINARIES=(containerd containerd-shim-runc-v2 ctr runc /usr/lib/cni/bridge iptables nft conntrack openssl curl)

DAEMONS_START_ORDER=(etcd kube-apiserver kube-controller-manager kube-scheduler containerd kubelet kube-proxy)

log() { printf '%s cluster: %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

# nft_tables: "family name" of each nftables table, one a line.
nft_tables() { nft list tables 2>/dev/null | awk '$1 == "table" {print $2, $3}'; }

# nft_table_empty <family> <name>: the table holds no rule (iptables-nft
# leaves its built-in chains behind once every rule and chain is deleted).
nft_table_empty() {
	nft list table "$1" "$2" 2>/dev/null | awk '
		/^[[:space:]]*(table|chain) .*\{$/ || /^[[:space:]]*\}$/ || /^[[:space:]]*$/ || /^[[:space:]]*type .* hook / { next }
		{ found = 1 }
		END { exit found }'
}

ctr_() { ctr --address "$CONTAINERD_SOCK" "$@"; }
kubectl_() { "$K8S_BIN/kubectl" --kubeconfig "$KUBECONFIG_ADMIN" "$@"; }

# pid_alive <name>: the PID recorded for daemon <name>, if that process still
# runs the binary we started (not a reused PID).
pid_alive() {
	local f="$PIDS/$1.pid" pid exe
	[[ -f $f ]] || return 1
	pid=$(<"$f")
	[[ -n $pid && -d /proc/$pid ]] || return 1
	exe=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | cut -d' ' -f1)
	[[ $(basename "$exe") == "$1" ]] || return 1
	echo "$pid"
}
