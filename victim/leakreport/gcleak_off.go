//go:build !goexperiment.goroutineleakprofile

package leakreport

// gcLeaked is nil without GOEXPERIMENT=goroutineleakprofile.
func gcLeaked() *int { return nil }
