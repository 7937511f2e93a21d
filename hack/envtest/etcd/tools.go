//go:build tools

// Package etcd pins etcd's server module so that etcd can be built.
package etcd

import _ "go.etcd.io/etcd/server/v3"
