<?php
// Unit checks of the demo worker (run by `make php-test`, part of `make test`): the strict
// query parser, the choice it makes or the error it gives, and the responses RoadRunner
// gets for each route. Plain php-cli, no framework; exits 1 if any check fails.

declare(strict_types=1);

require __DIR__ . '/../lib/routes.php';

$passed = 0;
$failed = 0;

function check(string $name, bool $ok, string $detail = ''): void
{
    global $passed, $failed;
    if ($ok) {
        $passed++;
        return;
    }
    $failed++;
    echo "FAIL $name" . ($detail === '' ? '' : ": $detail") . "\n";
}

/** The DemoError parse_choice($query) throws, or null when it accepts the query. */
function refusal(string $query): ?DemoError
{
    try {
        parse_choice($query);
        return null;
    } catch (DemoError $e) {
        return $e;
    }
}

/** Checks that $query is refused with $code and a message containing each of $needles. */
function refused(string $query, string $code, array $needles): void
{
    $e = refusal($query);
    if ($e === null) {
        check("refuses $query", false, 'accepted: ' . json_encode(parse_choice($query)));
        return;
    }
    check("$query: status", $e->status === 400, (string)$e->status);
    check("$query: code", $e->errorCode === $code, $e->errorCode);
    foreach ($needles as $n) {
        check("$query: message names $n", str_contains($e->getMessage(), $n), $e->getMessage());
    }
}

function choice(string $query): array
{
    try {
        return parse_choice($query);
    } catch (DemoError $e) {
        check("accepts $query", false, $e->getMessage());
        return [];
    }
}

// ---- the raw query parser -----------------------------------------------------------

check('empty query', parse_query('') === []);
check('pairs in order, + and %XX decoded', parse_query('a=1+2&b=x%2Fy&a=3') === [['a', '1 2'], ['b', 'x/y'], ['a', '3']]);
check('empty segments skipped', parse_query('&a=1&&b=&') === [['a', '1'], ['b', '']]);
check('no = means no value', parse_query('plugin[]') === [['plugin[]', null]]);
check('name is decoded', parse_query('plugin%5B%5D=http') === [['plugin[]', 'http']]);
foreach (['%zz=1', 'a=%%', 'a=%4', 'a%=1', 'a=100%'] as $bad) {
    $e = null;
    try {
        parse_query($bad);
    } catch (DemoError $e) {
    }
    check("malformed $bad", $e !== null && $e->errorCode === 'malformed_query' && str_contains($e->getMessage(), 'percent escape'),
        $e === null ? 'accepted' : $e->getMessage());
}

// ---- the choice -------------------------------------------------------------------------

check('defaults', choice('') === ['rr' => 'v2025.1.15', 'target' => 'linux/amd64', 'plugins' => ['server', 'http', 'logger']]);
check('full choice', choice('rr=v2025.1.10&target=darwin/arm64&plugin[]=rpc&plugin[]=http')
    === ['rr' => 'v2025.1.10', 'target' => 'darwin/arm64', 'plugins' => ['rpc', 'http']]);
check('as a browser encodes it', choice('rr=v2025.1.5&target=windows%2Famd64&plugin%5B%5D=gzip')
    === ['rr' => 'v2025.1.5', 'target' => 'windows/amd64', 'plugins' => ['gzip']]);
check('plugin without [] is accepted', choice('plugin=server&plugin=http')['plugins'] === ['server', 'http']);
check('a plugin named twice is one plugin', choice('plugin[]=http&plugin=http')['plugins'] === ['http']);

// The first-run failures: a typo and a malformed query built the default binary.
refused('targt=darwin/arm64', 'unknown_parameter', ['"targt"', 'did you mean "target"', 'rr, target, plugin[]']);
refused('%zz=%%&plugin[', 'malformed_query', ['"%zz"', 'percent escape']);
refused('plugin[', 'unknown_parameter', ['"plugin["', 'did you mean "plugin[]"', 'accepted: rr, target, plugin[]']);
refused('plugin[]=', 'invalid_value', ['plugin[] is empty', 'plugin[]=server', 'accepted: server, http']);
refused('plugin[]', 'invalid_value', ['plugin[] is empty']);
refused('plugin=', 'invalid_value', ['plugin is empty']);
refused('plugin[]=serverr', 'invalid_value', ['"serverr"', 'did you mean "server"', 'accepted: server, http, logger']);
refused('plugin[]=server,http', 'invalid_value', ['"server,http"', 'plugin[]=server&plugin[]=http']);
refused('rr=v2024.1.0', 'invalid_value', ['unknown rr "v2024.1.0"', 'accepted: v2025.1.15, v2025.1.10, v2025.1.5']);
refused('rr=', 'invalid_value', ['rr is empty', 'accepted: v2025.1.15']);
refused('target=linux/386', 'invalid_value', ['unknown target "linux/386"', 'accepted: linux/amd64, linux/arm64']);
refused('target=linux/amd64&target=darwin/arm64', 'invalid_value', ['target is given more than once']);
refused('Target=linux/amd64', 'unknown_parameter', ['"Target"', 'did you mean "target"']);
refused('x=1', 'unknown_parameter', ['"x"', 'accepted: rr, target, plugin[]']);
refused('=linux', 'malformed_query', ['no parameter name']);
// A good parameter does not excuse a bad one after it.
refused('plugin[]=server&targt=darwin/arm64', 'unknown_parameter', ['"targt"']);
check('no suggestion far from any name', !str_contains(refusal('a=1')->getMessage(), 'did you mean'), refusal('a=1')->getMessage());
check('a long name is shortened in the message', strlen(refusal(str_repeat('x', 5000) . '=1')->getMessage()) < 400);

