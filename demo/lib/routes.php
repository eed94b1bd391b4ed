<?php
// The demo's routes, as a pure function of the request, so demo/tests/worker_test.php
// checks exactly what RoadRunner gets:
//   /                                  the page
//   /download?rr=..&target=os/arch&plugin[]=name...
//                                      X-Velox-Build: true + the build request as JSON; the
//                                      velox middleware resolves it and streams the binary
//   /request?...                       the same JSON, shown instead of built
// Anything the worker refuses is a JSON error without X-Velox-Build, so nothing is built.

declare(strict_types=1);

require_once __DIR__ . '/choice.php';
require_once __DIR__ . '/errors.php';
require_once __DIR__ . '/page.php';

/**
 * @return array{0:int, 1:array<string, string[]>, 2:string} status, headers, body
 */
function route(string $method, string $uri, string $rawQuery): array
{
    $path = parse_url($uri, PHP_URL_PATH) ?: '/';
    try {
        switch ($path) {
            case '/':
                return [200, ['Content-Type' => ['text/html; charset=utf-8']], page()];
            case '/download':
            case '/request':
                // The choice travels in the query only (the page and curl send GET); a
                // body would be a second place for it to hide in.
                if ($method !== 'GET' && $method !== 'HEAD') {
                    throw new DemoError(405, 'method_not_allowed', "$path takes GET with the choice in the query, not $method", ['Allow' => ['GET, HEAD']]);
                }
                $json = json_encode(build_request(parse_choice($rawQuery)), JSON_UNESCAPED_SLASHES | JSON_PRETTY_PRINT);
                $headers = ['Content-Type' => ['application/json']];
                if ($path === '/download') {
                    $headers['X-Velox-Build'] = ['true'];
                }
                return [200, $headers, $json];
            case '/favicon.ico':
                return [204, [], ''];
            default:
                throw new DemoError(404, 'not_found', 'not found: ' . quote($path) . '; the demo serves /, /download and /request');
        }
    } catch (DemoError $e) {
        return error_response($e);
    }
}
