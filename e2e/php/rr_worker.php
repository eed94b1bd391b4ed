<?php
// RoadRunner's worker protocol over the pipes relay, in plain PHP (Debian php-cli, no
// Composer, no extensions). Shared by the e2e worker (e2e/php/worker.php) and the demo
// (demo/worker.php): require this file and call rr_serve($handler).
//
// - goridge frames: a 12-byte header (byte 0: version << 4 | header length in 32-bit
//   words; byte 1: flags; bytes 2-5: payload length, little endian; bytes 6-9: CRC32 of
//   bytes 0-5; byte 10: stream bits), then HL-3 options of 4 bytes, then the payload;
// - a CONTROL frame {"pid":N} from RoadRunner is answered with our own pid, and a CONTROL
//   frame {"stop":true} ends the worker;
// - a request frame carries one option, the context length; the payload is the context (a
//   protobuf http.v1.Request) followed by the body;
// - an answer frame has flags exactly CodecProto (0x80) and one option, the context length;
//   its context is a protobuf http.v1.Response {status, headers}. Setting the STREAM bit
//   (byte 10) says more frames follow; the last frame clears it.

declare(strict_types=1);

const FLAG_CONTROL = 0x01;
const FLAG_CODEC_JSON = 0x08;
const FLAG_ERROR = 0x40;
const FLAG_CODEC_PROTO = 0x80;
const STREAM_BIT = 0x01;
const STOP_BIT = 0x02;

function log_err(string $msg): void
{
    fwrite(STDERR, "[php-worker " . getmypid() . "] " . $msg . "\n");
}

// ---- goridge frames -------------------------------------------------------------------

function read_exact($in, int $n): ?string
{
    $buf = '';
    while (strlen($buf) < $n) {
        $chunk = fread($in, $n - strlen($buf));
        if ($chunk === false || $chunk === '') {
            if (feof($in)) {
                return null;
            }
            continue;
        }
        $buf .= $chunk;
    }
    return $buf;
}

function write_all($out, string $data): void
{
    $off = 0;
    $len = strlen($data);
    while ($off < $len) {
        $n = fwrite($out, substr($data, $off));
        if ($n === false || $n === 0) {
            throw new RuntimeException('write to relay failed');
        }
        $off += $n;
    }
    fflush($out);
}

/** @return array{flags:int, stream:int, options:int[], payload:string}|null */
function read_frame($in): ?array
{
    $header = read_exact($in, 12);
    if ($header === null) {
        return null;
    }
    $hl = ord($header[0]) & 0x0F;
    $options = [];
    $optBytes = '';
    if ($hl > 3) {
        $optBytes = read_exact($in, ($hl - 3) * 4);
        if ($optBytes === null) {
            return null;
        }
        $options = array_values(unpack('V*', $optBytes));
    }
    $crc = unpack('V', substr($header, 6, 4))[1];
    if ((crc32(substr($header, 0, 6)) & 0xFFFFFFFF) !== $crc) {
        throw new RuntimeException('bad frame CRC from RoadRunner');
    }
    $len = unpack('V', substr($header, 2, 4))[1];
    $payload = $len > 0 ? read_exact($in, $len) : '';
    if ($payload === null) {
        return null;
    }
    return ['flags' => ord($header[1]), 'stream' => ord($header[10]), 'options' => $options, 'payload' => $payload];
}

/** @param int[] $options */
function frame_bytes(int $flags, array $options, string $payload, int $stream = 0): string
{
    $hl = 3 + count($options);
    $head = chr((1 << 4) | $hl) . chr($flags) . pack('V', strlen($payload));
    $head .= pack('V', crc32($head) & 0xFFFFFFFF) . chr($stream) . chr(0);
    foreach ($options as $o) {
        $head .= pack('V', $o);
    }
    return $head . $payload;
}

// ---- protobuf (just what http.v1.Request / Response need) -----------------------------

function pb_varint(int $v): string
{
    $out = '';
    // protobuf varints are unsigned; int64 negatives never occur here.
    while ($v > 0x7F) {
        $out .= chr(($v & 0x7F) | 0x80);
        $v >>= 7;
    }
    return $out . chr($v);
}

function pb_read_varint(string $buf, int &$pos): int
{
    $result = 0;
    $shift = 0;
    while (true) {
        if ($pos >= strlen($buf)) {
            throw new RuntimeException('truncated varint');
        }
        $b = ord($buf[$pos++]);
        $result |= ($b & 0x7F) << $shift;
        if ($b < 0x80) {
            return $result;
        }
        $shift += 7;
    }
}

