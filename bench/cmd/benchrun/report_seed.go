package main

import "fmt"

func ratio(a, b float64) string {
	if b == 0 || a == 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f×", a/b)
}

// writeSeedRatios: ours (both backends) against the original plugin at every saturating point.
func (r *report) writeSeedRatios(p func(string, ...any)) {
	if !r.plan.seed {
		return
	}
	p("### Ratios: velox / the original plugin (seed)\n\n")
	p("Throughput ratio > 1 and latency/memory ratios < 1 favour ours. cgo, purego.\n\n")
	p("| file | concurrency | req/s | p50 | p99 | peak RSS seed → cgo / purego |\n")
	p("| --- | ---: | ---: | ---: | ---: | ---: |\n")
	for _, size := range r.plan.sizes {
		for _, c := range r.plan.conns {
			s := r.find("seed", size, c)
			if s == nil {
				continue
			}
			var rps, p50, p99, mem []string
			for _, name := range []string{"velox-cgo", "velox-purego"} {
				v := r.find(name, size, c)
				if v == nil {
					rps, p50, p99 = append(rps, "–"), append(p50, "–"), append(p99, "–")
					mem = append(mem, "–")
					continue
				}
				rps = append(rps, ratio(v.RPS, s.RPS))
				p50 = append(p50, ratio(v.P50Us, s.P50Us))
				mark := v.survivorMark()
				if mark == "" {
					mark = s.survivorMark()
				}
				p99 = append(p99, ratio(v.P99Us, s.P99Us)+mark)
				mem = append(mem, fmt.Sprintf("%.0f", float64(v.PeakRSSKiB)/1024))
			}
			p("| %s | %d | %s, %s | %s, %s | %s, %s | %.0f → %s / %s MiB |\n", mib(size), c, rps[0], rps[1],
				p50[0], p50[1], p99[0], p99[1], float64(s.PeakRSSKiB)/1024, mem[0], mem[1])
		}
	}
	p("\n† see above: too few completed requests per connection for the percentiles to describe the tail.\n")
	p("Why our tail at saturation was longer than the original's, what changed (bounded sendfile\n")
	p("pieces) and what was measured: docs/decisions/2026-11-29-tail-latency.md.\n\n")
}

func (r *report) findRate(server string, rp ratePoint) *rateResult {
	for i := range r.rates {
		h := &r.rates[i]
		if h.Server == server && h.Size == rp.Size && h.Rate == rp.Rate {
			return h
		}
	}
	return nil
}

// writeFixedRate: the open-loop points, below saturation.
func (r *report) writeFixedRate(p func(string, ...any)) {
	if !section(p, "HTTP: fixed offered rate (open loop)", len(r.rates) > 0, "Not measured in this run.") {
		return
	}
	p("`bench/cmd/fixedrate` sends requests at a fixed rate for %s per run whatever the answers take\n", r.plan.rateDur)
	p("(a new connection whenever no idle one is free), and measures each latency from the time the\n")
	p("request was *scheduled*, so a stall counts for every request it delays (no coordinated omission).\n")
	p("This is how a download service is loaded in practice: below saturation. Medians over %d round(s),\n", r.plan.rounds)
	p("interleaved as above; errors include timeouts. Achieved below offered means the server (or the\n")
	p("machine) could not keep up.\n\n")
	p("| file | offered | server | achieved | p50 | p99 | peak RSS | errors |\n")
	p("| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: |\n")
	for _, rp := range r.plan.rates {
		for _, s := range r.plan.servers {
			h := r.findRate(s, rp)
			if h == nil {
				continue
			}
			p("| %s | %g/s | %s | %.1f/s | %s | %s | %.1f MiB | %s |\n", mib(rp.Size), rp.Rate, s, h.Achieved,
				fmtMs(h.P50Us), fmtMs(h.P99Us), float64(h.PeakRSSKiB)/1024, errorsCell(h.Errors, h.Err))
		}
	}
	p("\n")
}

// writeBehaviour: streaming pass-through and HTTP semantics of a hit, per velox server.
func (r *report) writeBehaviour(p func(string, ...any)) {
	if !section(p, "Streaming and HTTP semantics", len(r.probes) > 0, "Not measured in this run.") {
		return
	}
	p("First row pair: an ordinary (non-build) PHP response streamed in %d frames %d ms apart; a\n", streamFrames, streamDelayMs)
	p("middleware that passes the stream through delivers the first byte at once, one that buffers\n")
	p("the whole response only at the end. Then a cached %s binary: `Range: bytes=0-1023`, the\n", mib(r.plan.sizes[0]))
	p("ETag of a full GET, a GET with `If-None-Match` of that ETag, and HEAD.\n\n")
	p("| server | stream: first byte | stream: whole | Range | ETag | If-None-Match | HEAD |\n")
	p("| --- | ---: | ---: | --- | --- | --- | --- |\n")
	for _, b := range r.probes {
		etag := "none"
		if b.ETag != "" {
			etag = "`" + b.ETag + "`"
			if len(b.ETag) > 20 {
				etag = "`" + b.ETag[:19] + "…`"
			}
		}
		p("| %s | %.0f ms | %.0f ms | %s | %s | %s | %s |\n", b.Server, b.TTFBMs, b.TotalMs, b.Range, etag, b.Conditional, b.Head)
		if b.Err != "" {
			p("| %s: error | %s | | | | | |\n", b.Server, b.Err)
		}
	}
	p("\n")
}
