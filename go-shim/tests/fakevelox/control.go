package fakevelox

import (
	"encoding/json"
	"io"
	"net/http"
)

// registerControl adds the endpoints a test outside the process uses:
//
//	POST /_control  body: a Mode as JSON, e.g. {"kind":"fail","status":503,"code":"unavailable","count":2}
//	                or {"kind":"released"} for a Velox v2025.1.x that drops replaces, excludes, race, debug
//	GET  /_stats    the counters
//	GET  /_calls    every finished call
//	POST /_reset    clear calls and counters, back to Normal
func (s *Server) registerControl(mux *http.ServeMux) {
	mux.HandleFunc("POST /_control", func(w http.ResponseWriter, r *http.Request) {
		var m Mode
		body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<16))
		if err := json.Unmarshal(body, &m); err != nil {
			http.Error(w, "bad mode: "+err.Error(), http.StatusBadRequest)
			return
		}
		if err := s.SetMode(m); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		writeJSON(w, s.Mode())
	})
	mux.HandleFunc("GET /_stats", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, s.Stats())
	})
	mux.HandleFunc("GET /_calls", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, s.Calls())
	})
	mux.HandleFunc("POST /_reset", func(w http.ResponseWriter, _ *http.Request) {
		if err := s.Reset(); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		writeJSON(w, s.Stats())
	})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}