// ---- the responses ---------------------------------------------------------------------

/** @return array{0:int, 1:array, 2:string, 3:?array} route() plus the body decoded as JSON */
function get_route(string $pathAndQuery, string $method = 'GET'): array
{
    $query = (string)parse_url('http://demo' . $pathAndQuery, PHP_URL_QUERY);
    [$status, $headers, $body] = route($method, $pathAndQuery, $query);
    return [$status, $headers, $body, json_decode($body, true)];
}

[$status, $headers, $body, $json] = get_route('/download?rr=v2025.1.15&target=darwin/arm64&plugin[]=server&plugin[]=http');
check('download: 200', $status === 200, (string)$status);
check('download: X-Velox-Build', ($headers['X-Velox-Build'] ?? []) === ['true']);
check('download: JSON', ($headers['Content-Type'] ?? []) === ['application/json']);
check('download: build request', is_array($json)
    && $json['rr_version'] === 'v2025.1.15'
    && $json['target_platform'] === ['os' => 'darwin', 'arch' => 'arm64']
    && $json['plugins'] === [
        ['module_name' => 'github.com/roadrunner-server/server/v5', 'tag' => 'v5.2.10'],
        ['module_name' => 'github.com/roadrunner-server/http/v5', 'tag' => 'v5.3.0'],
    ]
    && preg_match('/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/', $json['request_id']) === 1, $body);

[$status, $headers, $body, $json] = get_route('/request?plugin=metrics');
check('request: 200 without X-Velox-Build', $status === 200 && !isset($headers['X-Velox-Build']), $body);
check('request: the chosen plugin', ($json['plugins'][0]['module_name'] ?? '') === 'github.com/roadrunner-server/metrics/v5', $body);

foreach ([
    ['/download?targt=darwin/arm64', 400, 'unknown_parameter'],
    ['/download?%zz=%%&plugin[', 400, 'malformed_query'],
    ['/download?plugin[]=', 400, 'invalid_value'],
    ['/request?plugin[]=nope', 400, 'invalid_value'],
    ['/nowhere', 404, 'not_found'],
] as [$target, $wantStatus, $wantCode]) {
    [$status, $headers, $body, $json] = get_route($target);
    check("$target: status", $status === $wantStatus, "$status $body");
    check("$target: no build", !isset($headers['X-Velox-Build']));
    check("$target: JSON content type", ($headers['Content-Type'] ?? []) === ['application/json']);
    check("$target: {error, code}", is_array($json) && array_keys($json) === ['error', 'code']
        && is_string($json['error']) && $json['error'] !== '' && $json['code'] === $wantCode, $body);
}

[$status, $headers, $body, $json] = get_route('/download?plugin[]=rr', 'POST');
check('POST: 405 with Allow', $status === 405 && ($headers['Allow'] ?? []) === ['GET, HEAD'] && !isset($headers['X-Velox-Build']), $body);

// Bytes that are not UTF-8 still give a JSON error (json_encode would fail on them).
[$status, , $body, $json] = get_route('/download?plugin[]=%ff%fe');
check('non-UTF-8 value: JSON error', $status === 400 && is_array($json) && str_contains($json['error'], 'unknown plugin'), $body);

[$status, $headers, $page] = get_route('/');
check('page: 200 HTML', $status === 200 && str_starts_with($headers['Content-Type'][0] ?? '', 'text/html'));
// The sentence about how the binary was built comes from the binary (demo/lib/buildinfo.js,
// tested by demo/tests/buildinfo_test.mjs), not from a fixed claim about the module proxy.
foreach (['function goBuildInfo', 'describeBuild(goBuildInfo(', '<code>./rr --version</code>', 'rr version',
    'chmod +x rr', '-o rr', 'showError', 'j.error', 'Choose at least one plugin'] as $needle) {
    check("page mentions $needle", str_contains($page, $needle));
}
check('page no longer suggests curl -OJ', !str_contains($page, '-OJ'));
check('page makes no fixed claim about the module proxy', !str_contains($page, 'is not served by the Go module proxy here, so'));

echo "$passed passed, $failed failed\n";
exit($failed === 0 ? 0 : 1);
