package server

import (
	"bytes"
	"context"
	"encoding/json"
	"maps"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/latchkey/latchkey/gen"
	"github.com/latchkey/latchkey/openapi"
	swgui "github.com/swaggest/swgui/v5"
)

// OpsHealthz implements GET /healthz (ops). It never touches the database: a live process that
// cannot reach its database is alive but not ready.
func (s *Server) OpsHealthz(context.Context, gen.OpsHealthzRequestObject) (gen.OpsHealthzResponseObject, error) {
	return gen.OpsHealthz200JSONResponse{Status: gen.OpsStatusStatusOk}, nil
}

// ReadyCheck is a dependency besides the database that /readyz reports on (Redis, when the
// rate-limit counters live there).
type ReadyCheck interface {
	// Ready names the dependency and says how it is ("ok", or what failed, without secrets), and
	// whether the instance can serve as it is.
	Ready(ctx context.Context) (name, status string, ok bool)
}

// OpsReadyz implements GET /readyz (ops).
func (s *Server) OpsReadyz(ctx context.Context, _ gen.OpsReadyzRequestObject) (gen.OpsReadyzResponseObject, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	checks := map[string]string{"database": "ok", "signing_key": "ok"}
	ready := true
	if err := s.store.Ping(ctx); err != nil {
		checks["database"], ready = "unreachable", false
	}
	if s.keys.signer() == nil {
		checks["signing_key"], ready = "missing", false
	}
	// The session cache's listener is reported, never a reason to be unready: without it the
	// instance checks sessions in the database, slower and as safe.
	checks["revocation_listener"] = s.store.SessionCacheStats().Listener
	if rc, ok := s.counter.(ReadyCheck); ok {
		name, status, ok := rc.Ready(ctx)
		checks[name] = status
		ready = ready && ok
	}
	if !ready {
		return gen.OpsReadyz503JSONResponse{Status: gen.OpsStatusStatusUnavailable, Checks: &checks}, nil
	}
	return gen.OpsReadyz200JSONResponse{Status: gen.OpsStatusStatusOk, Checks: &checks}, nil
}

// OpsOpenAPIYAML implements GET /openapi.yaml (ops): the contract exactly as committed.
func (s *Server) OpsOpenAPIYAML(context.Context, gen.OpsOpenAPIYAMLRequestObject) (gen.OpsOpenAPIYAMLResponseObject, error) {
	return gen.OpsOpenAPIYAML200ApplicationyamlResponse{
		Body:          bytes.NewReader(openapi.YAML),
		ContentLength: int64(len(openapi.YAML)),
	}, nil
}

// OpsOpenAPIJSON implements GET /openapi.json (ops): the committed contract in JSON (the spec
// that oapi-codegen embeds has its operationIds rewritten to Go names, so it is not served), with
// one server, this one: a URL relative to the document, holding the path of the public URL, so
// that "Try it out" in /docs calls the server that served the page, whatever host it was opened
// on.
func (s *Server) OpsOpenAPIJSON(context.Context, gen.OpsOpenAPIJSONRequestObject) (gen.OpsOpenAPIJSONResponseObject, error) {
	contract, err := contractJSON()
	if err != nil {
		return nil, err
	}
	doc := maps.Clone(contract)
	base := "/"
	if u, err := url.Parse(s.cfg.PublicURL); err == nil && u.Path != "" {
		base = u.Path
	}
	doc["servers"] = []map[string]string{{"url": base, "description": "This Latchkey"}}
	return gen.OpsOpenAPIJSON200JSONResponse(doc), nil
}

// contractJSON is openapi.yaml as a JSON object, converted once.
var contractJSON = sync.OnceValues(func() (map[string]any, error) {
	spec, err := openapi3.NewLoader().LoadFromData(openapi.YAML)
	if err != nil {
		return nil, err
	}
	raw, err := spec.MarshalJSON()
	if err != nil {
		return nil, err
	}
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, err
	}
	return doc, nil
})

// docs is Swagger UI with its assets built into the binary (no CDN).
var docs = swgui.NewHandler("Latchkey API", "/openapi.json", "/docs/")

// OpsDocs implements GET /docs (ops).
func (s *Server) OpsDocs(ctx context.Context, _ gen.OpsDocsRequestObject) (gen.OpsDocsResponseObject, error) {
	return handlerResponse{h: docs, r: stateFrom(ctx).request}, nil
}

// OpsDocsAsset implements GET /docs/{asset} (ops).
func (s *Server) OpsDocsAsset(ctx context.Context, _ gen.OpsDocsAssetRequestObject) (gen.OpsDocsAssetResponseObject, error) {
	return handlerResponse{h: docs, r: stateFrom(ctx).request}, nil
}

// OpsMetrics implements GET /metrics (ops).
func (s *Server) OpsMetrics(ctx context.Context, _ gen.OpsMetricsRequestObject) (gen.OpsMetricsResponseObject, error) {
	return handlerResponse{h: s.metrics.handler, r: stateFrom(ctx).request}, nil
}

// handlerResponse lets a plain http.Handler answer a strict operation (static assets, metrics).
type handlerResponse struct {
	h http.Handler
	r *http.Request
}

func (h handlerResponse) serve(w http.ResponseWriter) error {
	h.h.ServeHTTP(w, h.r)
	return nil
}

func (h handlerResponse) VisitOpsDocsResponse(w http.ResponseWriter) error      { return h.serve(w) }
func (h handlerResponse) VisitOpsDocsAssetResponse(w http.ResponseWriter) error { return h.serve(w) }
func (h handlerResponse) VisitOpsMetricsResponse(w http.ResponseWriter) error   { return h.serve(w) }
