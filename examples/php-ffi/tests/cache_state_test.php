<?php
// Runs cache_state.php (plain php-cli, FFI) against a cache directory in each state:
// absent, building (a live lease), cached (with and without a recorded sha256), a dead
// lease (absent), and the errors a caller can make. `make php-ffi-test`.

declare(strict_types=1);

$script = dirname(__DIR__) . '/cache_state.php';
$failures = 0;

function check(bool $ok, string $what): void
{
    global $failures;
    echo ($ok ? "ok   " : "FAIL ") . $what . "\n";
    if (!$ok) {
        $failures++;
    }
}

/** @return array{int, string, string} exit status, stdout, stderr */
function run(string ...$args): array
{
    global $script;
    $cmd = array_merge([PHP_BINARY, $script], $args);
    $p = proc_open($cmd, [1 => ['pipe', 'w'], 2 => ['pipe', 'w']], $pipes);
    $out = stream_get_contents($pipes[1]);
    $err = stream_get_contents($pipes[2]);
    return [proc_close($p), $out, $err];
}

function state(string $dir, string $requestFile): array
{
    [$code, $out, $err] = run('--json', $dir, $requestFile);
    if ($code === 1) {
        throw new \RuntimeException("cache_state failed: $err");
    }
    return json_decode($out, true, 8, JSON_THROW_ON_ERROR);
}

$tmp = sys_get_temp_dir() . '/vxm-php-ffi-' . getmypid();
@mkdir($tmp);
$dir = "$tmp/cache";
@mkdir($dir);
$requestFile = "$tmp/request.json";
file_put_contents(
    $requestFile,
    '{"rr_version":"v2025.1.2","target_platform":{"os":"linux","arch":"amd64"},' .
    '"plugins":[{"module_name":"github.com/roadrunner-server/http/v5","tag":"v5.2.7"}]}'
);

try {
    // Absent: an empty directory. The key is the seed's (sha256 of the canonical string).
    $s = state($dir, $requestFile);
    $key = hash('sha256', 'v2025.1.2|linux|amd64|github.com/roadrunner-server/http/v5@v5.2.7');
    check($s === ['state' => 'absent', 'key' => $key], 'empty directory: absent, with the seed key');
    [$code, $out] = run($dir, $requestFile);
    check($code === 4 && str_starts_with($out, "absent: $key"), 'absent: exit 4 and a readable line');

    // Building: a lease held by a live process of this host (this one).
    $lease = "$dir/$key.lease";
    $now = (int) (microtime(true) * 1000);
    file_put_contents($lease, json_encode([
        'pid' => getmypid(),
        'host' => gethostname(),
        'started_at_ms' => $now - 2500,
        'expires_at_ms' => $now + 600000,
    ]));
    $s = state($dir, $requestFile);
    check($s['state'] === 'building' && $s['pid'] === getmypid() && $s['age_ms'] >= 2500,
        'live lease: building, with its owner and age (' . json_encode($s) . ')');
    [$code, $out] = run($dir, $requestFile);
    check($code === 3 && str_starts_with($out, "building: $key"), 'building: exit 3');

    // A dead lease (its pid does not exist on this host) is absent: it will be taken over.
    file_put_contents($lease, json_encode([
        'pid' => 2147483646,
        'host' => gethostname(),
        'started_at_ms' => $now,
        'expires_at_ms' => $now + 600000,
    ]));
    check(state($dir, $requestFile)['state'] === 'absent', 'dead lease: absent');
    unlink($lease);

    // Cached: the seed's layout, {key}.bin + {key}.json, here with a recorded sha256.
    $bytes = str_repeat("\x7fELF-velox", 1000);
    file_put_contents("$dir/$key.bin", $bytes);
    $meta = [
        'version' => '1.0', 'hash' => $key, 'binary_file' => "$key.bin",
        'file_size' => strlen($bytes), 'rr_version' => 'v2025.1.2',
        'platform' => ['os' => 'linux', 'arch' => 'amd64'],
        'plugins' => [['module_name' => 'github.com/roadrunner-server/http/v5', 'tag' => 'v5.2.7']],
        'created_at' => time(), 'last_accessed' => time(), 'access_count' => 1,
        'build_duration_ms' => 1200,
    ];
    file_put_contents("$dir/$key.json", json_encode($meta + ['sha256' => hash('sha256', $bytes)]));
    $s = state($dir, $requestFile);
    check($s === ['state' => 'cached', 'key' => $key, 'size' => strlen($bytes),
        'sha256' => hash('sha256', $bytes)], 'entry: cached, with size and sha256');
    [$code, $out] = run($dir, $requestFile);
    check($code === 0 && str_contains($out, 'sha256 ' . hash('sha256', $bytes)), 'cached: exit 0');

    // Without a recorded sha256 (the seed's metadata): cached, sha256 unknown.
    file_put_contents("$dir/$key.json", json_encode($meta));
    check(state($dir, $requestFile)['sha256'] === null, 'seed metadata: sha256 null');
    check(str_contains(run($dir, $requestFile)[1], 'sha256 unknown'), 'seed metadata: "unknown"');

    // A binary of the wrong size is not a complete entry.
    file_put_contents("$dir/$key.bin", 'short');
    check(state($dir, $requestFile)['state'] === 'absent', 'size mismatch: absent');

    // Errors name what is wrong.
    [$code, , $err] = run("$tmp/missing", $requestFile);
    check($code === 1 && str_contains($err, "$tmp/missing"), "missing directory: error naming it ($err)");
    file_put_contents("$tmp/bad.json", '{"rr_version":"v2025.1.2"}');
    [$code, , $err] = run($dir, "$tmp/bad.json");
    check($code === 1 && str_contains($err, 'target_platform'), "bad request: error naming the field ($err)");
} finally {
    foreach (glob("$dir/{,.}*", GLOB_BRACE) ?: [] as $f) {
        if (is_file($f)) {
            unlink($f);
        }
    }
    @rmdir($dir);
    foreach (glob("$tmp/*") ?: [] as $f) {
        @unlink($f);
    }
    @rmdir($tmp);
}

if ($failures > 0) {
    echo "$failures failed\n";
    exit(1);
}
echo "all passed\n";
