<?php
// The demo's PHP worker: a page to choose a RoadRunner build, and /download, which
// answers with `X-Velox-Build: true` and the JSON build request. The worker is free again
// at once; the velox middleware resolves the request (cache, else a local build) and
// streams the binary to the browser.
//
// Routes:
//   /                                the page
//   /download?rr=..&target=os/arch&plugin[]=name...
//                                    X-Velox-Build: true + the build request as JSON
//   /request?...                     the same JSON, shown instead of built

declare(strict_types=1);

require __DIR__ . '/../e2e/php/rr_worker.php';

const RR_VERSIONS = ['v2025.1.15', 'v2025.1.10', 'v2025.1.5'];
const TARGETS = ['linux/amd64', 'linux/arm64', 'darwin/arm64', 'windows/amd64'];

// name => [module, version, description]. Versions the Go module proxy serves (probed
// with `go mod download -json module@version`).
const PLUGINS = [
    'server' => ['github.com/roadrunner-server/server/v5', 'v5.2.10', 'starts the PHP workers'],
    'http' => ['github.com/roadrunner-server/http/v5', 'v5.3.0', 'HTTP server'],
    'logger' => ['github.com/roadrunner-server/logger/v5', 'v5.1.9', 'logging'],
    'rpc' => ['github.com/roadrunner-server/rpc/v5', 'v5.1.9', 'RPC for PHP and rr commands'],
    'gzip' => ['github.com/roadrunner-server/gzip/v5', 'v5.3.0', 'gzip middleware'],
    'headers' => ['github.com/roadrunner-server/headers/v5', 'v5.2.0', 'headers and CORS middleware'],
    'static' => ['github.com/roadrunner-server/static/v5', 'v5.2.0', 'static files middleware'],
    'metrics' => ['github.com/roadrunner-server/metrics/v5', 'v5.1.2', 'Prometheus metrics'],
];
const DEFAULT_PLUGINS = ['server', 'http', 'logger'];

function uuid4(): string
{
    $b = random_bytes(16);
    $b[6] = chr((ord($b[6]) & 0x0F) | 0x40);
    $b[8] = chr((ord($b[8]) & 0x3F) | 0x80);
    return vsprintf('%s%s-%s-%s-%s-%s%s%s', str_split(bin2hex($b), 4));
}

function html(string $s): string
{
    return htmlspecialchars($s, ENT_QUOTES | ENT_HTML5, 'UTF-8');
}

/** The build request for the query, or an error message. @return array|string */
function build_request(array $q)
{
    $rr = (string)($q['rr'] ?? RR_VERSIONS[0]);
    if (!in_array($rr, RR_VERSIONS, true)) {
        return "unknown RoadRunner version $rr";
    }
    $target = (string)($q['target'] ?? TARGETS[0]);
    if (!in_array($target, TARGETS, true)) {
        return "unknown target $target";
    }
    $chosen = $q['plugin'] ?? DEFAULT_PLUGINS;
    if (!is_array($chosen) || $chosen === []) {
        return 'choose at least one plugin';
    }
    $plugins = [];
    foreach ($chosen as $name) {
        if (!is_string($name) || !isset(PLUGINS[$name])) {
            return 'unknown plugin ' . (is_string($name) ? $name : '?');
        }
        $plugins[] = ['module_name' => PLUGINS[$name][0], 'tag' => PLUGINS[$name][1]];
    }
    [$os, $arch] = explode('/', $target);
    return [
        'request_id' => uuid4(),
        'rr_version' => $rr,
        'target_platform' => ['os' => $os, 'arch' => $arch],
        'plugins' => $plugins,
    ];
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
</form>
<div id="status"></div>
<footer>Try it from a shell: <code id="curl"></code></footer>
<script>
const form = document.getElementById('f'), out = document.getElementById('status'), btn = document.getElementById('go');
const query = () => new URLSearchParams(new FormData(form)).toString();
const show = (cls, text) => { out.className = cls; out.style.display = 'block'; out.textContent = text; };
const updateCurl = () => document.getElementById('curl').textContent = "curl -OJ '" + location.origin + '/download?' + query().replace(/%2F/g, '/') + "'";
form.addEventListener('change', updateCurl); updateCurl();
document.getElementById('json').addEventListener('click', async (e) => {
  e.preventDefault();
  const r = await fetch('/request?' + query());
  show(r.ok ? '' : 'err', await r.text());
});
form.addEventListener('submit', async (e) => {
  e.preventDefault();
  btn.disabled = true;
  const t0 = performance.now();
  const tick = setInterval(() => show('', 'Resolving… ' + ((performance.now() - t0) / 1000).toFixed(0) + ' s (a first build takes minutes; watch the RoadRunner log)'), 500);
  try {
    const r = await fetch('/download?' + query());
    if (!r.ok) { clearInterval(tick); show('err', r.status + ' ' + r.statusText + '\\n' + await r.text()); return; }
    const blob = await r.blob();
    clearInterval(tick);
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

function handle($out, array $req, string $body): void
{
    $path = parse_url($req['uri'], PHP_URL_PATH) ?: '/';
    parse_str($req['raw_query'], $q);
    if ($req['method'] === 'POST') {
        // RoadRunner hands a posted form over as JSON; a raw urlencoded body works too.
        $posted = json_decode($body, true);
        if (!is_array($posted)) {
            parse_str($body, $posted);
        }
        $q = $posted + $q;
    }
    switch ($path) {
        case '/':
            respond($out, 200, ['Content-Type' => ['text/html; charset=utf-8']], page());
            return;
        case '/download':
        case '/request':
            $build = build_request($q);
            if (is_string($build)) {
                respond($out, 400, ['Content-Type' => ['text/plain; charset=utf-8']], $build . "\n");
                return;
            }
            $json = json_encode($build, JSON_UNESCAPED_SLASHES | JSON_PRETTY_PRINT);
            $headers = ['Content-Type' => ['application/json']];
            if ($path === '/download') {
                $headers['X-Velox-Build'] = ['true'];
            }
            respond($out, 200, $headers, $json);
            return;
        case '/favicon.ico':
            respond($out, 204, [], '');
            return;
        default:
            respond($out, 404, ['Content-Type' => ['text/plain']], "not found: $path\n");
    }
}

rr_serve('handle');
