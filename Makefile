# chatgroup-operator Makefile. `make help` lists the targets.
#
# Every tool is pinned here and installed into bin/ on first use, keyed by
# version, so a fresh clone needs nothing but Go (and apt-get for the demo's
# few Debian packages, if any).

SHELL := /usr/bin/env bash -o pipefail
.SHELLFLAGS := -ec
.DEFAULT_GOAL := help

## Location of the binaries this Makefile builds or installs.
LOCALBIN ?= $(CURDIR)/bin
$(LOCALBIN):
	mkdir -p $(LOCALBIN)

## Tool versions (pinned).
CONTROLLER_TOOLS_VERSION ?= v0.23.0
GOLANGCI_LINT_VERSION ?= v2.15.0
HELM_VERSION ?= v4.3.1
CRD_REF_DOCS_VERSION ?= v0.3.0
# promtool for `make test-alerts`: Prometheus v3.16.0 (its Go module is tagged
# v0.316.0). `go install` refuses the releases whose go.mod has replace
# directives, which v0.311-v0.315 have. (go.mod requires v0.310.0 for the PromQL
# parser of the e2e suite's metric check: a later one would raise k8s.io/* and
# other operator dependencies for a test.)
PROMTOOL_VERSION ?= v0.316.0
# The control plane for tests is built from the versions pinned in
# hack/envtest/go.mod; these names only key the cache directory.
ENVTEST_K8S_VERSION ?= $(shell awk '$$1=="k8s.io/kubernetes"{print $$2; exit}' hack/envtest/go.mod)
ENVTEST_ETCD_VERSION ?= $(shell awk '$$1=="go.etcd.io/etcd/server/v3"{print $$2; exit}' hack/envtest/go.mod)
ENVTEST_DIR ?= $(LOCALBIN)/k8s/$(ENVTEST_K8S_VERSION)-etcd-$(ENVTEST_ETCD_VERSION)

CONTROLLER_GEN ?= $(LOCALBIN)/controller-gen-$(CONTROLLER_TOOLS_VERSION)
GOLANGCI_LINT ?= $(LOCALBIN)/golangci-lint-$(GOLANGCI_LINT_VERSION)
HELM ?= $(LOCALBIN)/helm-$(HELM_VERSION)
CRD_REF_DOCS ?= $(LOCALBIN)/crd-ref-docs-$(CRD_REF_DOCS_VERSION)
PROMTOOL ?= $(LOCALBIN)/promtool-$(PROMTOOL_VERSION)

## Test settings. Two cores: keep parallelism modest.
GO_TEST_FLAGS ?= -p 2
GINKGO_FLAGS ?=
FUZZTIME ?= 20s

##@ General

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*##"; printf "\nUsage:\n  make \033[36m<target>\033[0m\n"} /^[a-zA-Z_0-9-]+:.*?##/ { printf "  \033[36m%-20s\033[0m %s\n", $$1, $$2 } /^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) } ' $(MAKEFILE_LIST)

##@ Development

.PHONY: manifests
manifests: controller-gen ## Generate the CRD and RBAC manifests from the kubebuilder markers, and copy them into the chart.
	$(CONTROLLER_GEN) rbac:roleName=manager-role crd paths="./..." output:crd:artifacts:config=config/crd/bases
	hack/sync-chart.sh

.PHONY: generate
generate: controller-gen ## Generate the DeepCopy methods.
	$(CONTROLLER_GEN) object:headerFile="hack/boilerplate.go.txt" paths="./..."

.PHONY: api-docs
api-docs: crd-ref-docs ## Generate the API reference docs/api.md from the Go types in api/v1alpha1 (config in hack/crd-ref-docs.yaml).
	$(CRD_REF_DOCS) --log-level=WARN --source-path=./api/v1alpha1 --config=hack/crd-ref-docs.yaml --renderer=markdown --output-path=docs/api.md
