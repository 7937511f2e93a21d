package procstat

import (
	"os"
	"strings"
	"testing"
	"time"
)

// TestSelfCPU: spinning for 200 ms of wall time adds CPU time.
func TestSelfCPU(t *testing.T) {
	before, err := SelfCPU()
	if err != nil {
		t.Fatal(err)
	}
	for end := time.Now().Add(200 * time.Millisecond); time.Now().Before(end); {
	}
	after, err := SelfCPU()
	if err != nil {
		t.Fatal(err)
	}
	if after <= before {
		t.Errorf("CPU time %v → %v after spinning", before, after)
	}
	if byPid, err := CPU(os.Getpid()); err != nil || byPid < after {
		t.Errorf("CPU(own pid) = %v, %v; SelfCPU a moment before %v", byPid, err, after)
	}
	if _, err := CPU(-1); err == nil {
		t.Error("CPU(-1) did not fail")
	}
	if la := LoadAverage(); len(strings.Fields(la)) != 3 {
		t.Errorf("load average %q", la)
	}
}
