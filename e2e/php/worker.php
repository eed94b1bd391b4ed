<?php
// The e2e tests' RoadRunner HTTP worker, in plain PHP. The protocol is in rr_worker.php.
//
// Routes:
//   /                 a small HTML page
//   /page?size=N      N deterministic bytes
//   /stream?chunks=N&size=M&delay_ms=D  N frames of M bytes, D ms apart (streamed)
//   /build?rr=..&os=..&arch=..&plugins=mod@tag,mod@tag[&id=uuid][&gzip=1][&bad=json|field|empty]
//         [&replace=old=new,old=new]
//                     X-Velox-Build: true with the JSON build request as body

declare(strict_types=1);

require __DIR__ . '/rr_worker.php';

function deterministic_bytes(string $seed, int $size): string
{
    $out = '';
    for ($i = 0; strlen($out) < $size; $i++) {
        $out .= hash('sha256', $seed . ':' . $i, true);
    }
    return substr($out, 0, $size);
}

function uuid4(): string
{
    $b = random_bytes(16);
    $b[6] = chr((ord($b[6]) & 0x0F) | 0x40);
    $b[8] = chr((ord($b[8]) & 0x3F) | 0x80);
    $h = bin2hex($b);
    return sprintf('%s-%s-%s-%s-%s', substr($h, 0, 8), substr($h, 8, 4), substr($h, 12, 4), substr($h, 16, 4), substr($h, 20));
}

function build_body(array $q): string
{
    $plugins = [];
    foreach (array_filter(explode(',', (string)($q['plugins'] ?? ''))) as $spec) {
        $at = strrpos($spec, '@');
        $plugins[] = $at === false
            ? ['module_name' => $spec, 'tag' => '']
            : ['module_name' => substr($spec, 0, $at), 'tag' => substr($spec, $at + 1)];
    }
    $req = [
        'request_id' => (string)($q['id'] ?? uuid4()),
        'rr_version' => (string)($q['rr'] ?? 'v2025.1.15'),
        'target_platform' => ['os' => (string)($q['os'] ?? 'linux'), 'arch' => (string)($q['arch'] ?? 'amd64')],
        'plugins' => $plugins,
    ];
    $replaces = [];
    foreach (array_filter(explode(',', (string)($q['replace'] ?? ''))) as $spec) {
        [$old, $new] = array_pad(explode('=', $spec, 2), 2, '');
        $replaces[] = ['old' => $old, 'new' => $new];
    }
    if ($replaces) {
        $req['replaces'] = $replaces;
    }
    switch ($q['bad'] ?? '') {
        case 'json':
            return '{"rr_version": "v2025.1.15", "plugins": [';
        case 'empty':
            return '';
        case 'field':
            unset($req['rr_version']);
            break;
    }
    return json_encode($req, JSON_UNESCAPED_SLASHES);
}

function handle($out, array $req, string $body): void
{
    $path = parse_url($req['uri'], PHP_URL_PATH) ?: '/';
    parse_str($req['raw_query'], $q);

    switch ($path) {
        case '/':
            respond($out, 200, ['Content-Type' => ['text/html; charset=utf-8'], 'X-Worker' => ['php']],
                "<!doctype html><title>velox e2e</title><h1>Hello from PHP</h1>\n");
            return;

        case '/page':
            $size = max(0, (int)($q['size'] ?? 1024));
            respond($out, 200, ['Content-Type' => ['application/octet-stream']], deterministic_bytes('page', $size));
            return;

        case '/stream':
            $chunks = max(1, (int)($q['chunks'] ?? 5));
            $size = max(1, (int)($q['size'] ?? 100));
            $delay = max(0, (int)($q['delay_ms'] ?? 0));
            $ctx = encode_response(200, ['Content-Type' => ['text/plain'], 'X-Worker' => ['php-stream']]);
            for ($i = 0; $i < $chunks; $i++) {
                $chunk = str_pad("chunk $i ", $size, '.') ;
                $chunk = substr($chunk, 0, $size - 1) . "\n";
                $last = $i === $chunks - 1;
                $c = $i === 0 ? $ctx : '';
                write_all($out, frame_bytes(FLAG_CODEC_PROTO, [strlen($c)], $c . $chunk, $last ? 0 : STREAM_BIT));
                if (!$last && $delay > 0) {
                    usleep($delay * 1000);
                }
            }
            return;

        case '/build':
            $json = build_body($q);
            $headers = [
                'X-Velox-Build' => ['true'],
                'Content-Type' => ['application/json'],
                'X-Worker-Note' => ['kept'],
            ];
            if (!empty($q['gzip'])) {
                $json = gzencode($json);
                $headers['Content-Encoding'] = ['gzip'];
            }
            if (isset($q['filename'])) {
                $headers['Content-Disposition'] = ['attachment; filename="' . $q['filename'] . '"'];
            }
            respond($out, 200, $headers, $json);
            return;

        default:
            respond($out, 404, ['Content-Type' => ['text/plain']], "not found: $path\n");
    }
}

rr_serve('handle');
