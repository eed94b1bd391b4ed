<?php
// The demo's errors have the middleware's shape, `{"error": "...", "code": "..."}` with
// `Content-Type: application/json` (go-shim/errors.go), so the page and scripts read a
// refusal by the worker and a failure of the build the same way.

declare(strict_types=1);

/** A refusal of the request: the HTTP status, a stable code and a message for people. */
final class DemoError extends Exception
{
    /** @param array<string, string[]> $headers extra response headers (Allow for a 405) */
    public function __construct(
        public readonly int $status,
        public readonly string $errorCode,
        string $message,
        public readonly array $headers = [],
    ) {
        parent::__construct($message);
    }
}

/**
 * The response for an error: [status, headers, body].
 * @return array{0:int, 1:array<string, string[]>, 2:string}
 */
function error_response(DemoError $e): array
{
    // INVALID_UTF8_SUBSTITUTE: a message may quote the client's bytes, which need not be
    // UTF-8; json_encode would otherwise fail and answer nothing.
    $body = json_encode(
        ['error' => $e->getMessage(), 'code' => $e->errorCode],
        JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE | JSON_INVALID_UTF8_SUBSTITUTE
    );
    return [$e->status, [
        'Content-Type' => ['application/json'],
        'X-Content-Type-Options' => ['nosniff'],
        'Cache-Control' => ['no-store'],
    ] + $e->headers, $body . "\n"];
}
