package main

import "fmt"

// live is a server under test that stays up for the whole measurement.
type live struct {
	name   string
	srv    *server
	urlFor func(addr string, size int) string
}

// measureAll starts every server at once (idle ones cost nothing), warms them, then runs
// the points in rounds: within a round each point is measured on every server back to
// back, in an order rotated per round, so that a change in the machine's background load
// hits all servers alike. The report quotes the median over rounds.
func (d *driver) measureAll(p plan) (results []httpResult, rates []rateResult, misses []missResult, probes []behaviour, failures []string) {
	var servers []*live
	defer func() {
		for _, l := range servers {
			l.srv.stop()
		}
	}()
	for _, name := range p.servers {
		s, urlFor, err := d.startServer(name)
		if err == nil {
			fmt.Printf("benchrun: %s up on %s (pid %d)\n", name, s.addr, s.cmd.Process.Pid)
			for _, size := range p.sizes {
				if err = d.warm(name, urlFor(s.addr, size), size); err != nil {
					err = fmt.Errorf("%s: %w", mib(size), err)
					break
				}
			}
			if err != nil {
				s.stop()
			}
		}
		if err != nil {
			fmt.Printf("benchrun: %s: %v\n", name, err)
			failures = append(failures, fmt.Sprintf("%s: %v", name, err))
			continue
		}
		servers = append(servers, &live{name, s, urlFor})
	}

	points := map[string]*httpResult{}
	var order []*httpResult // points in the order first measured
	point := func(server string, size, conns int) *httpResult {
		k := fmt.Sprintf("%s/%d/%d", server, size, conns)
		if points[k] == nil {
			points[k] = &httpResult{Server: server, Size: size, Conns: conns}
			order = append(order, points[k])
		}
		return points[k]
	}
	run := func(h *httpResult, pid int, url string, round int) {
		w, peak, err := withPeak(pid, func() (wrkReport, error) { return d.runWrk(url, h.Conns, p.dur) })
		if err != nil {
			h.Err = shortErr(err)
			fmt.Printf("benchrun: %s: %v\n", h.Server, err)
			return
		}
		h.add(w, peak)
		fmt.Printf("benchrun: r%d %-13s %6s c=%-3d %8.1f req/s %7.1f MiB/s p50 %8.2f ms p99 %8.2f ms peak RSS %5.1f MiB errors %d\n",
			round+1, h.Server, mib(h.Size), h.Conns, w.rps(), w.mbps(), w.P50Us/1000, w.P99Us/1000,
			float64(peak)/1024, w.errors())
	}
	ratePoints := map[string]*rateResult{}
	var rateOrder []*rateResult
	runRate := func(l *live, rp ratePoint, round int) {
		k := fmt.Sprintf("%s/%d/%g", l.name, rp.Size, rp.Rate)
		h := ratePoints[k]
		if h == nil {
			h = &rateResult{Server: l.name, Size: rp.Size, Rate: rp.Rate}
			ratePoints[k] = h
			rateOrder = append(rateOrder, h)
		}
		pid := l.srv.cmd.Process.Pid
		r, peak, err := withPeak(pid, func() (rateReport, error) {
			return d.runFixedRate(l.urlFor(l.srv.addr, rp.Size), rp.Size, rp.Rate, p.rateDur)
		})
		if err != nil {
			h.Err = shortErr(err)
			fmt.Printf("benchrun: %s: %v\n", l.name, err)
			return
		}
		h.add(r, peak)
		fmt.Printf("benchrun: r%d %-13s %6s at %4g/s: achieved %6.1f/s p50 %8.2f ms p99 %8.2f ms (send lag p99 %.2f ms) peak RSS %5.1f MiB errors %d timeouts %d\n",
			round+1, l.name, mib(rp.Size), rp.Rate, r.Achieved, r.P50Us/1000, r.P99Us/1000, r.SendLagP99Us/1000,
			float64(peak)/1024, r.Errors, r.Timeouts)
	}
	for round := 0; round < p.rounds; round++ {
		// Fixed offered rates (open loop), below saturation: how a download service is loaded.
		for _, rp := range p.rates {
			for i := range servers {
				if l := servers[(i+round)%len(servers)]; l.name != "servecontent" {
					runRate(l, rp, round)
				}
			}
		}
		for _, size := range p.sizes {
			for _, conns := range p.conns {
				for i := range servers {
					l := servers[(i+round)%len(servers)]
					h := point(l.name, size, conns)
					run(h, l.srv.cmd.Process.Pid, l.urlFor(l.srv.addr, size), round)
				}
			}
		}
		// The PHP worker round trip alone: the velox RoadRunner answering a small PHP
		// page, the part of every velox request that the static plugin does not pay.
		for _, l := range servers {
			if l.name != "velox-cgo" {
				continue
			}
			for _, conns := range p.conns {
				h := point("php-page", 0, conns)
				run(h, l.srv.cmd.Process.Pid, "http://"+l.srv.addr+"/", round)
			}
		}
	}
	for _, h := range order {
		results = append(results, *h)
	}
	for _, h := range rateOrder {
		rates = append(rates, *h)
	}
	for _, l := range servers {
		if isVelox(l.name) {
			probes = append(probes, probe(l.name, l.srv.addr, l.urlFor(l.srv.addr, p.sizes[0])))
		}
	}

	for _, l := range servers {
		if !isVelox(l.name) || l.name == "velox-purego" || p.misses == 0 {
			continue
		}
		m, err := d.misses(l.name, l.srv.addr, p.misses)
		if err != nil {
			failures = append(failures, "misses: "+err.Error())
		} else {
			misses = append(misses, *m)
		}
	}
	return results, rates, misses, probes, failures
}
