<?php
// What the demo offers: RoadRunner versions, targets and plugins. The query parser
// (choice.php) accepts exactly these, and the page (page.php) lists them.

declare(strict_types=1);

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
