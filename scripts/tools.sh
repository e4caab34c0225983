#!/usr/bin/env bash
# Installs the project's pinned developer tools into .bin/ with `go install`,
# so code generation and linting work offline from the Go module proxy alone.
# The generator versions must match the protobuf/grpc runtime in go.mod,
# because the generated files name the generator version in their header.
set -euo pipefail
cd "$(dirname "$0")/.."
export GOBIN="$PWD/.bin"
mkdir -p "$GOBIN"

BUF_VERSION=v1.75.0
PROTOC_GEN_GO_VERSION=v1.36.12
PROTOC_GEN_GO_GRPC_VERSION=v1.6.2
STATICCHECK_VERSION=v0.8.2

have() { # have TOOL VERSION: the binary exists and was built from VERSION
	[ -x "$GOBIN/$1" ] && go version -m "$GOBIN/$1" 2>/dev/null | grep -q "mod.*$2"
}
have buf "$BUF_VERSION" || go install "github.com/bufbuild/buf/cmd/buf@$BUF_VERSION"
have protoc-gen-go "$PROTOC_GEN_GO_VERSION" || go install "google.golang.org/protobuf/cmd/protoc-gen-go@$PROTOC_GEN_GO_VERSION"
have protoc-gen-go-grpc "$PROTOC_GEN_GO_GRPC_VERSION" || go install "google.golang.org/grpc/cmd/protoc-gen-go-grpc@$PROTOC_GEN_GO_GRPC_VERSION"
have staticcheck "$STATICCHECK_VERSION" || go install "honnef.co/go/tools/cmd/staticcheck@$STATICCHECK_VERSION"
