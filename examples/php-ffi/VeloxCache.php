<?php
// The C library through PHP's FFI extension: only what a page needs to show "ready" or
// "building…" for a build request. No engine, no thread: vxm_cache_state_json reads
// two small files of the cache directory.

declare(strict_types=1);

final class VeloxCache
{
    private \FFI $ffi;

    /**
     * @param string $library the shared library (libvelox_middleware.so)
     * @param string $header  include/velox_middleware.h, as shipped
     */
    public function __construct(string $library, string $header)
    {
        foreach (['library' => $library, 'header' => $header] as $what => $path) {
            if (!is_file($path)) {
                throw new \InvalidArgumentException("$what not found: $path");
            }
        }
        $this->ffi = \FFI::cdef(self::plainC((string) file_get_contents($header)), $library);
    }

    /**
     * The state of a build request in a cache directory:
     * ['state' => 'cached', 'key' => ..., 'size' => ..., 'sha256' => ...|null]
     * ['state' => 'building', 'key' => ..., 'age_ms' => ..., 'pid' => ..., 'host' => ...]
     * ['state' => 'absent', 'key' => ...]
     *
     * @throws \RuntimeException naming what is wrong (bad request, missing directory)
     */
    public function state(string $directory, string $requestJson): array
    {
        $out = $this->ffi->new('char *');
        $err = $this->ffi->new('vxm_error *');
        $len = strlen($requestJson);
        $buf = $this->ffi->new("uint8_t[" . max($len, 1) . "]");
        \FFI::memcpy($buf, $requestJson, $len);
        $status = $this->ffi->vxm_cache_state_json(
            $directory,
            $buf,
            $len,
            \FFI::addr($out),
            \FFI::addr($err)
        );
        if ($status !== 0) {
            $message = "status $status";
            if (!\FFI::isNull($err)) {
                // A `const char *` return value arrives as a PHP string already.
                $message = (string) $this->ffi->vxm_error_message($err);
                $this->ffi->vxm_error_free($err);
            }
            throw new \RuntimeException($message);
        }
        $json = \FFI::string($out);
        $this->ffi->vxm_string_free($out);
        return json_decode($json, true, 8, JSON_THROW_ON_ERROR);
    }

    /**
     * FFI::cdef takes declarations, not preprocessor lines. The header's conditionals only
     * choose between C++/C23 and C11 spellings; this keeps the C11 ones (every `#if` is
     * false, nothing is `#define`d) and drops `#include`/`#define`.
     */
    private static function plainC(string $header): string
    {
        $out = [];
        $stack = [];      // whether each open conditional's current branch is kept
        foreach (explode("\n", $header) as $line) {
            $t = trim($line);
            if (preg_match('/^#\s*(ifdef|ifndef|if)\b\s*(\S*)/', $t, $m)) {
                $keep = $m[1] === 'ifndef';
                $stack[] = $keep && !in_array(false, $stack, true);
                continue;
            }
            if (preg_match('/^#\s*else\b/', $t)) {
                $i = count($stack) - 1;
                $parentKept = !in_array(false, array_slice($stack, 0, $i), true);
                $stack[$i] = $parentKept && !$stack[$i];
                continue;
            }
            if (preg_match('/^#\s*endif\b/', $t)) {
                array_pop($stack);
                continue;
            }
            if (str_starts_with($t, '#') || in_array(false, $stack, true)) {
                continue;
            }
            $out[] = $line;
        }
        return implode("\n", $out);
    }
}
