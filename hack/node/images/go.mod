// Wrapper module for the node lab's image builder (main.go) and its pause
// binary (pause/): one-layer OCI image archives from static binaries, made
// with go-containerregistry, without Docker or a registry.
module github.com/cascadelab/cascadelab/hack/node/images

go 1.26.0

require github.com/google/go-containerregistry v0.22.1

require (
	github.com/klauspost/compress v1.19.2 // indirect
	github.com/opencontainers/go-digest v1.0.0 // indirect
	github.com/opencontainers/image-spec v1.1.1 // indirect
	golang.org/x/sync v0.22.0 // indirect
)
