package velox

import (
	"sort"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
)

// The metrics RoadRunner's `metrics` plugin exposes for velox. The numbers are the
// library's (vxm_stats_json), read at scrape time, plus the bytes served counted here.
var (
	descHits = prometheus.NewDesc("velox_cache_hits_total",
		"Build requests served from the disk cache.", nil, nil)
	descMisses = prometheus.NewDesc("velox_cache_misses_total",
		"Cache lookups that found nothing.", nil, nil)
	descJoined = prometheus.NewDesc("velox_builds_joined_total",
		"Build requests that joined an identical build already in flight.", nil, nil)
	descBuilds = prometheus.NewDesc("velox_builds_started_total",
		"Builds started (Velox calls or local builds).", nil, nil)
	descFailed = prometheus.NewDesc("velox_builds_failed_total",
		"Builds that ended in an error, by reason (the library's error code).", []string{"reason"}, nil)
	descDuration = prometheus.NewDesc("velox_build_duration_seconds",
		"Duration of the builds that succeeded.", nil, nil)
	descEvictions = prometheus.NewDesc("velox_cache_evictions_total",
		"Cache entries removed, by reason: size, count, age, manual, mismatch (moved aside by the provenance check).", []string{"reason"}, nil)
	descServed = prometheus.NewDesc("velox_served_bytes_total",
		"Bytes of binaries sent to HTTP clients.", nil, nil)
	descEntries = prometheus.NewDesc("velox_cache_entries",
		"Entries in the disk cache, as this process knows them.", nil, nil)
	descDirEntries = prometheus.NewDesc("velox_cache_dir_entries",
		"Entries in the cache directory, all processes sharing it, as of the last store or cleanup in any.", nil, nil)
	descDirBytes = prometheus.NewDesc("velox_cache_dir_bytes",
		"Bytes of binaries in the cache directory, all processes sharing it, as of the last store or cleanup in any.", nil, nil)
	descBytes = prometheus.NewDesc("velox_cache_bytes",
		"Bytes of binaries in the disk cache.", nil, nil)
	descRemote = prometheus.NewDesc("velox_remote_events_total",
		"Remote tier (cache.remote) events: hit, miss, error, corrupt, upload, lease_wait...", []string{"event"}, nil)
	descUpstream = prometheus.NewDesc("velox_upstream_errors_total",
		"Errors from the Velox server (or the local builder), by Connect code.", []string{"code"}, nil)
	descInFlight = prometheus.NewDesc("velox_builds_in_flight",
		"Builds running now.", nil, nil)
	descAsync = prometheus.NewDesc("velox_async_answers_total",
		"Build requests answered 202 Accepted while their build went on.", nil, nil)
	descJoinedAfterLeave = prometheus.NewDesc("velox_builds_joined_after_leave_total",
		"Joins into a build that a client had left or was answered 202 for (retries, polls).", nil, nil)
	descUnwatched = prometheus.NewDesc("velox_builds_unwatched_done_total",
		"Builds that ended with nobody waiting (their result is in the cache, or their error remembered).", nil, nil)
	descLingerExpired = prometheus.NewDesc("velox_builds_linger_expired_total",
		"Lingering builds cancelled because nobody came back within build_linger.", nil, nil)
	descReplayed = prometheus.NewDesc("velox_failures_replayed_total",
		"Requests answered with a recent build failure instead of a new build.", nil, nil)
	descForeign = prometheus.NewDesc("velox_cache_foreign_files_total",
		"Files met in the cache directory that the cache did not write (links, FIFOs, oversized leases): never followed. Per process.", nil, nil)
	descQueued = prometheus.NewDesc("velox_builds_queued",
		"Builds waiting for a slot (max_concurrent_builds, or the local builder's own).", nil, nil)
	descRefused = prometheus.NewDesc("velox_builds_refused_total",
		"Builds refused 503 busy: the build queue was full.", nil, nil)
	descPickups = prometheus.NewDesc("velox_pickups_total",
		"202 builds the cache did not keep: held for the poll, served from the hold, or dropped (too large to hold).",
		[]string{"event"}, nil)
)

// MetricsCollector is what RoadRunner's metrics plugin collects from its plugins
// (metrics.StatProvider).
func (p *Plugin) MetricsCollector() []prometheus.Collector {
	return []prometheus.Collector{&collector{p: p}}
}

type collector struct {
	p *Plugin
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		descHits, descMisses, descJoined, descBuilds, descFailed, descDuration,
		descEvictions, descServed, descEntries, descBytes, descUpstream, descRemote, descInFlight,
		descDirEntries, descDirBytes,
		descAsync, descJoinedAfterLeave, descUnwatched, descLingerExpired, descReplayed,
		descForeign,
		descQueued, descRefused, descPickups,
	} {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(descServed, prometheus.CounterValue, float64(c.p.served.Load()))
	if c.p.engine == nil {
		return
	}
	s, err := c.p.engine.Stats()
	if err != nil {
		// Stopping, most likely: the engine is closed and has nothing more to say.
		if c.p.log != nil {
			c.p.log.Debug("velox metrics unavailable", zap.Error(err))
		}
		return
	}
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge := func(d *prometheus.Desc, v uint64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(v))
	}
	counter(descHits, s.Hits)
	counter(descMisses, s.Misses)
	counter(descJoined, s.Joined)
	counter(descBuilds, s.Builds)
	counter(descAsync, s.AsyncAnswers)
	counter(descJoinedAfterLeave, s.JoinedAfterLeave)
	counter(descUnwatched, s.BuildsUnwatchedDone)
	counter(descLingerExpired, s.LingerExpired)
	counter(descReplayed, s.FailuresReplayed)
	counter(descForeign, s.ForeignFiles)
	counter(descRefused, s.BuildsRefused)
	counter(descPickups, s.PickupsHeld, "held")
	counter(descPickups, s.PickupsServed, "served")
	counter(descPickups, s.PickupsDropped, "dropped")
	gauge(descQueued, s.BuildsQueued)
	gauge(descEntries, s.Entries)
	gauge(descBytes, s.Bytes)
	gauge(descInFlight, s.BuildsInFlight)
	if s.DirEntries != nil && s.DirBytes != nil {
		gauge(descDirEntries, *s.DirEntries)
		gauge(descDirBytes, *s.DirBytes)
	}
	// The library lists every eviction reason, at 0 until it happens, so that rate() and
	// alerts see the series from the start.
	labelled(s.BuildsFailed, func(l string, v uint64) { counter(descFailed, v, l) })
	labelled(s.EvictionsByReason, func(l string, v uint64) { counter(descEvictions, v, l) })
	labelled(s.UpstreamErrorsByCode, func(l string, v uint64) { counter(descUpstream, v, l) })
	labelled(s.Remote, func(l string, v uint64) { counter(descRemote, v, l) })
	ch <- buildDuration(s.BuildDuration)
}

// labelled emits each label of m in a stable order.
func labelled(m map[string]uint64, emit func(string, uint64)) {
	labels := make([]string, 0, len(m))
	for l := range m {
		labels = append(labels, l)
	}
	sort.Strings(labels)
	for _, l := range labels {
		emit(l, m[l])
	}
}

func buildDuration(h HistogramStats) prometheus.Metric {
	buckets := make(map[float64]uint64, len(h.Buckets))
	for _, b := range h.Buckets {
		buckets[b[0]] = uint64(b[1])
	}
	return prometheus.MustNewConstHistogram(descDuration, h.Count, h.SumSeconds, buckets)
}
