<?php
// The raw query string, parsed strictly. PHP's parse_str() mangles what it does not
// understand without a word: `%zz=%%` becomes a parameter named `%zz`, `plugin[` becomes
// `plugin_`, `a.b` becomes `a_b`, and a repeated name without `[]` keeps only its last
// value. The demo must refuse such a query instead of building a default binary, so it
// reads RoadRunner's raw query itself.

declare(strict_types=1);

require_once __DIR__ . '/errors.php';

/**
 * The query's parameters in order, as [name, value] pairs; value is null for a parameter
 * given without `=`. Empty segments (`a=1&&b=2`, a trailing `&`) carry nothing and are
 * skipped. `+` is a space, `%XX` a byte; any other `%` is an error.
 * @return list<array{0:string, 1:?string}>
 * @throws DemoError malformed_query
 */
function parse_query(string $raw): array
{
    $pairs = [];
    foreach (explode('&', $raw) as $segment) {
        if ($segment === '') {
            continue;
        }
        $eq = strpos($segment, '=');
        $rawName = $eq === false ? $segment : substr($segment, 0, $eq);
        $name = query_decode($rawName, $segment);
        if ($name === '') {
            throw new DemoError(400, 'malformed_query', 'malformed query: ' . quote($segment) . ' has no parameter name');
        }
        $value = $eq === false ? null : query_decode(substr($segment, $eq + 1), $segment);
        $pairs[] = [$name, $value];
    }
    return $pairs;
}

/** Percent-decodes one name or value of $segment. @throws DemoError malformed_query */
function query_decode(string $s, string $segment): string
{
    if (preg_match('/%(?![0-9A-Fa-f]{2})/', $s, $m, PREG_OFFSET_CAPTURE)) {
        $bad = substr($s, $m[0][1], 3);
        throw new DemoError(400, 'malformed_query', 'malformed query: ' . quote($bad) . ' in ' . quote($segment)
            . ' is not a percent escape (% must be followed by two hex digits; write a literal % as %25)');
    }
    return rawurldecode(str_replace('+', ' ', $s));
}

/** $s in double quotes for a message, shortened, so a huge query gives a readable error. */
function quote(string $s): string
{
    if (strlen($s) > 60) {
        $s = substr($s, 0, 57) . '...';
    }
    return '"' . addcslashes($s, "\"\\\0..\37\177") . '"';
}
