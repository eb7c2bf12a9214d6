package cache

import "github.com/prometheus/client_golang/prometheus"

// metrics are the store's own series (edge adds the per-request ones).
type metrics struct {
	evictions  prometheus.Counter
	rejections *prometheus.CounterVec
	stores     prometheus.Counter
	fills      prometheus.Counter
	collapsed  prometheus.Counter
	passes     prometheus.Counter
	promotions prometheus.Counter
	purges     *prometheus.CounterVec
	purged     prometheus.Counter
	bytes      prometheus.GaugeFunc
	objects    prometheus.GaugeFunc
	maxBytes   prometheus.GaugeFunc
	markers    prometheus.GaugeFunc
	inflight   prometheus.GaugeFunc

	arenaBytes   prometheus.GaugeFunc
	arenaLive    prometheus.GaugeFunc
	arenaChunks  prometheus.GaugeFunc
	compactMoves prometheus.Counter
	compactBytes prometheus.Counter
}

func newMetrics(s *Store) *metrics {
	m := &metrics{
		evictions: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "edge_cache_evictions_total",
			Help: "Objects evicted to make room or on expiry.",
		}),
		rejections: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "edge_cache_rejections_total",
			Help: "Objects not stored: admission = declined by the TinyLFU policy, buffer = dropped under write pressure, purged = a newer purge matched it.",
		}, []string{"reason"}),
		stores: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "edge_cache_stores_total",
			Help: "Objects handed to the store (before admission).",
		}),
		fills: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "edge_cache_fills_total",
			Help: "Origin fetches started for cache misses and revalidations (one per collapsed group).",
		}),
		collapsed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "edge_cache_collapsed_total",
			Help: "Requests that joined a fill already in flight instead of fetching.",
		}),
		passes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "edge_cache_hit_for_pass_marks_total",
			Help: "Keys marked hit-for-pass after an uncacheable response.",
		}),
		promotions: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "edge_cache_identity_promotions_total",
			Help: "Decoded identity bodies kept for objects hot with clients that cannot take compressed encodings.",
		}),
		purges: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "edge_cache_purges_total",
			Help: "Purge requests applied, by selector kind and mode.",
		}, []string{"kind", "mode"}),
		purged: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "edge_cache_purged_objects_total",
			Help: "Stored objects matched by purges.",
		}),
	}
	m.bytes = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "edge_cache_stored_bytes",
		Help: "Cost of the objects stored: body bytes of every encoding, headers and per-object overhead.",
	}, func() float64 { return float64(s.StoredBytes()) })
	m.objects = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "edge_cache_stored_objects",
		Help: "Objects stored (each Vary variant counts, vary markers included).",
	}, func() float64 { return float64(s.StoredObjects()) })
	m.maxBytes = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "edge_cache_max_bytes",
		Help: "The configured memory budget of the cache.",
	}, func() float64 { return float64(s.cfg.Load().MaxMemory) })
	m.markers = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "edge_cache_purge_markers",
		Help: "Purge markers kept for fetches that were in flight when the purge landed.",
	}, func() float64 { return float64(s.Markers()) })
	m.inflight = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "edge_cache_fills_in_flight",
		Help: "Fills registered: in flight, or just finished and not yet visible in the store.",
	}, func() float64 { return float64(s.InFlight()) })
	m.arenaBytes = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "edge_cache_arena_bytes",
		Help: "Memory of the record arena's chunks: live records, holes left by evicted ones and the head chunk's free tail.",
	}, func() float64 { return float64(s.ar.capBytes.Load()) })
	m.arenaLive = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "edge_cache_arena_live_bytes",
		Help: "Bytes of live records in the arena (stored objects and prepared response heads).",
	}, func() float64 { return float64(s.ar.liveBytes.Load()) })
	m.arenaChunks = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "edge_cache_arena_chunks",
		Help: "Chunks in the record arena (shared ones and those of single large objects).",
	}, func() float64 { return float64(s.ar.chunks.Load()) })
	m.compactMoves = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "edge_cache_compaction_moves_total",
		Help: "Stored objects copied out of sparse arena chunks by compaction.",
	})
	m.compactBytes = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "edge_cache_compaction_bytes_total",
		Help: "Bytes copied by arena compaction.",
	})
	return m
}

func (m *metrics) register(r prometheus.Registerer) error {
	for _, c := range []prometheus.Collector{m.evictions, m.rejections, m.stores, m.fills, m.collapsed,
		m.passes, m.promotions, m.purges, m.purged, m.bytes, m.objects, m.maxBytes, m.markers, m.inflight,
		m.arenaBytes, m.arenaLive, m.arenaChunks, m.compactMoves, m.compactBytes} {
		if err := r.Register(c); err != nil {
			return err
		}
	}
	return nil
}