/** Decodes a message into [field number => list of raw values]. */
function pb_fields(string $buf): array
{
    $fields = [];
    $pos = 0;
    $len = strlen($buf);
    while ($pos < $len) {
        $tag = pb_read_varint($buf, $pos);
        $field = $tag >> 3;
        switch ($tag & 7) {
            case 0:
                $fields[$field][] = pb_read_varint($buf, $pos);
                break;
            case 1:
                $fields[$field][] = substr($buf, $pos, 8);
                $pos += 8;
                break;
            case 2:
                $n = pb_read_varint($buf, $pos);
                $fields[$field][] = substr($buf, $pos, $n);
                $pos += $n;
                break;
            case 5:
                $fields[$field][] = substr($buf, $pos, 4);
                $pos += 4;
                break;
            default:
                throw new RuntimeException('unsupported wire type ' . ($tag & 7));
        }
    }
    return $fields;
}

function pb_bytes(int $field, string $data): string
{
    return pb_varint(($field << 3) | 2) . pb_varint(strlen($data)) . $data;
}

/** map<string, HeaderValue> entries -> [name => [values]] */
function pb_header_map(array $entries): array
{
    $out = [];
    foreach ($entries as $entry) {
        $e = pb_fields($entry);
        $key = $e[1][0] ?? '';
        $values = [];
        if (isset($e[2][0])) {
            $values = pb_fields($e[2][0])[1] ?? [];
        }
        $out[$key] = $values;
    }
    return $out;
}

function decode_request(string $ctx): array
{
    $f = pb_fields($ctx);
    return [
        'remote_addr' => $f[1][0] ?? '',
        'protocol' => $f[2][0] ?? '',
        'method' => $f[3][0] ?? '',
        'uri' => $f[4][0] ?? '',
        'headers' => pb_header_map($f[5] ?? []),
        'raw_query' => $f[7][0] ?? '',
    ];
}

/** @param array<string, string[]> $headers */
function encode_response(int $status, array $headers): string
{
    $out = pb_varint((1 << 3) | 0) . pb_varint($status);
    foreach ($headers as $name => $values) {
        $hv = '';
        foreach ($values as $v) {
            $hv .= pb_bytes(1, (string)$v);
        }
        $entry = pb_bytes(1, (string)$name) . pb_bytes(2, $hv);
        $out .= pb_bytes(2, $entry);
    }
    return $out;
}

// ---- answers -------------------------------------------------------------------------

/** @param array<string, string[]> $headers */
function respond($out, int $status, array $headers, string $body): void
{
    $ctx = encode_response($status, $headers);
    write_all($out, frame_bytes(FLAG_CODEC_PROTO, [strlen($ctx)], $ctx . $body));
}

// ---- main loop ---------------------------------------------------------------------------

/**
 * Serves requests until RoadRunner closes the pipe or sends stop.
 * @param callable(resource, array, string): void $handle gets the output stream, the
 *        decoded request (method, uri, headers, raw_query, ...) and the body, and answers
 *        with respond() or its own frames.
 */
function rr_serve(callable $handle): void
{
    $in = STDIN;
    $out = STDOUT;
    stream_set_blocking($in, true);

    while (true) {
        $frame = read_frame($in);
        if ($frame === null) {
            return; // RoadRunner closed the pipe
        }
        if ($frame['flags'] & FLAG_CONTROL) {
            $cmd = json_decode($frame['payload'], true) ?: [];
            if (!empty($cmd['stop'])) {
                return;
            }
            if (isset($cmd['pid'])) {
                write_all($out, frame_bytes(FLAG_CONTROL | FLAG_CODEC_JSON, [], json_encode(['pid' => getmypid()])));
            }
            continue;
        }
        if ($frame['stream'] & STOP_BIT) {
            // A stream cancel for a stream we already finished: nothing more to send.
            continue;
        }
        $ctxLen = $frame['options'][0] ?? 0;
        try {
            $req = decode_request(substr($frame['payload'], 0, $ctxLen));
            $handle($out, $req, substr($frame['payload'], $ctxLen));
        } catch (Throwable $e) {
            log_err('error: ' . $e->getMessage());
            write_all($out, frame_bytes(FLAG_ERROR, [], $e->getMessage()));
        }
    }
}
