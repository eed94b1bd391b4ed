<?php
// Prints whether a build request is cached, being built or absent in a cache directory.
//
//   php cache_state.php [--json] CACHE_DIR REQUEST_JSON_FILE
//
// The library is $VELOX_MIDDLEWARE_LIB (default: target/release/libvelox_middleware.so
// of this repository), the header $VELOX_MIDDLEWARE_HEADER (default:
// include/velox_middleware.h). Exit status: 0 cached, 3 building, 4 absent, 1 error.

declare(strict_types=1);

require __DIR__ . '/VeloxCache.php';

$args = array_slice($argv, 1);
$json = false;
if (($args[0] ?? '') === '--json') {
    $json = true;
    array_shift($args);
}
if (count($args) !== 2) {
    fwrite(STDERR, "usage: php cache_state.php [--json] CACHE_DIR REQUEST_JSON_FILE\n");
    exit(1);
}
[$dir, $requestFile] = $args;

$root = dirname(__DIR__, 2);
$lib = getenv('VELOX_MIDDLEWARE_LIB') ?: "$root/target/release/libvelox_middleware.so";
$header = getenv('VELOX_MIDDLEWARE_HEADER') ?: "$root/include/velox_middleware.h";

try {
    $request = @file_get_contents($requestFile);
    if ($request === false) {
        throw new \RuntimeException("cannot read the request file $requestFile");
    }
    $state = (new VeloxCache($lib, $header))->state($dir, $request);
} catch (\Throwable $e) {
    fwrite(STDERR, "cache_state: " . $e->getMessage() . "\n");
    exit(1);
}

if ($json) {
    echo json_encode($state, JSON_UNESCAPED_SLASHES), "\n";
} else {
    echo match ($state['state']) {
        'cached' => sprintf(
            "ready: %s, %d bytes, sha256 %s\n",
            $state['key'],
            $state['size'],
            $state['sha256'] ?? 'unknown'
        ),
        'building' => sprintf(
            "building: %s, for %.1f s (pid %d on %s)\n",
            $state['key'],
            $state['age_ms'] / 1000,
            $state['pid'],
            $state['host']
        ),
        default => sprintf("absent: %s\n", $state['key']),
    };
}
exit(['cached' => 0, 'building' => 3][$state['state']] ?? 4);
