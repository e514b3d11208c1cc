# Build the manager as a static binary, then ship it alone on distroless.
#
# It builds exactly what `make image` packs (same package, same flags and
# environment); hack/ociimage/dockerfile_test.go fails if the two drift.
# The whole context is copied (see .dockerignore), so every file of package
# main and of the packages it imports is there, whatever their names.
FROM golang:1.26 AS builder
ARG TARGETOS
ARG TARGETARCH
WORKDIR /workspace
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 GOOS=${TARGETOS:-linux} GOARCH=${TARGETARCH} \
    go build -trimpath -ldflags="-s -w" -o manager .

FROM gcr.io/distroless/static:nonroot
WORKDIR /
COPY --from=builder /workspace/manager .
USER 65532:65532
ENTRYPOINT ["/manager"]
