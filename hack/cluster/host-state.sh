#!/usr/bin/env bash
# Prints what a cluster run changes on the host, one fact a line, so that a
# run can compare the host before hack/cluster/up.sh and after
# hack/cluster/down.sh (`diff <(before) <(after)`): mounts of the run
# directory, network namespaces, kubelet and containerd paths; links; KUBE-*
# and CNI-* iptables chains and rules; kubepods cgroups; kernel settings; the
# cluster's processes.
set -uo pipefail
source "$(dirname "$0")/common.sh"

findmnt -rn -o TARGET | grep -E "^$CLUSTER_DIR/|^/run/netns|kubelet|containerd" | sed 's/^/mount /'
ip -4 route show | sed "s/^/route /"
ip -o link show | awk -F': ' '{print "link " $2}' | cut -d@ -f1
for ipt in iptables ip6tables; do
	command -v $ipt >/dev/null || continue
	for table in filter nat mangle raw; do
		$ipt -w -t $table -S 2>/dev/null | grep -E -- '(KUBE|CNI)-' | sed "s/^/$ipt $table /"
	done
done
nft_tables | sed 's/^/nft-table /'
ls -d /sys/fs/cgroup/*/kubepods 2>/dev/null | sed 's/^/cgroup /'
for s in "${HOST_SYSCTLS[@]}"; do
	[[ -f /proc/sys/$s ]] && echo "sysctl $s=$(<"/proc/sys/$s")"
done
for p in "${HOST_PATHS[@]}"; do
	[[ -e $p ]] && echo "path $p"
done
for p in /proc/[0-9]*; do
	b=$(basename "$(readlink "$p/exe" 2>/dev/null)")
	case $b in
	etcd | kube-apiserver | kube-controller-manager | kube-scheduler | kubelet | kube-proxy | containerd | containerd-shim-runc-v2 | pause | manager | imsim)
		# Another engineer's envtest runs etcd and kube-apiserver too: only ours.
		tr '\0' ' ' <"$p/cmdline" | grep -qE "$CLUSTER_DIR|$K8S_BIN/kube(let|-proxy)|^/(pause|manager|imsim)" && echo "process $b" ;;
	esac
done | sort
