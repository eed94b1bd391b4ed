<?php
// The demo's PHP worker (`make demo`): the routes are in lib/routes.php, the worker
// protocol in e2e/php/rr_worker.php. The worker is free again as soon as it has answered
// /download with `X-Velox-Build: true`; the velox middleware resolves the request (cache,
// else a local build) and streams the binary to the browser.

declare(strict_types=1);

require __DIR__ . '/../e2e/php/rr_worker.php';
require __DIR__ . '/lib/routes.php';

rr_serve(function ($out, array $req, string $body): void {
    // raw_query is the query exactly as the client sent it: lib/query.php parses it
    // strictly, where parse_str() would silently mangle a malformed one.
    [$status, $headers, $payload] = route($req['method'], $req['uri'], $req['raw_query']);
    respond($out, $status, $headers, $payload);
});
