/**
 * The Durable Streams protocol's small pieces that need no storage: offset tokens, stream path
 * → topic name, content types, cursors, SSE framing. See docs/durable-streams.md.
 */

/** Digits of an offset token: edgelog offsets are below 2^53 < 10^16. */
const OFFSET_DIGITS = 16
/** The reference server's start offset, which clients and its conformance suite write by hand. */
const REFERENCE_ZERO = '0000000000000000_0000000000000000'

/**
 * An edgelog offset as a Durable Streams offset token: the decimal offset, zero-padded to 16
 * digits, so that comparing tokens as strings compares the offsets (and never goes backwards).
 * Offset 5 of the partition is `0000000000000005`: the record at edgelog offset 5 is the
 * stream's data from that token on.
 */
export function formatOffset(offset: number): string {
  return String(offset).padStart(OFFSET_DIGITS, '0')
}

/** A token from a client: -1 (start), now (tail), an offset token; undefined when malformed. */
export function parseOffset(raw: string): number | 'start' | 'now' | undefined {
  if (raw === '-1') return 'start'
  if (raw === 'now') return 'now'
  if (raw === REFERENCE_ZERO) return 0
  if (raw.length !== OFFSET_DIGITS || !/^\d+$/.test(raw)) return undefined
  const n = Number(raw)
  return Number.isSafeInteger(n) ? n : undefined
}

/**
 * The topic that holds a stream: `ds.` and the path (after its leading `/`) with `/` as `.`; letters, digits and `-`
 * as they are; every other byte (`.` and `_` too) as `_` and two hex digits. So the mapping is
 * one-to-one and readable (`/ds/chat/room-1` is topic `ds.chat.room-1`). A name that would be
 * longer than Kafka's 249 characters is `ds-sha256.` and the SHA-256 of the path.
 */
export async function topicOfPath(path: string): Promise<string> {
  let out = 'ds.'
  // Every stream path starts with `/` (the URL's, after /ds): the name starts after it.
  for (const byte of new TextEncoder().encode(path.startsWith('/') ? path.slice(1) : path)) {
    const c = String.fromCharCode(byte)
    if (/[A-Za-z0-9-]/.test(c)) out += c
    else if (c === '/') out += '.'
    else out += '_' + byte.toString(16).toUpperCase().padStart(2, '0')
  }
  if (out.length <= 249) return out
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(path)))
  return 'ds-sha256.' + Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join('')
}

/** `Text/Plain; charset=UTF-8` → `text/plain`: what two content types are compared by. */
export function mediaType(contentType: string): string {
  return contentType.split(';')[0].trim().toLowerCase()
}

export function isJsonType(contentType: string): boolean {
  return mediaType(contentType) === 'application/json'
}

/** SSE data events carry text for text/* and JSON streams, base64 for everything else. */
export function isTextType(contentType: string): boolean {
  const t = mediaType(contentType)
  return t.startsWith('text/') || t === 'application/json'
}

const CURSOR_EPOCH_MS = Date.UTC(2024, 9, 9)
const CURSOR_INTERVAL_MS = 20_000

/**
 * The protocol's cursor (§10.1): the 20-second interval number since 2024-10-09; when the
 * client echoes a cursor at or past it, one strictly greater (1 s to 1 h of jitter), so a CDN
 * never serves the same cached empty answer for ever.
 */
export function responseCursor(clientCursor: string | undefined, now = Date.now()): string {
  const current = Math.floor((now - CURSOR_EPOCH_MS) / CURSOR_INTERVAL_MS)
  if (clientCursor === undefined) return String(current)
  const client = Number.parseInt(clientCursor, 10)
  if (!Number.isFinite(client) || client < current) return String(current)
  const jitterSeconds = 1 + Math.floor(Math.random() * 3600)
  return String(client + Math.max(1, Math.ceil(jitterSeconds / (CURSOR_INTERVAL_MS / 1000))))
}

/**
 * One SSE field block: every line of `payload` as its own `data:` line (`data:x`; a line that
 * starts with a space gets one more, which a reader strips). Lines split at CR, LF
 * and CRLF, so an embedded `\n\nevent: x` can never end the event or start another one.
 */
export function sseEvent(event: string, payload: string): string {
  const lines = payload.split(/\r\n|\r|\n/)
  return `event: ${event}\n${lines.map((l) => (l.startsWith(' ') ? `data: ${l}` : `data:${l}`)).join('\n')}\n\n`
}

/** Standard base64 of bytes (no line breaks). */
export function toBase64(bytes: Uint8Array): string {
  let out = ''
  const CHUNK = 0x8000
  for (let i = 0; i < bytes.length; i += CHUNK) out += String.fromCharCode(...bytes.subarray(i, i + CHUNK))
  return btoa(out)
}

/** `Stream-TTL`: decimal seconds without sign, leading zeros, fraction or exponent. */
export function parseTtl(raw: string): number | undefined {
  if (!/^(0|[1-9]\d*)$/.test(raw)) return undefined
  const n = Number(raw)
  return Number.isSafeInteger(n) ? n : undefined
}

/** `Stream-Expires-At`: an RFC 3339 timestamp (date, time, and Z or an offset). */
export function parseExpiresAt(raw: string): number | undefined {
  if (!/^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/.test(raw)) return undefined
  const ms = Date.parse(raw)
  return Number.isFinite(ms) ? ms : undefined
}
