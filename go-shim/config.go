package velox

import (
	"encoding/json"
	"fmt"
)

// Configurer is the part of RoadRunner's config plugin that the velox plugin uses.
type Configurer interface {
	// UnmarshalKey takes a single key and unmarshals it into a struct or map.
	UnmarshalKey(name string, out any) error
	// Has checks whether a config section exists.
	Has(name string) bool
}

// Keys of the `velox:` section that the Go side consumes itself. Everything else goes
// to the library, which validates it (and refuses unknown keys, naming them).
const keyLibraryPath = "library_path"

// config is the `velox:` section split between the shim and the library.
type config struct {
	engineJSON  []byte // the section minus the shim's keys, for vxm_engine_new
	libraryPath string // purego: where to load the shared library from first
}

func loadConfig(cfg Configurer) (*config, error) {
	section := map[string]any{}
	if err := cfg.UnmarshalKey(PluginName, &section); err != nil {
		return nil, err
	}
	out := &config{}
	if v, ok := section[keyLibraryPath]; ok {
		s, isString := v.(string)
		if !isString {
			return nil, fmt.Errorf("velox.%s: want a string, got %T", keyLibraryPath, v)
		}
		out.libraryPath = s
		delete(section, keyLibraryPath)
	}
	var err error
	if out.engineJSON, err = json.Marshal(normalise(section)); err != nil {
		return nil, fmt.Errorf("velox: encode configuration: %w", err)
	}
	return out, nil
}

// normalise turns what YAML decoders produce (map[any]any from yaml.v2, nested
// map[string]any from viper) into values encoding/json accepts.
func normalise(v any) any {
	switch t := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(t))
		for k, val := range t {
			m[k] = normalise(val)
		}
		return m
	case map[any]any:
		m := make(map[string]any, len(t))
		for k, val := range t {
			m[fmt.Sprint(k)] = normalise(val)
		}
		return m
	case []any:
		s := make([]any, len(t))
		for i, val := range t {
			s[i] = normalise(val)
		}
		return s
	default:
		// Scalars, and anything encoding/json can judge for itself.
		return t
	}
}
