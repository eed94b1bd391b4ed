// What the builder made, read from the binary itself: Go (1.18 and later) writes its build
// information into every executable, so the page can say whether the file it just
// downloaded was built from RoadRunner's own source or from the local builder's generated
// main, without trusting anything but the bytes. Used inline by page.php and by
// demo/tests/buildinfo_test.mjs (node).

// The header Go's linker writes at a 16-byte boundary of the data it starts.
const GO_BUILDINFO_MAGIC = [0xff, 0x20, 0x47, 0x6f, 0x20, 0x62, 0x75, 0x69, 0x6c, 0x64, 0x69, 0x6e, 0x66, 0x3a];
const GO_INLINE_STRINGS = 0x2;
// Module information is framed by 16 marker bytes at each end (cmd/go's infoStart/infoEnd).
const GO_MODINFO_FRAME = 16;

// {goVersion, mainModule, mainVersion} of a Go executable, or null when the bytes carry
// no build information this reader understands (not Go, or before Go 1.18).
function goBuildInfo(bytes) {
  const at = findMagic(bytes);
  if (at < 0 || (bytes[at + 15] & GO_INLINE_STRINGS) === 0) return null;
  let pos = at + 32;
  const next = () => {
    let len = 0, shift = 0;
    for (;;) {
      if (pos >= bytes.length || shift > 28) return null;
      const b = bytes[pos++];
      len |= (b & 0x7f) << shift;
      if ((b & 0x80) === 0) break;
      shift += 7;
    }
    if (pos + len > bytes.length) return null;
    const s = String.fromCharCode.apply(null, bytes.subarray(pos, pos + len));
    pos += len;
    return s;
  };
  const goVersion = next();
  let mod = next();
  if (goVersion === null || mod === null) return null;
  if (mod.length > 2 * GO_MODINFO_FRAME && mod[mod.length - GO_MODINFO_FRAME - 1] === '\n') {
    mod = mod.slice(GO_MODINFO_FRAME, mod.length - GO_MODINFO_FRAME);
  }
  const main = mod.split('\n').map((l) => l.split('\t')).find((f) => f[0] === 'mod');
  return { goVersion, mainModule: main ? main[1] : '', mainVersion: main ? main[2] || '' : '' };
}

function findMagic(bytes) {
  outer: for (let i = 0; i + 32 <= bytes.length; i += 16) {
    for (let j = 0; j < GO_BUILDINFO_MAGIC.length; j++) {
      if (bytes[i + j] !== GO_BUILDINFO_MAGIC[j]) continue outer;
    }
    return i;
  }
  return -1;
}

// The sentence the page shows under the download.
function describeBuild(info) {
  if (info === null) {
    return 'This file carries no Go build information, so the page cannot say how it was built.';
  }
  const mod = info.mainModule + (info.mainVersion ? ' ' + info.mainVersion : '');
  if (info.mainModule.startsWith('github.com/roadrunner-server/roadrunner/')) {
    return 'Built from RoadRunner\'s own source (main module ' + mod + ', ' + info.goVersion
      + '): the full rr command (serve, workers, reset, ...) with the plugins chosen above.';
  }
  return 'Built from the local builder\'s generated main (main module ' + mod + ', ' + info.goVersion
    + ') on endure with exactly the plugins chosen above: it has only serve and --version. RoadRunner\'s '
    + 'own source was not served by the Go module proxy here.';
}

if (typeof module !== 'undefined') module.exports = { goBuildInfo, describeBuild };
