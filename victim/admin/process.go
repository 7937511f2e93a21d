package admin

import (
	"syscall"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/procfs"
)

// processCollector exposes client_golang's process metrics under the same
// names, help and types, for this process, at a fraction of the cost of
// collectors.NewProcessCollector on a scrape: a profile of a victim
// scraped in a loop put 41 % of its /metrics CPU in that collector, most of
// it reading the whole of /proc/stat on every scrape only to compute the
// boot time behind process_start_time_seconds, and parsing
// /proc/self/net/netstat.
//
// Here the start time is computed once (the boot time and the process's
// start never change), the limits are two getrlimit(2) calls instead of
// parsing /proc/self/limits, and per scrape only /proc/self/stat is read
// (CPU time, virtual and resident memory) and /proc/self/fd stat'ed (open
// descriptors; Linux 6.2+ gives the count as the directory's size, older
// kernels a directory read).
//
// process_network_receive_bytes_total and process_network_transmit_bytes_total
// are left out: they are the network namespace's counters, not the
// process's (a pod's total in Kubernetes, the whole host's in a local run),
// nothing in the kit reads them, and parsing netstat was 13 % of a scrape.
type processCollector struct {
	proc procfs.Proc
	// start is process_start_time_seconds, read once.
	start                          float64
	cpu, openFDs, maxFDs           *prometheus.Desc
	vsize, maxVsize, rss, startDsc *prometheus.Desc
}

// NewProcessCollector returns a collector of this process's
// process_cpu_seconds_total, process_open_fds, process_max_fds,
// process_virtual_memory_bytes, process_virtual_memory_max_bytes,
// process_resident_memory_bytes and process_start_time_seconds, with the
// names, help texts and types of client_golang's process collector and the
// same values, cheaper to scrape (see processCollector). Where /proc cannot
// be read (not Linux), it returns client_golang's collector.
func NewProcessCollector() prometheus.Collector {
	p, err := procfs.Self()
	if err != nil {
		return collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})
	}
	stat, err := p.Stat()
	if err != nil {
		return collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})
	}
	start, err := stat.StartTime() // reads /proc/stat for the boot time: once
	if err != nil {
		return collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})
	}
	desc := func(name, help string) *prometheus.Desc { return prometheus.NewDesc(name, help, nil, nil) }
	return &processCollector{
		proc:     p,
		start:    start,
		cpu:      desc("process_cpu_seconds_total", "Total user and system CPU time spent in seconds."),
		openFDs:  desc("process_open_fds", "Number of open file descriptors."),
		maxFDs:   desc("process_max_fds", "Maximum number of open file descriptors."),
		vsize:    desc("process_virtual_memory_bytes", "Virtual memory size in bytes."),
		maxVsize: desc("process_virtual_memory_max_bytes", "Maximum amount of virtual memory available in bytes."),
		rss:      desc("process_resident_memory_bytes", "Resident memory size in bytes."),
		startDsc: desc("process_start_time_seconds", "Start time of the process since unix epoch in seconds."),
	}
}

// Describe sends the descriptions of the metrics Collect sends.
func (c *processCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.cpu, c.openFDs, c.maxFDs, c.vsize, c.maxVsize, c.rss, c.startDsc} {
		ch <- d
	}
}

// Collect sends the current values; a figure that cannot be read is left
// out, as client_golang's collector does without ReportErrors.
func (c *processCollector) Collect(ch chan<- prometheus.Metric) {
	if stat, err := c.proc.Stat(); err == nil {
		ch <- prometheus.MustNewConstMetric(c.cpu, prometheus.CounterValue, stat.CPUTime())
		ch <- prometheus.MustNewConstMetric(c.vsize, prometheus.GaugeValue, float64(stat.VirtualMemory()))
		ch <- prometheus.MustNewConstMetric(c.rss, prometheus.GaugeValue, float64(stat.ResidentMemory()))
	}
	ch <- prometheus.MustNewConstMetric(c.startDsc, prometheus.GaugeValue, c.start)
	if n, err := c.proc.FileDescriptorsLen(); err == nil {
		ch <- prometheus.MustNewConstMetric(c.openFDs, prometheus.GaugeValue, float64(n))
	}
	if v, ok := rlimit(syscall.RLIMIT_NOFILE); ok {
		ch <- prometheus.MustNewConstMetric(c.maxFDs, prometheus.GaugeValue, v)
	}
	if v, ok := rlimit(syscall.RLIMIT_AS); ok {
		ch <- prometheus.MustNewConstMetric(c.maxVsize, prometheus.GaugeValue, v)
	}
}

// rlimit is the soft limit of resource r, as /proc/self/limits shows it
// ("unlimited" is RLIM_INFINITY, 2^64−1).
func rlimit(r int) (float64, bool) {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(r, &l); err != nil {
		return 0, false
	}
	return float64(l.Cur), true
}