.PHONY: im-errors-doc
im-errors-doc: ## Regenerate docs/im-errors.md from the IM error table (tim.Table); a test fails when they differ.
	go test ./internal/tim/ -run '^TestIMErrorsDoc$$' -update-docs

.PHONY: fmt
fmt: ## Run go fmt.
	go fmt ./...

.PHONY: vet
vet: ## Run go vet.
	go vet ./...

.PHONY: lint
lint: golangci-lint ## Run golangci-lint (config in .golangci.yml).
	$(GOLANGCI_LINT) run

.PHONY: lint-fix
lint-fix: golangci-lint ## Run golangci-lint and apply its fixes.
	$(GOLANGCI_LINT) run --fix

.PHONY: verify-generated
verify-generated: manifests generate api-docs ## Fail when `make manifests generate api-docs` changes a committed file.
	@if [ -n "$$(git status --porcelain -- api config charts docs)" ]; then \
		echo "Generated files are stale; run 'make manifests generate api-docs' and commit:"; \
		git status --porcelain -- api config charts docs; git --no-pager diff -- api config charts docs | head -50; exit 1; \
	fi
	@echo "generated files are up to date"

.PHONY: verify-tracked-files
verify-tracked-files: ## Fail when Git tracks an executable, a file with NUL bytes (not an allowed fixture) or a file over 1 MiB (self-tested first).
	hack/verify-tracked-files_test.sh
	hack/verify-tracked-files.sh

.PHONY: test
test: manifests generate fmt vet envtest helm test-alerts ## Run every test: unit, envtest suites and e2e, on a real kube-apiserver and etcd, and the alert tests.
	KUBEBUILDER_ASSETS="$(ENVTEST_DIR)" HELM="$(HELM)" go test $(GO_TEST_FLAGS) ./... -coverprofile cover.out $(GINKGO_FLAGS)

.PHONY: test-alerts
test-alerts: promtool ## Check the alerting rules and run their tests (config/prometheus/alerts_test.yaml) with promtool.
	$(PROMTOOL) check rules config/prometheus/alerts.yaml
	cd config/prometheus && $(PROMTOOL) test rules alerts_test.yaml

.PHONY: fuzz
fuzz: ## Fuzz the callback decoder and merge for FUZZTIME (default 20s).
	go test ./webhookserver/ -run '^$$' -fuzz '^FuzzDecodeMerge$$' -fuzztime $(FUZZTIME)

.PHONY: test-e2e
test-e2e: envtest helm ## Run only the e2e suite: helm install into a real API server, the manager as the chart's ServiceAccount.
	KUBEBUILDER_ASSETS="$(ENVTEST_DIR)" HELM="$(HELM)" go test ./test/e2e/ -v -ginkgo.v $(GINKGO_FLAGS)

.PHONY: test-reliability
test-reliability: envtest ## Run the reliability suite: API server restart, SIGTERM/SIGKILL, two replicas, IM and callback faults, hostile input, credential rotation (real processes; minutes).
	CHATGROUP_RELIABILITY_TEST=1 KUBEBUILDER_ASSETS="$(ENVTEST_DIR)" go test ./test/reliability/ -count=1 -timeout 20m -v -ginkgo.v $(GINKGO_FLAGS)

##@ Build

.PHONY: build
build: manifests generate fmt vet ## Build the manager binary into bin/manager.
	go build -o $(LOCALBIN)/manager .

.PHONY: kubectl-plugin
kubectl-plugin: ## Build the kubectl plugin into bin/kubectl-chatgroup (on the PATH, `kubectl chatgroup --help`).
	go build -o $(LOCALBIN)/kubectl-chatgroup ./cmd/kubectl-chatgroup

.PHONY: imsim
imsim: ## Build the fake IM backend into bin/imsim.
	go build -o $(LOCALBIN)/imsim ./cmd/imsim

