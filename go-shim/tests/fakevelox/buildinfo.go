package fakevelox

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// goVersion is the toolchain the fake "builds" with. A constant, not runtime.Version(),
// so that a key's bytes are the same on every machine.
const goVersion = "go1.26.8"

// The sentinels around the module information, from cmd/go (modload infoStart/infoEnd);
// debug/buildinfo cuts 16 bytes at each end.
var (
	modInfoStart, _ = hex.DecodeString("3077af0c9274080241e1c107e6d618e6")
	modInfoEnd, _   = hex.DecodeString("f932433186182072008242104116d8f2")
)

// rrModulePrefix is RoadRunner's module path without its major version suffix.
const rrModulePrefix = "github.com/roadrunner-server/roadrunner"

// rrCurrentMajor is the major version of RoadRunner's master, used for an rr_version that
// is a branch or a commit.
const rrCurrentMajor = "v2025"

// modInfo is the build information `go version -m` prints, as the go command writes it
// for Velox's build of RoadRunner's cmd/rr with the plugins: main module, one dep per
// plugin (sorted by path, as Go sorts them), a replaced dep without sum followed by its
// `=>` line, then the build settings in Go's order.
func (b Build) modInfo() string {
	var s strings.Builder
	s.Write(modInfoStart)
	rrModule := rrModulePath(b.RRVersion)
	s.WriteString("path\t" + rrModule + "/cmd/rr\n")
	s.WriteString("mod\t" + rrModule + "\t" + moduleVersion(rrModule, b.RRVersion) + "\t\n")
	for _, d := range b.deps() {
		s.WriteString("dep\t" + d.path + "\t" + d.version)
		if d.replace == nil {
			s.WriteString("\t" + moduleSum(d.path, d.version) + "\n")
			continue
		}
		s.WriteString("\n=>\t" + d.replace.path + "\t" + d.replace.version + "\t" + d.replace.sum() + "\n")
	}
	if b.Debug {
		// Velox's debug build: no optimisations, no inlining. Go quotes a value with spaces.
		s.WriteString("build\t-gcflags=" + strconv.Quote("all=-N -l") + "\n")
	}
	cgo := "0"
	if b.Race {
		s.WriteString("build\t-race=true\n")
		cgo = "1" // the race detector needs cgo; Velox turns it on
	}
	s.WriteString("build\t-trimpath=true\n")
	s.WriteString("build\tCGO_ENABLED=" + cgo + "\n")
	s.WriteString("build\tGOARCH=" + b.TargetPlatform.Arch + "\n")
	s.WriteString("build\tGOOS=" + b.TargetPlatform.OS + "\n")
	s.Write(modInfoEnd)
	return s.String()
}

// linkedModule is one dep line of the build information.
type linkedModule struct {
	path, version string
	replace       *linkedModule
}

// sum is the go.sum hash Go records for a module version; a directory has none.
func (m *linkedModule) sum() string {
	if m.version == develVersion {
		return ""
	}
	return moduleSum(m.path, m.version)
}

// develVersion is what Go writes for a module in a directory (a replace by path).
const develVersion = "(devel)"

// deps are the plugins at their resolved versions and every replaced module, each
// replace attached to its module. A replaced module that is not a plugin is linked at
// the version the replace names, or at its major's v.0.0 when it names none.
func (b Build) deps() []linkedModule {
	var out []linkedModule
	index := map[string]int{}
	for _, p := range b.Plugins {
		index[p.ModuleName] = len(out)
		out = append(out, linkedModule{path: p.ModuleName, version: moduleVersion(p.ModuleName, p.Tag)})
	}
	for _, r := range b.Replaces {
		oldPath, oldVersion, _ := strings.Cut(r.Old, "@")
		i, ok := index[oldPath]
		if !ok {
			if oldVersion == "" {
				oldVersion = majorOf(oldPath) + ".0.0"
			}
			i = len(out)
			index[oldPath] = i
			out = append(out, linkedModule{path: oldPath, version: oldVersion})
		}
		out[i].replace = replacement(r.New)
	}
	slices.SortFunc(out, func(a, b linkedModule) int { return strings.Compare(a.path, b.path) })
	return out
}

// replacement is the `=>` side of a replace: `module@version` or a directory.
func replacement(target string) *linkedModule {
	if path, version, ok := strings.Cut(target, "@"); ok {
		return &linkedModule{path: path, version: version}
	}
	return &linkedModule{path: target, version: develVersion}
}

var (
	semverPattern = regexp.MustCompile(`^v(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$`)
	commitPattern = regexp.MustCompile(`^[0-9a-f]{7,40}$`)
	majorSuffix   = regexp.MustCompile(`/(v[2-9]|v[1-9]\d+)$`)
)

// moduleVersion is the version Go links for a tag: the tag itself when it is semver,
// otherwise (a branch or a commit) a pseudo-version whose revision is the commit's first
// 12 hex digits, or for a branch 12 hex digits derived from module and branch. Its major
// follows the module path's /vN suffix, as Go requires.
func moduleVersion(module, tag string) string {
	if semverPattern.MatchString(tag) {
		return tag
	}
	var revision string
	if commitPattern.MatchString(tag) {
		revision = (tag + hashHex(tag))[:12]
	} else {
		revision = hashHex(module + "@" + tag)[:12]
	}
	return majorOf(module) + ".0.0-20250101000000-" + revision
}

// majorOf is the major version a module path allows: its /vN suffix, or v0 without one.
func majorOf(module string) string {
	if m := majorSuffix.FindStringSubmatch(module); m != nil {
		return m[1]
	}
	return "v0"
}

// rrModulePath is RoadRunner's module at the major of rr_version (v2025.1.15 ->
// roadrunner/v2025); v0 and v1 have no suffix, as Go wants.
func rrModulePath(rrVersion string) string {
	major := rrCurrentMajor
	if semverPattern.MatchString(rrVersion) {
		major, _, _ = strings.Cut(rrVersion, ".")
	}
	if major == "v0" || major == "v1" {
		return rrModulePrefix
	}
	return rrModulePrefix + "/" + major
}

// moduleSum is a stable stand-in for the go.sum hash of a module version.
func moduleSum(path, version string) string {
	h := sha256.Sum256([]byte(path + "@" + version))
	return "h1:" + base64.StdEncoding.EncodeToString(h[:])
}

func hashHex(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}
