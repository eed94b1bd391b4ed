<?php
// The demo page: a form to choose a RoadRunner build, a Download button that fetches
// /download and shows what came back (the cache status, or the JSON error), and the same
// request as a curl command.

declare(strict_types=1);

require_once __DIR__ . '/catalog.php';

function html(string $s): string
{
    return htmlspecialchars($s, ENT_QUOTES | ENT_HTML5, 'UTF-8');
}

function page(): string
{
    $rrOptions = '';
    foreach (RR_VERSIONS as $i => $v) {
        $rrOptions .= '<option' . ($i === 0 ? ' selected' : '') . '>' . html($v) . '</option>';
    }
    $targets = '';
    foreach (TARGETS as $i => $t) {
        $targets .= '<label><input type="radio" name="target" value="' . html($t) . '"'
            . ($i === 0 ? ' checked' : '') . '> ' . html($t) . '</label>';
    }
    $plugins = '';
    foreach (PLUGINS as $name => [$module, $version, $what]) {
        $checked = in_array($name, DEFAULT_PLUGINS, true) ? ' checked' : '';
        $plugins .= '<label title="' . html($module) . '"><input type="checkbox" name="plugin[]" value="'
            . html($name) . '"' . $checked . '> <b>' . html($name) . '</b> <code>' . html($version)
            . '</code> <span>' . html($what) . '</span></label>';
    }
    // The reader of the downloaded binary's build information, shared with its node test.
    $buildinfo = file_get_contents(__DIR__ . '/buildinfo.js');
    return <<<HTML
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>velox middleware demo</title>
<style>
  body { font: 15px/1.45 system-ui, sans-serif; max-width: 46rem; margin: 2rem auto; padding: 0 1rem; color: #222; }
  h1 { font-size: 1.5rem; margin-bottom: .2rem; }
  p.lead { color: #555; margin-top: 0; }
  fieldset { border: 1px solid #ccc; border-radius: 6px; margin: 1rem 0; padding: .6rem 1rem; }
  legend { font-weight: 600; }
  .grid { display: grid; grid-template-columns: 1fr 1fr; gap: .2rem 1rem; }
  label span { color: #777; font-size: .85em; }
  code { background: #f3f3f3; padding: 0 .25em; border-radius: 3px; }
  button { font-size: 1rem; padding: .5rem 1.4rem; border-radius: 6px; border: 0; background: #1f6feb; color: #fff; cursor: pointer; }
  button:disabled { background: #888; }
  #status { margin-top: 1rem; padding: .6rem 1rem; border-radius: 6px; background: #f6f8fa; display: none; white-space: pre-wrap; }
  #status.ok { background: #e6f4ea; } #status.err { background: #fde8e8; }
  .note { color: #555; font-size: .9em; }
  footer { margin-top: 2rem; color: #777; font-size: .85em; }
</style>
</head>
<body>
<h1>Download a custom RoadRunner</h1>
<p class="lead">This page is a PHP worker. It answers Download with <code>X-Velox-Build: true</code> and a JSON
build request; the <b>velox</b> middleware (Rust core behind a Go shim) finds the binary in its cache or builds it
with the local Go toolchain, then streams it. The first build of a combination takes minutes; the next download
of the same combination comes from the cache at once.</p>
<form id="f" method="get" action="/download">
  <fieldset><legend>RoadRunner version</legend><select name="rr">$rrOptions</select></fieldset>
  <fieldset><legend>OS / architecture</legend><div class="grid">$targets</div></fieldset>
  <fieldset><legend>Plugins</legend><div class="grid">$plugins</div></fieldset>
  <button id="go" type="submit">Download</button>
  <a id="json" href="#">show the build request</a>
  <p id="what" class="note">What you get: a RoadRunner binary with exactly the plugins chosen above; after the
  download this line says how it was built, read from the Go build information inside the file (RoadRunner's own
  source, or the local builder's generated main when the Go module proxy does not serve RoadRunner's source).
  <code>./rr --version</code> says <code>rr version <span id="label">2025.1.15</span></code>. Make it executable
  first: <code>chmod +x rr</code>.</p>
</form>
<div id="status"></div>
<footer>Try it from a shell: <code id="curl"></code></footer>
<script>
$buildinfo
const form = document.getElementById('f'), out = document.getElementById('status'), btn = document.getElementById('go');
const query = () => new URLSearchParams(new FormData(form)).toString();
const show = (cls, text) => { out.className = cls; out.style.display = 'block'; out.textContent = text; };
// -o rr overwrites, so the command can be repeated (to see the HIT); -D - prints the headers.
const updateCurl = () => {
  document.getElementById('curl').textContent = "curl -sS --fail-with-body -D - -o rr '" + location.origin + '/download?'
    + query().replace(/%2F/g, '/').replace(/%5B%5D/g, '[]') + "' && chmod +x rr";
  document.getElementById('label').textContent = form.rr.value.replace(/^v/, '');
};
form.addEventListener('change', updateCurl); updateCurl();
// Errors, the worker's and the middleware's alike, are JSON {"error": "...", "code": "..."}.
const showError = async (r) => {
  const text = await r.text();
  let msg = text;
  try { const j = JSON.parse(text); if (j && j.error) msg = j.error + (j.code ? ' [' + j.code + ']' : ''); } catch (_) {}
  show('err', r.status + ' ' + r.statusText + ': ' + msg);
};
// With no plugin[] at all the worker takes the defaults (so a bare /download works); from
// the page that would be a silent substitution, so the page refuses it itself.
const noPlugins = () => new FormData(form).getAll('plugin[]').length === 0
  && (show('err', 'Choose at least one plugin.'), true);
document.getElementById('json').addEventListener('click', async (e) => {
  e.preventDefault();
  if (noPlugins()) return;
  const r = await fetch('/request?' + query());
  if (!r.ok) { await showError(r); return; }
  show('', await r.text());
});
// A build still running when the middleware's respond_after passes is answered 202 with
// Retry-After and {"status":"building","elapsed_ms":...}: the page shows the build's age,
// asks again after Retry-After, and downloads once the answer is the binary.
const sleep = (ms) => new Promise((ok) => setTimeout(ok, ms));
form.addEventListener('submit', async (e) => {
  e.preventDefault();
  if (noPlugins()) return;
  btn.disabled = true;
  const t0 = performance.now();
  let label = () => 'Resolving… ' + ((performance.now() - t0) / 1000).toFixed(0) + ' s (a first build takes minutes; watch the RoadRunner log)';
  const tick = setInterval(() => show('', label()), 500);
  try {
    let r;
    for (let polls = 0; ; polls++) {
      r = await fetch('/download?' + query());
      if (r.status !== 202) break;
      const b = await r.json();
      const since = performance.now(), wait = Math.min(Math.max(+r.headers.get('Retry-After') || 5, 1), 30);
      label = () => 'Building… ' + ((b.elapsed_ms + performance.now() - since) / 1000).toFixed(0) + ' s'
        + (b.position != null ? ' (queued, position ' + b.position + ')' : '')
        + ' — the server keeps building; this page asks again every ' + wait + ' s (' + (polls + 1) + ' so far)';
      show('', label());
      await sleep(wait * 1000);
    }
    if (!r.ok) { clearInterval(tick); await showError(r); return; }
    const blob = await r.blob();
    clearInterval(tick);
    document.getElementById('what').textContent = describeBuild(goBuildInfo(new Uint8Array(await blob.arrayBuffer())));
    const secs = ((performance.now() - t0) / 1000).toFixed(2);
    const name = (/filename="([^"]+)"/.exec(r.headers.get('Content-Disposition') || '') || [])[1] || 'rr';
    const a = document.createElement('a');
    a.href = URL.createObjectURL(blob); a.download = name; a.click();
    setTimeout(() => URL.revokeObjectURL(a.href), 60000);
    const how = {HIT: 'served from the cache', MISS: 'built for this download', JOINED: 'joined a build already running'}[r.headers.get('X-Velox-Cache')] || '';
    show('ok', name + ': ' + (blob.size / 1048576).toFixed(1) + ' MiB in ' + secs + ' s, X-Velox-Cache: ' + r.headers.get('X-Velox-Cache') + ' (' + how + ')');
  } catch (err) {
    clearInterval(tick); show('err', String(err));
  } finally { btn.disabled = false; }
});
// /#download starts the default download at once (a link to share, and a smoke test).
if (location.hash === '#download') form.requestSubmit();
</script>
</body>
</html>
HTML;
}