.PHONY: demo
demo: envtest build imsim ## Run a local control plane, the fake IM backend with simulated users, and the manager (Ctrl-C stops).
	go build -o $(LOCALBIN)/demo ./hack/demo
	KUBEBUILDER_ASSETS="$(ENVTEST_DIR)" $(LOCALBIN)/demo --manager $(LOCALBIN)/manager --imsim $(LOCALBIN)/imsim --work-dir $(LOCALBIN)/demo-run

.PHONY: run
run: manifests generate fmt vet ## Run the manager from your host against the cluster in KUBECONFIG.
	go run . $(ARGS)

##@ Benchmark

BENCH_DIR ?= $(LOCALBIN)/bench
BENCH_ARGS ?=

.PHONY: bench
bench: envtest ## Benchmark the callback receiver against a bare handler (envtest control plane; minutes); report in bin/bench/.
	go build -o $(LOCALBIN)/bench-harness ./hack/bench
	KUBEBUILDER_ASSETS="$(ENVTEST_DIR)" $(LOCALBIN)/bench-harness --out $(BENCH_DIR) $(BENCH_ARGS)

.PHONY: bench-smoke
bench-smoke: envtest ## A few seconds of the benchmark at small rates: fails only if an update is lost (no timing is asserted).
	go build -o $(LOCALBIN)/bench-harness ./hack/bench
	KUBEBUILDER_ASSETS="$(ENVTEST_DIR)" $(LOCALBIN)/bench-harness --smoke --out $(BENCH_DIR)-smoke

##@ Real cluster

# The images the real-cluster tests load into containerd (no registry, no Docker).
IMAGES_DIR ?= $(LOCALBIN)/images
IMG_TAG ?= dev
IMG ?= localhost/chatgroup-operator:$(IMG_TAG)
IMSIM_IMG ?= localhost/imsim:$(IMG_TAG)
# containerd's sandbox_image (hack/cluster/up.sh); the name is fixed.
PAUSE_IMG ?= localhost/pause:dev

.PHONY: image
image: ## Build the manager, imsim and pause images as FROM-scratch OCI archives in bin/images/ (no Docker).
	@mkdir -p $(IMAGES_DIR)/build
	CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o $(IMAGES_DIR)/build/manager .
	go run ./hack/ociimage --binary $(IMAGES_DIR)/build/manager --entrypoint /manager --user 65532:65532 --name $(IMG) --out $(IMAGES_DIR)/chatgroup-operator.tar
	CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o $(IMAGES_DIR)/build/imsim ./cmd/imsim
	go run ./hack/ociimage --binary $(IMAGES_DIR)/build/imsim --entrypoint /imsim --user 65532:65532 --name $(IMSIM_IMG) --out $(IMAGES_DIR)/imsim.tar
	CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o $(IMAGES_DIR)/build/pause ./hack/pause
	go run ./hack/ociimage --binary $(IMAGES_DIR)/build/pause --entrypoint /pause --user 65535:65535 --name $(PAUSE_IMG) --out $(IMAGES_DIR)/pause.tar

.PHONY: cluster-bin
cluster-bin: ## Build kubelet, kube-proxy, kube-scheduler, kube-controller-manager (and the envtest binaries) into bin/k8s/ (cold: several minutes, ~3 GB).
	hack/cluster/build.sh $(ENVTEST_DIR)

.PHONY: cluster-up
cluster-up: cluster-bin image ## Start a single-node cluster as processes under bin/cluster/ (root; stop with `make cluster-down`).
	K8S_BIN=$(ENVTEST_DIR) IMAGES_DIR=$(IMAGES_DIR) hack/cluster/up.sh

.PHONY: cluster-down
cluster-down: ## Stop the cluster of `make cluster-up` and undo its changes to the host (idempotent).
	K8S_BIN=$(ENVTEST_DIR) hack/cluster/down.sh

