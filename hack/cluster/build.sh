#!/usr/bin/env bash
# Builds the binaries of a single-node cluster from the Go module proxy, with
# the same build module and version ldflags as hack/build-envtest.sh, into the
# same version-keyed directory (bin/k8s/<k8s>-etcd-<etcd>/): kube-apiserver,
# etcd and kubectl come from hack/build-envtest.sh; this adds
# kube-controller-manager, kube-scheduler, kubelet and kube-proxy.
# `make envtest` never builds these; `make cluster-bin` does.
# A cold build takes several minutes and ~3 GB of memory while linking.
#
# Usage: hack/cluster/build.sh <output-dir>
set -euo pipefail

out=${1:?usage: build.sh <output-dir>}
here=$(cd "$(dirname "$0")/.." && pwd)
mod="$here/envtest"

"$here/build-envtest.sh" "$out"

source "$here/k8s-ldflags.sh"
out=$(cd "$out" && pwd)
cd "$mod"

pkgs=()
for name in kube-controller-manager kube-scheduler kubelet kube-proxy; do
	if [[ -x "$out/$name" ]]; then
		echo "cluster-bin: $name already built in $out"
	else
		pkgs+=("k8s.io/kubernetes/cmd/$name")
	fi
done
[[ ${#pkgs[@]} -eq 0 ]] && exit 0

echo "cluster-bin: building ${pkgs[*]##*/} (a cold build takes several minutes) ..."
start=$SECONDS
tmp="$out/.build-tmp"
rm -rf "$tmp" && mkdir -p "$tmp"
# One invocation: the packages share most of their compiled dependencies.
CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" -o "$tmp/" "${pkgs[@]}"
for p in "${pkgs[@]}"; do mv "$tmp/${p##*/}" "$out/${p##*/}"; done
rm -rf "$tmp"
echo "cluster-bin: built in $((SECONDS - start))s"
