<?php
// The user's choice (RoadRunner version, target, plugins) from the query of /download and
// /request, and the build request made of it. Everything not understood is refused with a
// 400 naming the parameter and what is accepted: a typo must never build a default binary.

declare(strict_types=1);

require_once __DIR__ . '/catalog.php';
require_once __DIR__ . '/errors.php';
require_once __DIR__ . '/query.php';

// `plugin[]` is what an HTML form sends for checkboxes; `plugin` (the same, repeatable) is
// accepted too, since we read the query ourselves and a hand-written URL often lacks `[]`.
const ACCEPTED_PARAMS = ['rr', 'target', 'plugin[]', 'plugin'];
const ACCEPTED_LIST = 'rr, target, plugin[] (repeat it for each plugin)';
const QUERY_EXAMPLE = 'rr=v2025.1.15&target=linux/amd64&plugin[]=server&plugin[]=http&plugin[]=logger';

/**
 * The choice in a raw query; what is absent takes the default (the first version and
 * target, DEFAULT_PLUGINS).
 * @return array{rr:string, target:string, plugins:list<string>}
 * @throws DemoError unknown_parameter, malformed_query, invalid_value
 */
function parse_choice(string $rawQuery): array
{
    $single = [];
    $plugins = [];
    foreach (parse_query($rawQuery) as [$name, $value]) {
        if (!in_array($name, ACCEPTED_PARAMS, true)) {
            throw new DemoError(400, 'unknown_parameter', 'unknown parameter ' . quote($name) . suggest($name, ACCEPTED_PARAMS)
                . '; accepted: ' . ACCEPTED_LIST . ', e.g. ?' . QUERY_EXAMPLE);
        }
        if ($name === 'plugin' || $name === 'plugin[]') {
            $plugins[] = plugin_name($name, $value);
            continue;
        }
        if (isset($single[$name])) {
            throw new DemoError(400, 'invalid_value', "$name is given more than once; give it once");
        }
        $single[$name] = one_of($name, $value, $name === 'rr' ? RR_VERSIONS : TARGETS);
    }
    return [
        'rr' => $single['rr'] ?? RR_VERSIONS[0],
        'target' => $single['target'] ?? TARGETS[0],
        // A plugin named twice is still one plugin.
        'plugins' => $plugins === [] ? DEFAULT_PLUGINS : array_values(array_unique($plugins)),
    ];
}

/** @param list<string> $accepted @throws DemoError invalid_value */
function one_of(string $name, ?string $value, array $accepted): string
{
    $list = '; accepted: ' . implode(', ', $accepted);
    if ($value === null || $value === '') {
        throw new DemoError(400, 'invalid_value', "$name is empty$list");
    }
    if (!in_array($value, $accepted, true)) {
        throw new DemoError(400, 'invalid_value', "unknown $name " . quote($value) . suggest($value, $accepted) . $list);
    }
    return $value;
}

/** @throws DemoError invalid_value */
function plugin_name(string $param, ?string $value): string
{
    $names = array_keys(PLUGINS);
    $list = '; accepted: ' . implode(', ', $names);
    if ($value === null || $value === '') {
        throw new DemoError(400, 'invalid_value', "$param is empty: name one plugin per $param, e.g. plugin[]=server$list");
    }
    if (!isset(PLUGINS[$value])) {
        $hint = str_contains($value, ',') ? ' (one plugin per parameter: plugin[]=server&plugin[]=http)' : suggest($value, $names);
        throw new DemoError(400, 'invalid_value', 'unknown plugin ' . quote($value) . $hint . $list);
    }
    return $value;
}

/** " (did you mean "x"?)" when one accepted word is a small edit away from $given. */
function suggest(string $given, array $accepted): string
{
    $best = null;
    // Up to one edit in a short word, two in a longer one; more is not a typo.
    $bestDistance = strlen($given) >= 5 ? 3 : 2;
    foreach ($accepted as $word) {
        $d = levenshtein(strtolower($given), strtolower($word));
        if ($d < $bestDistance) {
            [$best, $bestDistance] = [$word, $d];
        }
    }
    return $best === null ? '' : ' (did you mean ' . quote($best) . '?)';
}

/** The JSON build request the worker hands to the velox middleware. */
function build_request(array $choice): array
{
    [$os, $arch] = explode('/', $choice['target']);
    $plugins = [];
    foreach ($choice['plugins'] as $name) {
        $plugins[] = ['module_name' => PLUGINS[$name][0], 'tag' => PLUGINS[$name][1]];
    }
    return [
        'request_id' => uuid4(),
        'rr_version' => $choice['rr'],
        'target_platform' => ['os' => $os, 'arch' => $arch],
        'plugins' => $plugins,
    ];
}

function uuid4(): string
{
    $b = random_bytes(16);
    $b[6] = chr((ord($b[6]) & 0x0F) | 0x40);
    $b[8] = chr((ord($b[8]) & 0x3F) | 0x80);
    return vsprintf('%s%s-%s-%s-%s-%s%s%s', str_split(bin2hex($b), 4));
}
