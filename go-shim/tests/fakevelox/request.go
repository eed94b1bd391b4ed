package fakevelox

import (
	"encoding/json"
	"fmt"
	"regexp"
	"runtime"
	"strings"
)

// BuildRequest is the body of BuildService/Build as protojson reads it. Both the proto
// field names and their lowerCamelCase JSON names are accepted, as protojson does.
type BuildRequest struct {
	RequestID      string    `json:"request_id"`
	RRVersion      string    `json:"rr_version"`
	ForceRebuild   bool      `json:"force_rebuild"`
	TargetPlatform *Platform `json:"target_platform"`
	Plugins        []Plugin  `json:"plugins"`
	// The fields of Velox's master (v3) line; released servers drop them (see Released).
	Replaces []Replace `json:"replaces"`
	Excludes []Exclude `json:"excludes"`
	Race     bool      `json:"race"`
	Debug    bool      `json:"debug"`
}

// Platform is GOOS/GOARCH of the wanted binary.
type Platform struct {
	OS   string `json:"os"`
	Arch string `json:"arch"`
}

// Plugin is one Go module to build in.
type Plugin struct {
	ModuleName string `json:"module_name"`
	Tag        string `json:"tag"`
}

// Replace is a go.mod replace directive (api.request.v1.Replace).
type Replace struct {
	Old string `json:"old"`
	New string `json:"new"`
}

// Exclude is a go.mod exclude directive (api.request.v1.Exclude).
type Exclude struct {
	Module  string `json:"module"`
	Version string `json:"version"`
}

// Velox validates with protovalidate; these are the rules of api/request/v1/request.proto.
var (
	rrVersionPattern = regexp.MustCompile(`^(v\d+\.\d+\.\d+.*|master|[a-f0-9]{7,40})$`)
	uuidPattern      = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
)

// camelToSnake maps protojson's JSON names onto the proto names we decode with.
var camelToSnake = map[string]string{
	"requestId":      "request_id",
	"rrVersion":      "rr_version",
	"forceRebuild":   "force_rebuild",
	"targetPlatform": "target_platform",
	"moduleName":     "module_name",
}

// parseBuildRequest decodes a Connect JSON body. Unknown fields are ignored, as
// connect-go's JSON codec does.
func parseBuildRequest(body []byte) (*BuildRequest, error) {
	var raw any
	if err := json.Unmarshal(body, &raw); err != nil {
		return nil, fmt.Errorf("unmarshal into api.request.v1.BuildRequest: %w", err)
	}
	normalized, err := json.Marshal(snakeKeys(raw))
	if err != nil {
		return nil, err
	}
	var req BuildRequest
	if err := json.Unmarshal(normalized, &req); err != nil {
		return nil, fmt.Errorf("unmarshal into api.request.v1.BuildRequest: %w", err)
	}
	return &req, nil
}

func snakeKeys(v any) any {
	switch t := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, val := range t {
			if s, ok := camelToSnake[k]; ok {
				k = s
			}
			out[k] = snakeKeys(val)
		}
		return out
	case []any:
		for i := range t {
			t[i] = snakeKeys(t[i])
		}
		return t
	default:
		return v
	}
}

// validate applies Velox's protovalidate rules and returns the violations in its wording.
func (r *BuildRequest) validate() error {
	var violations []string
	if r.RequestID != "" && !uuidPattern.MatchString(r.RequestID) {
		violations = append(violations, "request_id: value must be a valid UUID [string.uuid]")
	}
	switch {
	case r.RRVersion == "":
		violations = append(violations, "rr_version: value is required [required]")
	case !rrVersionPattern.MatchString(r.RRVersion):
		violations = append(violations, "rr_version: rr_version must be a semantic version starting with 'v' (e.g., v2025.1.0), 'master', or a git commit SHA (7-40 hex characters) [rr_version.format]")
	}
	if len(r.Plugins) == 0 {
		violations = append(violations, "plugins: value is required [required]")
	}
	for i, p := range r.Plugins {
		if p.ModuleName == "" {
			violations = append(violations, fmt.Sprintf("plugins[%d].module_name: value is required [required]", i))
		}
		if p.Tag == "" {
			violations = append(violations, fmt.Sprintf("plugins[%d].tag: value is required [required]", i))
		}
	}
	if len(violations) == 0 {
		return nil
	}
	return fmt.Errorf("validating request: validation error:\n - %s", strings.Join(violations, "\n - "))
}

// platform is the target platform, defaulting like Velox does when none is given.
func (r *BuildRequest) platform() Platform {
	if r.TargetPlatform == nil {
		return Platform{OS: runtime.GOOS, Arch: runtime.GOARCH}
	}
	return *r.TargetPlatform
}

// build is what the server builds for this request.
func (r *BuildRequest) build() Build {
	return Build{
		RRVersion:      r.RRVersion,
		TargetPlatform: r.platform(),
		Plugins:        r.Plugins,
		Replaces:       r.Replaces,
		Excludes:       r.Excludes,
		Race:           r.Race,
		Debug:          r.Debug,
	}
}

// dropUnreleasedFields forgets what a released Velox (v2025.1.x, v2025.2 betas) does not
// know: its generated BuildRequest has no such fields and connect-go's JSON codec
// discards unknown ones, so the build goes on without them.
func (r *BuildRequest) dropUnreleasedFields() {
	r.Replaces, r.Excludes, r.Race, r.Debug = nil, nil, false, false
}
