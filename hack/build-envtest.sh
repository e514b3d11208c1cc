#!/usr/bin/env bash
# Builds the control-plane binaries the tests run against (kube-apiserver,
# etcd, kubectl) from the Go module proxy into bin/k8s/<k8s>-etcd<etcd>/.
# setup-envtest cannot download release binaries on these machines, so we
# compile them; the directory is keyed by version, so a second run is free.
#
# Usage: hack/build-envtest.sh <output-dir>
set -euo pipefail

out=${1:?usage: build-envtest.sh <output-dir>}
here=$(cd "$(dirname "$0")" && pwd)
mod="$here/envtest"

k8s_version=$(awk '$1=="k8s.io/kubernetes"{print $2; exit}' "$mod/go.mod")
major=$(echo "${k8s_version#v}" | cut -d. -f1)
minor=$(echo "${k8s_version#v}" | cut -d. -f2)

mkdir -p "$out"
out=$(cd "$out" && pwd) # absolute: the build below runs inside the module
cd "$mod"

# Without these the binaries report v0.0.0, and clients that check the server
# version (helm, kubectl) misbehave.
ldflags="-s -w \
 -X k8s.io/component-base/version.gitVersion=${k8s_version} \
 -X k8s.io/component-base/version.gitMajor=${major} \
 -X k8s.io/component-base/version.gitMinor=${minor} \
 -X k8s.io/component-base/version.gitTreeState=clean \
 -X k8s.io/client-go/pkg/version.gitVersion=${k8s_version} \
 -X k8s.io/client-go/pkg/version.gitMajor=${major} \
 -X k8s.io/client-go/pkg/version.gitMinor=${minor}"

build() { # <name> <package>
	local name=$1 pkg=$2
	if [[ -x "$out/$name" ]]; then
		echo "envtest: $name already built in $out"
		return
	fi
	echo "envtest: building $name from $pkg (a cold build takes several minutes) ..."
	local start=$SECONDS
	CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" -o "$out/$name.tmp" "$pkg"
	mv "$out/$name.tmp" "$out/$name"
	echo "envtest: $name built in $((SECONDS - start))s"
}

build etcd ./etcd
build kube-apiserver k8s.io/kubernetes/cmd/kube-apiserver
build kubectl k8s.io/kubernetes/cmd/kubectl
