package admin

import (
	"math"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	dto "github.com/prometheus/client_model/go"
)

// gather collects c alone and returns its families by name.
func gather(t testing.TB, c prometheus.Collector) map[string]*dto.MetricFamily {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*dto.MetricFamily{}
	for _, mf := range mfs {
		out[mf.GetName()] = mf
	}
	return out
}

func value(mf *dto.MetricFamily) float64 {
	m := mf.GetMetric()[0]
	if m.Counter != nil {
		return m.GetCounter().GetValue()
	}
	return m.GetGauge().GetValue()
}

// TestProcessCollectorLikeClientGolang: every family client_golang's
// process collector exposes, except the two network counters, is exposed
// with the same name, help, type and no labels, and the values agree with
// it (the same figure read from /proc within moments of each other).
func TestProcessCollectorLikeClientGolang(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("process metrics from /proc")
	}
	if _, ok := NewProcessCollector().(*processCollector); !ok {
		t.Fatal("NewProcessCollector fell back to client_golang's collector on Linux")
	}
	theirs := gather(t, collectors.NewProcessCollector(collectors.ProcessCollectorOpts{ReportErrors: true}))
	ours := gather(t, NewProcessCollector())
	theirs2 := gather(t, collectors.NewProcessCollector(collectors.ProcessCollectorOpts{ReportErrors: true}))

	var want, got []string
	for name := range theirs {
		if !strings.HasPrefix(name, "process_network_") {
			want = append(want, name)
		}
	}
	for name := range ours {
		got = append(got, name)
	}
	slices.Sort(want)
	slices.Sort(got)
	if !slices.Equal(got, want) || len(got) != 7 {
		t.Fatalf("families:\n got %v\nwant %v", got, want)
	}
	for _, name := range want {
		o, th := ours[name], theirs[name]
		if o.GetHelp() != th.GetHelp() || o.GetType() != th.GetType() || len(o.GetMetric()) != 1 || len(o.GetMetric()[0].GetLabel()) != 0 {
			t.Errorf("%s: ours %q %v %d series, client_golang's %q %v", name, o.GetHelp(), o.GetType(), len(o.GetMetric()), th.GetHelp(), th.GetType())
			continue
		}
		v, before, after := value(o), value(th), value(theirs2[name])
		lo, hi := min(before, after), max(before, after)
		switch name {
		case "process_start_time_seconds", "process_max_fds", "process_virtual_memory_max_bytes":
			if v != before || v != after { // fixed while the test runs
				t.Errorf("%s = %v, client_golang's %v", name, v, before)
			}
		case "process_cpu_seconds_total":
			if v < lo || v > hi {
				t.Errorf("%s = %v, not within client_golang's %v … %v", name, v, lo, hi)
			}
		default: // open fds and memory: moved only by the collectors' own work
			if v < lo*0.9-4 || v > hi*1.1+4 {
				t.Errorf("%s = %v, client_golang's %v … %v", name, v, lo, hi)
			}
		}
	}
}

// TestProcessCollectorValues checks the figures against /proc read here by
// hand: the start time from /proc/self/stat's starttime and /proc/stat's
// btime, open descriptors from a listing of /proc/self/fd, and CPU time
// growing with work done.
func TestProcessCollectorValues(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("process metrics from /proc")
	}
	c := NewProcessCollector()
	first := gather(t, c)

	stat, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		t.Fatal(err)
	}
	fields := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+2:]))
	ticks, err := strconv.ParseFloat(fields[19], 64) // field 22, starttime
	if err != nil {
		t.Fatal(err)
	}
	var btime float64
	procStat, err := os.ReadFile("/proc/stat")
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.SplitSeq(string(procStat), "\n") {
		if rest, ok := strings.CutPrefix(line, "btime "); ok {
			btime, _ = strconv.ParseFloat(rest, 64)
		}
	}
	if want := btime + ticks/100; math.Abs(value(first["process_start_time_seconds"])-want) > 1e-6 || btime == 0 {
		t.Errorf("process_start_time_seconds = %v, /proc says %v", value(first["process_start_time_seconds"]), want)
	}

	// Open a few files: the count follows (/proc/self/fd also lists the
	// directory ReadDir holds open, hence the tolerance of one).
	var files []*os.File
	for range 5 {
		f, err := os.Open("/proc/self/stat")
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	fds := value(gather(t, c)["process_open_fds"])
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	if d := float64(len(ents)) - fds; d < 0 || d > 1 {
		t.Errorf("process_open_fds = %v, /proc/self/fd lists %d", fds, len(ents))
	}
	for _, f := range files {
		f.Close()
	}
	if after := value(gather(t, c)["process_open_fds"]); after != fds-5 {
		t.Errorf("process_open_fds after closing 5: %v, before %v", after, fds)
	}

	cpu0 := value(first["process_cpu_seconds_total"])
	x := 0
	for end := cpu0 + 0.05; value(gather(t, c)["process_cpu_seconds_total"]) < end; x++ {
		if x > 1e8 {
			t.Fatalf("process_cpu_seconds_total stuck at %v", cpu0)
		}
	}
	if rss := value(first["process_resident_memory_bytes"]); rss < 1<<20 {
		t.Errorf("process_resident_memory_bytes = %v", rss)
	}
}

// BenchmarkProcessCollector compares one Gather of client_golang's process
// collector with this package's, side by side.
//
//	go test -run '^$' -bench ProcessCollector ./victim/admin/
func BenchmarkProcessCollector(b *testing.B) {
	for _, c := range []struct {
		name string
		c    prometheus.Collector
	}{
		{"client_golang", collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})},
		{"cached", NewProcessCollector()},
	} {
		b.Run(c.name, func(b *testing.B) {
			reg := prometheus.NewRegistry()
			reg.MustRegister(c.c)
			for b.Loop() {
				if _, err := reg.Gather(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