.PHONY: test-cluster
test-cluster: helm ## Run the real-cluster suite (root): cluster from bin/k8s/, images, helm install, callbacks, leader election; tears down always.
	@[ "$$(id -u)" = 0 ] || { echo "test-cluster needs root (it runs kubelet, containerd and iptables)"; exit 1; }
	@start=$$SECONDS; \
	hack/cluster/build.sh $(ENVTEST_DIR) && $(MAKE) --no-print-directory image imsim || exit 1; \
	prep=$$((SECONDS - start)); echo "test-cluster: binaries and images ready in $${prep}s"; \
	K8S_BIN=$(ENVTEST_DIR) hack/cluster/down.sh; \
	rc=0; CHATGROUP_CLUSTER_TEST=1 CLUSTER_PREP_SECONDS=$$prep K8S_BIN=$(ENVTEST_DIR) IMAGES_DIR=$(IMAGES_DIR) \
		HELM="$(HELM)" IMSIM="$(LOCALBIN)/imsim" \
		go test ./test/cluster/ -v -count=1 -timeout 40m -ginkgo.v $(GINKGO_FLAGS) || rc=$$?; \
	K8S_BIN=$(ENVTEST_DIR) hack/cluster/down.sh; exit $$rc

##@ Dependencies

.PHONY: envtest
envtest: $(ENVTEST_DIR)/kube-apiserver ## Build kube-apiserver, etcd and kubectl for the tests (cached in bin/k8s/).
$(ENVTEST_DIR)/kube-apiserver: hack/envtest/go.mod hack/envtest/go.sum hack/build-envtest.sh
	hack/build-envtest.sh $(ENVTEST_DIR)

.PHONY: envtest-path
envtest-path: envtest ## Print the directory holding the test control plane (for KUBEBUILDER_ASSETS).
	@echo $(ENVTEST_DIR)

.PHONY: controller-gen
controller-gen: $(CONTROLLER_GEN) ## Install controller-gen.
$(CONTROLLER_GEN): | $(LOCALBIN)
	$(call go-install-tool,$(CONTROLLER_GEN),sigs.k8s.io/controller-tools/cmd/controller-gen,$(CONTROLLER_TOOLS_VERSION))

.PHONY: golangci-lint
golangci-lint: $(GOLANGCI_LINT) ## Install golangci-lint.
$(GOLANGCI_LINT): | $(LOCALBIN)
	$(call go-install-tool,$(GOLANGCI_LINT),github.com/golangci/golangci-lint/v2/cmd/golangci-lint,$(GOLANGCI_LINT_VERSION))

.PHONY: crd-ref-docs
crd-ref-docs: $(CRD_REF_DOCS) ## Install crd-ref-docs (the API reference generator).
$(CRD_REF_DOCS): | $(LOCALBIN)
	$(call go-install-tool,$(CRD_REF_DOCS),github.com/elastic/crd-ref-docs,$(CRD_REF_DOCS_VERSION))

.PHONY: helm
helm: $(HELM) ## Install helm.
$(HELM): | $(LOCALBIN)
	$(call go-install-tool,$(HELM),helm.sh/helm/v4/cmd/helm,$(HELM_VERSION))

.PHONY: promtool
promtool: $(PROMTOOL) ## Install promtool (for make test-alerts).
$(PROMTOOL): | $(LOCALBIN)
	$(call go-install-tool,$(PROMTOOL),github.com/prometheus/prometheus/cmd/promtool,$(PROMTOOL_VERSION))

# go-install-tool installs package $2 at version $3 and names the binary $1, so
# that a version bump in this file installs the new version instead of reusing
# the old binary.
define go-install-tool
@[ -f "$(1)" ] || { \
set -e; \
package=$(2)@$(3) ;\
echo "Installing $${package}" ;\
rm -f "$(1)" ;\
GOBIN="$(LOCALBIN)" go install $${package} ;\
mv "$(LOCALBIN)/$$(basename "$(2)")" "$(1)" ;\
}
endef
