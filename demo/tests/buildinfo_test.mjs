// The demo page's reader of Go build information (demo/lib/buildinfo.js), run by node's
// test runner (`make demo-js-test`, part of `make test`) on real Go executables built here:
// one whose main module is RoadRunner's (what building RoadRunner's own source gives) and
// one with the local builder's generated module, plus a file that is not Go at all.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, writeFileSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRequire } from 'node:module';

const { goBuildInfo, describeBuild } = createRequire(import.meta.url)('../lib/buildinfo.js');

const work = mkdtempSync(join(tmpdir(), 'demo-buildinfo-'));
process.on('exit', () => rmSync(work, { recursive: true, force: true }));

// Builds `package main` in module `module` (the main package in `dir`) as Velox and the
// local builder do: no cgo, -trimpath; nothing is downloaded.
function goBuild(module, dir) {
  const root = join(work, module.replace(/\W/g, '_'));
  mkdirSync(join(root, dir), { recursive: true });
  writeFileSync(join(root, 'go.mod'), `module ${module}\n\ngo 1.21\n`);
  writeFileSync(join(root, dir, 'main.go'), 'package main\n\nfunc main() { println("rr") }\n');
  const out = join(root, 'rr');
  execFileSync('go', ['build', '-trimpath', '-o', out, './' + dir], {
    cwd: root,
    env: { ...process.env, CGO_ENABLED: '0', GOPROXY: 'off', GOFLAGS: '-mod=mod', GOTOOLCHAIN: 'local' },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  return new Uint8Array(readFileSync(out));
}

test('a build of RoadRunner\'s own source is described as such', () => {
  const info = goBuildInfo(goBuild('github.com/roadrunner-server/roadrunner/v2025', 'cmd/rr'));
  assert.equal(info.mainModule, 'github.com/roadrunner-server/roadrunner/v2025');
  assert.match(info.goVersion, /^go1\.\d+/);
  assert.match(describeBuild(info), /RoadRunner's own source/);
  assert.doesNotMatch(describeBuild(info), /generated main/);
});

test('a build of the generated main is described as such', () => {
  const info = goBuildInfo(goBuild('velox.local/rr', '.'));
  assert.equal(info.mainModule, 'velox.local/rr');
  assert.match(describeBuild(info), /generated main \(main module velox\.local\/rr/);
});

test('bytes without Go build information say so instead of guessing', () => {
  const script = new TextEncoder().encode('#!/bin/sh\necho not a go binary\n'.repeat(64));
  assert.equal(goBuildInfo(script), null);
  assert.match(describeBuild(null), /no Go build information/);
  // A magic with nothing after it is not read past the end.
  const torn = new Uint8Array(48);
  torn.set([0xff, ...new TextEncoder().encode(' Go buildinf:'), 8, 2]);
  torn[32] = 0x7f; // a version string longer than the bytes left
  assert.equal(goBuildInfo(torn), null);
});
