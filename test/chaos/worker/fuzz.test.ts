/**
 * Fuzzing the Worker's v1 HTTP API inside workerd (issue 13), with fast-check and fixed seeds.
 *
 * - Binary produce: valid record batches (plain, idempotent, gzip) mutated (bit flips with and
 *   without a fixed CRC, header fields set to odd values, varints and bytes overwritten or
 *   spliced inside the records, gzip payloads rebuilt from mutated records, truncation, garbage
 *   after the batch, random bytes, batches repeated or dropped), several per request, POSTed to
 *   /v1/topics/{t}/partitions/{p}/records with acks and Content-Type variants.
 * - JSON produce: generated bodies with odd keys, values, headers, partitions, timestamps and
 *   encodings, to the topic route and the partition route.
 * - Concurrent produce: two to four binary and JSON requests to one partition at once.
 * - Every route of worker/http/app.ts: generated paths, query strings, JSON bodies, methods
 *   and content types; fetches and SSE tails with odd offsets, sizes and (short) waits.
 *
 * Properties: no 5xx (no 503 is allowed either); every error is a typed
 * `{ error: { code, message } }` with a Kafka error name and that name's status (an unknown
 * route: 404 INVALID_REQUEST); a refusal stores nothing (high watermark, log end, size and, for
 * topic routes, partitions and config unchanged); a binary produce answers per batch, and its
 * refused batches store nothing; an accepted produce answer is exactly what was stored
 * (offsets, record counts, the batch bytes, the records read back as JSON, from mid-batch and
 * through the SSE tail); a retried idempotent request is stored once.
 *
 * Each case runs to its first violation, which is recorded (request and answer, printed at the
 * end) and fails the last test; fast-check does not shrink. The seeds are fixed (SEED + the
 * property's index): change SEED to explore further. Requests go to the Worker's own app (its
 * default export) with the real bindings, not through `exports.default`/`SELF`: the
 * vitest-pool-workers 0.15 entrypoint wrapper nests one more Proxy around its prototype per
 * request, so thousands of requests slow down and end in a stack overflow of the harness.
 *
 * Prints one line: `chaos: worker-fuzz: cases=… batches=… routes=… fiveHundreds=… refusedButStored=… mismatched=… seed=…`
 * (cases: generated cases of all four properties; batches: record batches generated for binary
 * produce requests, before mutation; routes: requests of the routes property).
 */
import { createExecutionContext, env } from 'cloudflare:test'
import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ERROR_CODES } from '../../../core/errors.ts'
import { BATCH_HEADER_BYTES, CRC_START, decodeBatch, encodeBatch, encodeBatchAsync, readBatchHeader, splitBatches, type DecodedRecord, type RecordInput } from '../../../core/codec/record-batch.ts'
import { crc32c } from '../../../core/codec/crc32c.ts'
import { app } from '../../../worker/index.ts'

const SHORT = __CHAOS_SHORT__
/** Every property runs from this seed (plus its index). A case that throws for another reason than a finding fails with fast-check's seed and path. */
const SEED = 0x13f022
const RUNS = SHORT ? { binary: 140, json: 70, concurrent: 30, routes: 200 } : { binary: 1400, json: 600, concurrent: 300, routes: 2000 }

const BASE = 'http://127.0.0.1'
/** Mostly `good`, sometimes `odd` (weights 10:1 unless given). */
const v = <T, U>(good: fc.Arbitrary<T>, odd: fc.Arbitrary<U>, weight = 10): fc.Arbitrary<T | U> =>
  fc.oneof({ weight, arbitrary: good as fc.Arbitrary<T | U> }, { weight: 1, arbitrary: odd as fc.Arbitrary<T | U> })
const RECORD_BATCH = 'application/vnd.kafka.record-batch'
const te = new TextEncoder()

const stats = { cases: 0, batches: 0, routes: 0, fiveHundreds: 0, refusedButStored: 0, mismatched: 0, untyped: 0 }
const problems: string[] = []
const findings = new Map<string, number>()
/** What the cases reached (label -> answer -> count); printed only with DEBUG, to judge the generators. */
const DEBUG = false
const reached = new Map<string, Map<string, number>>()
function tally(label: string, answer: string): void {
  if (!reached.has(label)) reached.set(label, new Map())
  const m = reached.get(label)!
  m.set(answer, (m.get(answer) ?? 0) + 1)
}
const outcome = (a: Answer) => a.status < 400 ? String(a.status) : `${a.status} ${a.json?.error?.code ?? ''}`
type Violation = 'fiveHundreds' | 'refusedButStored' | 'mismatched' | 'untyped'

class FuzzViolation extends Error {}
/** Runs one case; a violation ends the case (recorded above), not the run: no shrinking, every finding listed. */
function guarded<T>(run: (c: T) => Promise<void>): (c: T) => Promise<void> {
  return async (c) => {
    try {
      await run(c)
    } catch (error) {
      if (error instanceof FuzzViolation) return
      throw error
    }
  }
}
function violation(kind: Violation, what: string, sent: Sent, detail: unknown): never {
  stats[kind]++
  const text = `${kind}: ${what}\n  sent: ${describeSent(sent)}\n  got: ${typeof detail === 'string' ? detail : JSON.stringify(detail)?.slice(0, 600)}`
  // Listed once per kind of finding (numbers aside), three examples each.
  const key = `${kind}: ${what.replace(/-?\d+/g, 'N')}`
  const seen = (findings.get(key) ?? 0) + 1
  findings.set(key, seen)
  if (seen <= 3) problems.push(text)
  throw new FuzzViolation(text)
}

// ------------------------------------------------------------------------------------------ HTTP

interface Sent {
  method: string
  path: string
  contentType?: string
  headers?: Record<string, string>
  body?: Uint8Array | string
}
interface Answer {
  status: number
  contentType: string
  headers: Headers
  text: string
  json: any
  bytes: Uint8Array
}

function hex(bytes: Uint8Array, max = 160): string {
  let s = ''
  for (let i = 0; i < Math.min(bytes.length, max); i++) s += bytes[i].toString(16).padStart(2, '0')
  return bytes.length > max ? `${s}… (${bytes.length} bytes)` : s
}

function describeSent(s: Sent): string {
  const body = s.body === undefined ? '' : typeof s.body === 'string' ? ` body=${JSON.stringify(s.body.slice(0, 400))}` : ` body(hex)=${hex(s.body)}`
  const headers = s.headers && Object.keys(s.headers).length ? ` headers=${JSON.stringify(s.headers)}` : ''
  return `${s.method} ${s.path}${s.contentType !== undefined ? ` content-type=${JSON.stringify(s.contentType)}` : ''}${headers}${body}`
}

/** One request to the Worker. An SSE answer is read for at most `sseMs` (or until `sseBytes`) and then cancelled. */
async function send(s: Sent, options: { sseMs?: number; sseBytes?: number } = {}): Promise<Answer> {
  const headers = new Headers(s.headers)
  if (s.contentType !== undefined) headers.set('content-type', s.contentType)
  const init: RequestInit = { method: s.method, headers }
  if (s.body !== undefined && s.method !== 'GET' && s.method !== 'HEAD') init.body = typeof s.body === 'string' ? te.encode(s.body) : s.body
  // The Worker's own app (its default export), over the real Durable Objects (see above).
  const res = await app.fetch(new Request(BASE + s.path, init), env, createExecutionContext())
  const contentType = res.headers.get('content-type') ?? ''
  let bytes: Uint8Array
  if (contentType.startsWith('text/event-stream') && res.body) {
    bytes = await readFor(res.body, options.sseMs ?? 300, options.sseBytes ?? 64 * 1024)
  } else {
    bytes = new Uint8Array(await res.arrayBuffer())
  }
  const text = new TextDecoder().decode(bytes)
  let json: any
  if (contentType.includes('json')) {
    try { json = JSON.parse(text) } catch { json = undefined }
  }
  return { status: res.status, contentType, headers: res.headers, text, json, bytes }
}

async function readFor(body: ReadableStream<Uint8Array>, ms: number, maxBytes: number): Promise<Uint8Array> {
  const reader = body.getReader()
  const chunks: Uint8Array[] = []
  let total = 0
  const deadline = Date.now() + ms
  try {
    while (total < maxBytes) {
      const left = deadline - Date.now()
      if (left <= 0) break
      let timer: ReturnType<typeof setTimeout> | undefined
      const next = await Promise.race([
        reader.read(),
        new Promise<'timeout'>((resolve) => { timer = setTimeout(() => resolve('timeout'), left) }),
      ])
      if (timer !== undefined) clearTimeout(timer)
      if (next === 'timeout' || next.done) break
      chunks.push(next.value)
      total += next.value.byteLength
    }
  } finally {
    await reader.cancel().catch(() => {})
  }
  const out = new Uint8Array(total)
  let at = 0
  for (const c of chunks) { out.set(c, at); at += c.byteLength }
  return out
}

/** No 5xx; an error is a typed edgelog error body whose status is its code's. */
function checkAnswer(s: Sent, a: Answer): void {
  if (a.status >= 500) violation('fiveHundreds', `status ${a.status}`, s, a.text.slice(0, 600))
  if (a.status < 400) {
    if (a.contentType.includes('json') && s.method !== 'HEAD' && a.json === undefined) violation('untyped', 'a JSON answer that does not parse', s, a.text.slice(0, 300))
    return
  }
  if (s.method === 'HEAD') return
  const e = a.json?.error
  const typed = a.contentType.includes('application/json') && typeof e === 'object' && e !== null &&
    typeof e.code === 'string' && e.code in ERROR_CODES && e.code !== 'UNKNOWN_SERVER_ERROR' && typeof e.message === 'string'
  if (!typed) violation('untyped', `status ${a.status} without a typed error body`, s, a.text.slice(0, 600))
  const noRoute = a.status === 404 && e.code === 'INVALID_REQUEST' && e.message.startsWith('No route')
  const status = ERROR_CODES[e.code as keyof typeof ERROR_CODES].status
  if (status !== a.status && !noRoute) violation('untyped', `status ${a.status} for ${e.code} (its status is ${status})`, s, e)
}

/** Checks an `{ code, message }` inside a produce answer (per batch, per record). */
function checkInnerError(s: Sent, e: any): void {
  if (typeof e !== 'object' || e === null || typeof e.code !== 'string' || !(e.code in ERROR_CODES) || e.code === 'UNKNOWN_SERVER_ERROR' || typeof e.message !== 'string') {
    violation('untyped', 'an untyped error inside a produce answer', s, e)
  }
  if (ERROR_CODES[e.code as keyof typeof ERROR_CODES].status >= 500) violation('fiveHundreds', `a ${e.code} inside a produce answer`, s, e)
}

async function call(method: string, path: string, body?: unknown): Promise<Answer> {
  const s: Sent = { method, path }
  if (body !== undefined) { s.body = JSON.stringify(body); s.contentType = 'application/json' }
  const a = await send(s)
  checkAnswer(s, a)
  return a
}

// ------------------------------------------------------------------------------------------ state

interface Snap {
  exists: boolean
  partitions: number
  config: string
  hw: number[]
  start: number[]
  size: number[]
  /** The log end, from `offsets?at=latest`. */
  latest: number[]
}

async function snap(topic: string): Promise<Snap> {
  const d = await call('GET', `/v1/topics/${encodeURIComponent(topic)}`)
  if (d.status === 404) return { exists: false, partitions: 0, config: '', hw: [], start: [], size: [], latest: [] }
  if (d.status !== 200) throw new Error(`describe ${topic}: ${d.status} ${d.text}`)
  const o = await call('GET', `/v1/topics/${encodeURIComponent(topic)}/offsets?at=latest`)
  if (o.status === 404) return snap(topic) // deleted in between (routes fuzz)
  if (o.status !== 200) throw new Error(`offsets ${topic}: ${o.status} ${o.text}`)
  const parts = d.json.partitions as Array<{ partition: number; highWatermark: number; logStartOffset: number; sizeBytes: number }>
  const latest: number[] = []
  for (const x of o.json.offsets as Array<{ partition: number; offset: number }>) latest[x.partition] = x.offset
  return {
    exists: true,
    partitions: parts.length,
    config: JSON.stringify(d.json.config),
    hw: parts.map((p) => p.highWatermark),
    start: parts.map((p) => p.logStartOffset),
    size: parts.map((p) => p.sizeBytes),
    latest,
  }
}

function samePartition(a: Snap, b: Snap, p: number): boolean {
  return a.hw[p] === b.hw[p] && a.latest[p] === b.latest[p] && a.size[p] === b.size[p] && a.start[p] === b.start[p]
}

function sameSnap(a: Snap, b: Snap): boolean {
  if (a.exists !== b.exists || a.partitions !== b.partitions || a.config !== b.config) return false
  for (let p = 0; p < a.partitions; p++) if (!samePartition(a, b, p)) return false
  return true
}

const b64 = (bytes: Uint8Array | null): string | null => {
  if (bytes === null) return null
  let bin = ''
  for (let i = 0; i < bytes.length; i++) bin += String.fromCharCode(bytes[i])
  return btoa(bin)
}

function jsonOf(r: DecodedRecord) {
  const headers: Record<string, string | null> = {}
  for (const h of r.headers) headers[h.key] = b64(h.value)
  return { offset: r.offset, timestamp: r.timestamp, key: b64(r.key), value: b64(r.value), headers }
}

function equalBytes(a: Uint8Array | null, b: Uint8Array | null): boolean {
  if (a === null || b === null) return a === b
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

async function fetchStored(topic: string, partition: number, offset: number): Promise<Map<number, Uint8Array>> {
  const s: Sent = { method: 'GET', path: `/v1/topics/${topic}/partitions/${partition}/records?offset=${offset}&maxBytes=${16 * 1024 * 1024}`, headers: { accept: RECORD_BATCH } }
  const a = await send(s)
  checkAnswer(s, a)
  if (a.status !== 200) throw new Error(`binary fetch ${topic}/${partition}@${offset}: ${a.status} ${a.text}`)
  const out = new Map<number, Uint8Array>()
  for (const b of splitBatches(a.bytes)) out.set(readBatchHeader(b).baseOffset, b)
  return out
}

async function fetchJson(topic: string, partition: number, offset: number): Promise<any[]> {
  const s: Sent = { method: 'GET', path: `/v1/topics/${topic}/partitions/${partition}/records?offset=${offset}&maxBytes=${16 * 1024 * 1024}&encoding=base64` }
  const a = await send(s)
  checkAnswer(s, a)
  if (a.status !== 200) throw new Error(`JSON fetch ${topic}/${partition}@${offset}: ${a.status} ${a.text}`)
  return a.json.records
}

// ------------------------------------------------------------------------------------------ topics

const RUN = Date.now().toString(36)
/** Topics whose data the produce fuzzers check (retention off, so that nothing moves but produce). */
const VERIFY = {
  plain: { name: `fzv-plain-${RUN}`, partitions: 2, config: { 'retention.ms': '-1' } },
  compact: { name: `fzv-compact-${RUN}`, partitions: 2, config: { 'retention.ms': '-1', 'cleanup.policy': 'compact' } },
  small: { name: `fzv-small-${RUN}`, partitions: 1, config: { 'retention.ms': '-1', 'max.message.bytes': '1024' } },
  lat: { name: `fzv-lat-${RUN}`, partitions: 1, config: { 'retention.ms': '-1', 'message.timestamp.type': 'LogAppendTime' } },
} as const
type VerifyKind = keyof typeof VERIFY
const VERIFY_KINDS = Object.keys(VERIFY) as VerifyKind[]

/** Topics the routes fuzz may create, alter, fill and delete. */
const SCRATCH = ['fz-a', 'fz-b', 'fz-c']
/** Replica topics the routes fuzz may create and write through /v1/replicas (MirrorMaker's routes). */
const REPLICAS = ['fz-r1', 'fz-r2']
const REPLICA_IDS = ['fzr-id-a', 'fzr-id-b']
const GROUPS = ['fz-g1', 'fz-g2']

beforeAll(async () => {
  for (const t of Object.values(VERIFY)) {
    const r = await call('POST', '/v1/topics', { name: t.name, partitions: t.partitions, config: t.config })
    if (r.status !== 201) throw new Error(`create ${t.name}: ${r.status} ${r.text}`)
  }
  for (const [i, name] of SCRATCH.entries()) await call('POST', '/v1/topics', { name, partitions: i + 1 })
})

afterAll(() => {
  console.log(`chaos: worker-fuzz: cases=${stats.cases} batches=${stats.batches} routes=${stats.routes} fiveHundreds=${stats.fiveHundreds} refusedButStored=${stats.refusedButStored} mismatched=${stats.mismatched} seed=${SEED}`)
  if (DEBUG) for (const [label, m] of [...reached].sort()) console.log(`${label}: ${[...m].sort((x, y) => y[1] - x[1]).map(([k, n]) => `${k}=${n}`).join(', ')}`)
  if (problems.length) console.log(`chaos: worker-fuzz: problems (${problems.length}${stats.untyped ? `, ${stats.untyped} untyped errors` : ''}):\n${problems.join('\n')}`)
})

// ------------------------------------------------------------------------------------------ binary produce

interface RecSpec { key: Uint8Array | null; value: Uint8Array | null; headers: Array<{ key: string; value: Uint8Array | null }>; tsDelta: number }
interface BatchSpec { records: RecSpec[]; idempotent: boolean; gzip: boolean; baseTimestamp: number }

const recArb: fc.Arbitrary<RecSpec> = fc.record({
  key: fc.oneof({ weight: 3, arbitrary: fc.uint8Array({ maxLength: 12 }) }, { weight: 1, arbitrary: fc.constant(null) }),
  value: fc.oneof(
    { weight: 6, arbitrary: fc.uint8Array({ maxLength: 48 }) },
    { weight: 1, arbitrary: fc.uint8Array({ minLength: 200, maxLength: 700 }) },
    { weight: 1, arbitrary: fc.constant(null) },
  ),
  headers: fc.array(fc.record({
    key: fc.oneof(fc.string({ maxLength: 6 }), fc.string({ unit: 'binary', maxLength: 4 })),
    value: fc.option(fc.uint8Array({ maxLength: 6 }), { nil: null }),
  }), { maxLength: 2 }),
  tsDelta: fc.oneof(fc.integer({ min: 0, max: 1000 }), fc.integer({ min: -100_000, max: 100_000 })),
})

const batchSpecArb: fc.Arbitrary<BatchSpec> = fc.record({
  records: fc.array(recArb, { minLength: 1, maxLength: 5 }),
  idempotent: fc.boolean(),
  gzip: fc.oneof({ weight: 3, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
  baseTimestamp: fc.constantFrom(0, 1, 1_700_000_000_000, 2 ** 40),
})

/** Header fields: [name, offset, bytes]. */
const FIELDS = [
  ['baseOffset', 0, 8], ['batchLength', 8, 4], ['partitionLeaderEpoch', 12, 4], ['magic', 16, 1], ['crc', 17, 4],
  ['attributes', 21, 2], ['lastOffsetDelta', 23, 4], ['baseTimestamp', 27, 8], ['maxTimestamp', 35, 8],
  ['producerId', 43, 8], ['producerEpoch', 51, 2], ['baseSequence', 53, 4], ['recordCount', 57, 4],
] as const

const oddInt = fc.oneof(
  fc.constantFrom(0, 1, -1, 2, -2, 3, 7, 8, 0x10, 0x20, 0x40, 48, 49, 50, 60, 61, 62, 127, 128, 255, 256, 1000, 0x7fff, -0x8000, 0xffff, 0x7fffffff, -0x80000000),
  fc.integer({ min: -0x80000000, max: 0x7fffffff }),
)
const oddLong = fc.oneof(
  oddInt.map((v) => BigInt(v)),
  fc.constantFrom(2n ** 53n, 2n ** 53n + 1n, -(2n ** 53n), 2n ** 63n - 1n, -(2n ** 63n), 1_700_000_000_000n),
  fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }),
)
/** Varint-shaped byte strings: lengths 0, -1, -2, huge, 5 bytes, unterminated. */
const varintBytes: fc.Arbitrary<number[]> = fc.oneof(
  fc.constantFrom<number[]>(
    [0x00], [0x01], [0x02], [0x03], [0x7f], [0x7e], [0x80, 0x01], [0xfe, 0x01], [0xff, 0x01], [0x80, 0x80, 0x01],
    [0xfe, 0xff, 0xff, 0xff, 0x0f], [0xff, 0xff, 0xff, 0xff, 0x0f], [0xff, 0xff, 0xff, 0xff, 0x7f], [0xff, 0xff, 0xff, 0xff, 0xff],
    [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01], [0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01],
  ),
  fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 1, maxLength: 6 }),
)

type Mut =
  | { kind: 'none' }
  | { kind: 'flip'; batch: number; positions: number[]; fixCrc: boolean }
  | { kind: 'field'; batch: number; field: number; value: bigint; fixCrc: boolean }
  | { kind: 'bytes'; batch: number; first: boolean; at: number; bytes: number[]; del: number; fixLength: boolean; fixCrc: boolean }
  | { kind: 'cut'; batch: number; keep: number; fixLength: boolean; fixCrc: boolean }
  | { kind: 'truncate'; keep: number }
  | { kind: 'garbage'; bytes: Uint8Array; header: boolean }
  | { kind: 'random'; bytes: Uint8Array; header: boolean }
  | { kind: 'gzipRaw'; batch: number; first: boolean; at: number; bytes: number[]; del: number }
  | { kind: 'repeat'; batch: number }
  | { kind: 'drop'; batch: number }

const batchIndex = fc.nat(7)
const mutArb: fc.Arbitrary<Mut> = fc.oneof(
  { weight: 3, arbitrary: fc.constant({ kind: 'none' as const }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('flip' as const), batch: batchIndex, positions: fc.array(fc.nat(), { minLength: 1, maxLength: 4 }), fixCrc: fc.boolean() }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('field' as const), batch: batchIndex, field: fc.nat(FIELDS.length - 1), value: oddLong, fixCrc: fc.boolean() }) },
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('bytes' as const), batch: batchIndex, first: fc.boolean(), at: fc.nat(), bytes: varintBytes, del: fc.nat(3), fixLength: fc.boolean(), fixCrc: fc.oneof({ weight: 4, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('cut' as const), batch: batchIndex, keep: fc.nat(), fixLength: fc.boolean(), fixCrc: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('truncate' as const), keep: fc.nat() }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('garbage' as const), bytes: fc.uint8Array({ minLength: 1, maxLength: 80 }), header: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('random' as const), bytes: fc.uint8Array({ maxLength: 200 }), header: fc.boolean() }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('gzipRaw' as const), batch: batchIndex, first: fc.boolean(), at: fc.nat(), bytes: varintBytes, del: fc.nat(3) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('repeat' as const), batch: batchIndex }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('drop' as const), batch: batchIndex }) },
)

const ACKS = [undefined, 'all', '-1', '1', '0', '2', 'ALL', '', 'x'] as const
const BINARY_TYPES = [RECORD_BATCH, RECORD_BATCH, RECORD_BATCH, 'application/octet-stream', `${RECORD_BATCH}; charset=binary`, 'APPLICATION/VND.KAFKA.RECORD-BATCH', 'application/json', 'text/plain', undefined] as const

interface BinaryCase {
  topic: VerifyKind
  partition: number
  batches: BatchSpec[]
  mutation: Mut
  acks: (typeof ACKS)[number]
  contentType: (typeof BINARY_TYPES)[number]
  resend: boolean
  /** After the produce: read one stored offset back mid-batch (maxBytes=1) or through the SSE tail. */
  readBack: 'none' | 'mid' | 'tail'
  pick: number
}

const binaryCaseArb: fc.Arbitrary<BinaryCase> = fc.record({
  topic: fc.constantFrom(...VERIFY_KINDS, 'plain', 'plain'),
  /** Index modulo the topic's partitions, or past them. */
  partition: v(fc.nat(1), fc.constantFrom(-1, -5)),
  batches: fc.array(batchSpecArb, { minLength: 1, maxLength: 4 }),
  mutation: mutArb,
  acks: fc.oneof({ weight: 12, arbitrary: fc.constantFrom(undefined, 'all', '-1', '1', '0') }, { weight: 1, arbitrary: fc.constantFrom(...ACKS) }),
  contentType: fc.oneof({ weight: 12, arbitrary: fc.constant(RECORD_BATCH) }, { weight: 2, arbitrary: fc.constantFrom(...BINARY_TYPES) }),
  resend: fc.boolean(),
  readBack: fc.constantFrom('none', 'none', 'mid', 'tail'),
  pick: fc.nat(),
})

function setCrc(piece: Uint8Array): void {
  if (piece.length < BATCH_HEADER_BYTES) return
  new DataView(piece.buffer, piece.byteOffset, piece.byteLength).setUint32(17, crc32c(piece, CRC_START, piece.length))
}
function setLength(piece: Uint8Array): void {
  if (piece.length < 12) return
  new DataView(piece.buffer, piece.byteOffset, piece.byteLength).setInt32(8, piece.length - 12)
}
function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let at = 0
  for (const p of parts) { out.set(p, at); at += p.length }
  return out
}
function splice(bytes: Uint8Array, at: number, del: number, ins: readonly number[]): Uint8Array {
  at = Math.min(at, bytes.length)
  return concat([bytes.subarray(0, at), Uint8Array.from(ins), bytes.subarray(Math.min(bytes.length, at + del))])
}
async function gzip(bytes: Uint8Array): Promise<Uint8Array> {
  const stream = new Blob([bytes]).stream().pipeThrough(new CompressionStream('gzip'))
  return new Uint8Array(await new Response(stream).arrayBuffer())
}

/** A piece as sent: its bytes, and the uncompressed records region it was made from (for gzipRaw). */
interface Piece { bytes: Uint8Array; raw: Uint8Array; header: Uint8Array }

async function buildPieces(specs: BatchSpec[], producerId: number): Promise<Piece[]> {
  let sequence = 0
  const out: Piece[] = []
  for (const spec of specs) {
    const inputs: RecordInput[] = spec.records.map((r) => ({ key: r.key, value: r.value, headers: r.headers, timestamp: spec.baseTimestamp + r.tsDelta }))
    const options = spec.idempotent ? { producerId, producerEpoch: 0, baseSequence: sequence } : {}
    if (spec.idempotent) sequence += inputs.length
    const plain = encodeBatch(inputs, options)
    const bytes = spec.gzip ? await encodeBatchAsync(inputs, { ...options, compression: 'gzip' }) : plain.slice()
    out.push({ bytes, raw: plain.slice(BATCH_HEADER_BYTES), header: plain.slice(0, BATCH_HEADER_BYTES) })
  }
  return out
}

/** The body a case sends: its pieces, mutated. */
async function applyMutation(pieces: Piece[], m: Mut): Promise<Uint8Array> {
  const parts: Uint8Array[] = pieces.map((p) => p.bytes.slice())
  const pick = (i: number) => i % parts.length
  switch (m.kind) {
    case 'none':
      break
    case 'flip': {
      const i = pick(m.batch)
      for (const pos of m.positions) parts[i][pos % parts[i].length] ^= 1 << (pos % 8)
      if (m.fixCrc) setCrc(parts[i])
      break
    }
    case 'field': {
      const i = pick(m.batch)
      const [, at, size] = FIELDS[m.field]
      const view = new DataView(parts[i].buffer)
      if (size === 8) view.setBigInt64(at, BigInt.asIntN(64, m.value))
      else if (size === 4) view.setInt32(at, Number(BigInt.asIntN(32, m.value)))
      else if (size === 2) view.setInt16(at, Number(BigInt.asIntN(16, m.value)))
      else view.setInt8(at, Number(BigInt.asIntN(8, m.value)))
      if (m.fixCrc && at !== 17) setCrc(parts[i])
      break
    }
    case 'bytes': {
      const i = pick(m.batch)
      const room = parts[i].length - BATCH_HEADER_BYTES
      const at = BATCH_HEADER_BYTES + (m.first || room <= 0 ? 0 : m.at % room)
      let piece: Uint8Array
      if (m.del === 0 && at + m.bytes.length <= parts[i].length && m.at % 2 === 0) {
        piece = parts[i]
        piece.set(m.bytes, at) // overwrite in place
      } else {
        piece = splice(parts[i], at, m.del, m.bytes)
      }
      if (m.fixLength) setLength(piece)
      if (m.fixCrc) setCrc(piece)
      parts[i] = piece
      break
    }
    case 'cut': {
      const i = pick(m.batch)
      const piece = parts[i].slice(0, m.keep % parts[i].length)
      if (m.fixLength) setLength(piece)
      if (m.fixCrc) setCrc(piece)
      parts[i] = piece
      break
    }
    case 'truncate': {
      const body = concat(parts)
      return body.slice(0, m.keep % body.length)
    }
    case 'garbage': {
      const tail: Uint8Array = m.bytes.slice()
      // A header-shaped tail: a batch length that claims more than there is, or less than a header.
      if (m.header && tail.length >= 12) new DataView(tail.buffer, tail.byteOffset).setInt32(8, (tail[0] << 8) - 200)
      parts.push(tail)
      break
    }
    case 'random': {
      const bytes = m.bytes.slice()
      if (m.header && bytes.length >= BATCH_HEADER_BYTES) {
        const view = new DataView(bytes.buffer)
        view.setInt32(8, bytes.length - 12)
        view.setInt8(16, 2)
        setCrc(bytes)
      }
      return bytes
    }
    case 'gzipRaw': {
      const i = pick(m.batch)
      const p = pieces[i]
      const at = m.first || p.raw.length === 0 ? 0 : m.at % p.raw.length
      const raw = splice(p.raw, at, m.del, m.bytes)
      const packed = await gzip(raw)
      const piece = concat([p.header, packed])
      const view = new DataView(piece.buffer)
      view.setInt16(21, (view.getInt16(21) & ~7) | 1)
      setLength(piece)
      setCrc(piece)
      parts[i] = piece
      break
    }
    case 'repeat': {
      const i = pick(m.batch)
      parts.splice(i + 1, 0, parts[i].slice())
      break
    }
    case 'drop': {
      if (parts.length > 1) parts.splice(pick(m.batch), 1)
      break
    }
  }
  return concat(parts)
}

let producerIds: number[] = []
async function producerId(): Promise<number> {
  if (producerIds.length === 0) {
    const r = await call('POST', '/v1/producers')
    if (r.status !== 200) throw new Error(`producer id: ${r.status} ${r.text}`)
    producerIds = [r.json.producerId]
  }
  return producerIds.pop()!
}

function topicPath(kind: VerifyKind, partition?: number): string {
  const t = VERIFY[kind].name
  return partition === undefined ? `/v1/topics/${t}/records` : `/v1/topics/${t}/partitions/${partition}/records`
}

/**
 * Checks a binary produce answer against the partition: refused batches stored nothing, accepted
 * ones are stored byte for byte (the baseOffset assigned, and for LogAppendTime topics the
 * attribute, maxTimestamp and CRC the broker stamps), at the offsets answered, and read back
 * as the same records in JSON. Returns the offsets answered (for a resend).
 */
async function verifyBinary(kind: VerifyKind, partition: number, before: Snap, body: Uint8Array, s: Sent, a: Answer): Promise<number[] | undefined> {
  const topic = VERIFY[kind].name
  const after = await snap(topic)
  for (let q = 0; q < after.partitions; q++) {
    if (q !== partition && !samePartition(before, after, q)) violation('refusedButStored', `partition ${q} changed by a produce to partition ${partition}`, s, { before, after })
  }
  const answered = a.json?.batches
  if (partition >= before.partitions) {
    // No such partition: refused whole, or batch by batch.
    if (a.status < 400 || (Array.isArray(answered) && answered.some((x: any) => x?.error === undefined))) violation('mismatched', `a produce to missing partition ${partition} accepted`, s, a.json)
    if (!sameSnap(before, after)) violation('refusedButStored', `a produce to missing partition ${partition} changed the topic`, s, { before, after })
    return undefined
  }
  if (!Array.isArray(answered)) {
    if (a.status < 400) violation('mismatched', 'an accepted binary produce without batches', s, a.json)
    if (partition < before.partitions && !samePartition(before, after, partition)) violation('refusedButStored', `refused (${a.status} ${a.json?.error?.code}) but the partition changed`, s, { before, after, answer: a.json })
    return undefined
  }
  let pieces: Uint8Array[]
  try { pieces = splitBatches(body) } catch { return violation('mismatched', 'per-batch answer for a body that does not split into batches', s, a.json) }
  if (answered.length !== pieces.length) violation('mismatched', `${answered.length} batches answered, ${pieces.length} sent`, s, a.json)
  const hw = before.hw[partition]
  let next = hw
  let added = 0
  let errors = 0
  const fresh: Array<{ piece: Uint8Array; at: number }> = []
  const again: Array<{ piece: Uint8Array; at: number }> = []
  const offsets: number[] = []
  answered.forEach((x: any, i: number) => {
    if (x?.error !== undefined) {
      checkInnerError(s, x.error)
      if (x.baseOffset !== undefined) violation('mismatched', `batch ${i} answered both an error and an offset`, s, x)
      errors++
      offsets.push(-1)
      return
    }
    const h = readBatchHeader(pieces[i])
    if (x.partition !== partition || x.records !== h.recordCount || x.lastOffset !== x.baseOffset + h.recordCount - 1 || !Number.isSafeInteger(x.baseOffset)) {
      violation('mismatched', `batch ${i}: answer ${JSON.stringify(x)} for a batch of ${h.recordCount} records to partition ${partition}`, s, a.json)
    }
    offsets.push(x.baseOffset)
    if (x.baseOffset === next) {
      fresh.push({ piece: pieces[i], at: x.baseOffset })
      next = x.lastOffset + 1
      added += h.recordCount
    } else if (x.baseOffset < next && h.producerId >= 0) {
      again.push({ piece: pieces[i], at: x.baseOffset }) // an idempotent retry: answered with where it was stored
    } else {
      violation('mismatched', `batch ${i} answered at ${x.baseOffset}, the log end was ${next}`, s, a.json)
    }
  })
  if (a.status >= 400 && errors === 0) violation('mismatched', `status ${a.status} without a refused batch`, s, a.json)
  if (a.status < 400 && errors > 0) violation('mismatched', `status ${a.status} with a refused batch`, s, a.json)
  if (after.hw[partition] !== hw + added || after.latest[partition] !== hw + added) {
    violation(added === 0 ? 'refusedButStored' : 'mismatched', `high watermark ${hw} -> ${after.hw[partition]} (log end ${after.latest[partition]}), answered ${added} new records`, s, a.json)
  }
  if (fresh.length === 0 && again.length === 0) return offsets
  const from = Math.min(...fresh.map((f) => f.at), ...again.map((f) => f.at))
  const stored = await fetchStored(topic, partition, from)
  const lat = VERIFY[kind].config['message.timestamp.type' as never] === 'LogAppendTime'
  for (const { piece, at } of fresh) {
    const got = stored.get(at)
    if (!got) return violation('mismatched', `no stored batch at ${at}`, s, [...stored.keys()])
    if (!sameStoredBatch(piece, got, at, lat)) violation('mismatched', `stored batch at ${at} differs from the batch sent`, s, { sent: hex(piece, 400), stored: hex(got, 400) })
  }
  for (const { piece, at } of again) {
    const got = stored.get(at)
    const h = readBatchHeader(piece)
    const g = got && readBatchHeader(got)
    if (!g || g.producerId !== h.producerId || g.producerEpoch !== h.producerEpoch || g.baseSequence !== h.baseSequence || g.recordCount !== h.recordCount) {
      violation('mismatched', `a retried batch answered at ${at}, where another batch is stored`, s, { sent: hex(piece), stored: got && hex(got) })
    }
  }
  if (fresh.length > 0) {
    const start = fresh[0].at
    const json = await fetchJson(topic, partition, start)
    const byOffset = new Map(json.map((r: any) => [r.offset, r]))
    for (const { at } of fresh) {
      const { records } = await decodeBatch(stored.get(at)!)
      for (const r of records) {
        const got = byOffset.get(r.offset)
        const want = jsonOf(r)
        if (JSON.stringify(got) !== JSON.stringify(want)) violation('mismatched', `record ${r.offset} read as JSON differs from the stored batch`, s, { got, want })
      }
    }
  }
  return offsets
}

/** The stored batch is the sent one with its baseOffset (and, LogAppendTime, attributes, maxTimestamp, CRC) set by the broker. */
function sameStoredBatch(sent: Uint8Array, stored: Uint8Array, at: number, logAppendTime: boolean): boolean {
  if (sent.length !== stored.length) return false
  const view = new DataView(stored.buffer, stored.byteOffset, stored.byteLength)
  if (view.getBigInt64(0) !== BigInt(at)) return false
  const sentView = new DataView(sent.buffer, sent.byteOffset, sent.byteLength)
  for (let i = 8; i < sent.length; i++) {
    if (logAppendTime && ((i >= 17 && i < 23) || (i >= 35 && i < 43))) continue
    if (sent[i] !== stored[i]) return false
  }
  if (logAppendTime) {
    if (view.getInt16(21) !== (sentView.getInt16(21) | 0x08)) return false
    if (view.getUint32(17) !== crc32c(stored, CRC_START, stored.length)) return false
  }
  return true
}

/**
 * Reads a stored offset of the answer back from the middle of its batch: a fetch with maxBytes=1
 * starts at that record (the batch's earlier ones left out) and says where to go next, and the
 * SSE tail from there sends the same records, each with its offset as the event id.
 */
async function readBack(c: BinaryCase, partition: number, offsets: number[], body: Uint8Array): Promise<void> {
  const topic = VERIFY[c.topic].name
  const pieces = splitBatches(body)
  const stored = offsets.map((o, i) => ({ o, n: o >= 0 ? readBatchHeader(pieces[i]).recordCount : 0 })).filter((x) => x.o >= 0)
  const { o: base, n } = stored[c.pick % stored.length]
  const offset = base + (Math.floor(c.pick / 7) % n)
  const full = await fetchJson(topic, partition, offset)
  const s: Sent = { method: 'GET', path: `/v1/topics/${topic}/partitions/${partition}/records?offset=${offset}&maxBytes=1&encoding=base64` }
  if (c.readBack === 'mid') {
    const a = await send(s)
    tally('readBack mid', `${outcome(a)} ${a.json?.records?.length} records`)
    checkAnswer(s, a)
    const records = a.json?.records
    if (a.status !== 200 || !Array.isArray(records) || records.length === 0) return violation('mismatched', `no records from stored offset ${offset}`, s, a.text.slice(0, 400))
    const last = records[records.length - 1].offset
    if (records[0].offset !== offset || a.json.nextOffset !== last + 1 || a.headers.get('edgelog-next-offset') !== String(last + 1) ||
      JSON.stringify(records) !== JSON.stringify(full.slice(0, records.length))) {
      violation('mismatched', `a fetch from mid-batch offset ${offset} differs from the records stored there`, s, { got: a.json, want: full.slice(0, records.length) })
    }
    return
  }
  const limit = Math.min(3, full.length)
  const t: Sent = { method: 'GET', path: `/v1/topics/${topic}/partitions/${partition}/tail?offset=${offset}&limit=${limit}&maxWaitMs=20&encoding=base64` }
  const a = await send(t, { sseMs: 2000 })
  tally('readBack tail', `${outcome(a)} limit ${limit}`)
  checkAnswer(t, a)
  const events = [...a.text.matchAll(/id: (\d+)\nevent: record\ndata: (.*)\n\n/g)].map((m) => ({ id: Number(m[1]), record: JSON.parse(m[2]) }))
  if (a.status !== 200 || events.length !== limit || events.some((e, i) => e.id !== e.record.offset || JSON.stringify(e.record) !== JSON.stringify(full[i]))) {
    violation('mismatched', `the tail from offset ${offset} (limit ${limit}) differs from the records stored there`, t, { got: a.text.slice(0, 600), want: full.slice(0, limit) })
  }
}

async function binaryCase(c: BinaryCase): Promise<void> {
  stats.cases++
  stats.batches += c.batches.length
  const pid = c.batches.some((b) => b.idempotent) ? await producerId() : -1
  const pieces = await buildPieces(c.batches, pid)
  const body = await applyMutation(pieces, c.mutation)
  const query = c.acks === undefined ? '' : `?acks=${encodeURIComponent(c.acks)}`
  const partitions = VERIFY[c.topic].partitions
  const partition = c.partition < 0 ? partitions - 1 - c.partition : c.partition % partitions
  const s: Sent = { method: 'POST', path: topicPath(c.topic, partition) + query, contentType: c.contentType, body }
  const before = await snap(VERIFY[c.topic].name)
  const a = await send(s)
  tally(`binary ${c.mutation.kind}`, a.status === 200 ? '200' : `${outcome(a)}${Array.isArray(a.json?.batches) ? ` (${a.json.batches.filter((b: any) => !b.error).length}/${a.json.batches.length} stored)` : ''}`)
  checkAnswer(s, a)
  const offsets = await verifyBinary(c.topic, partition, before, body, s, a)
  if (c.readBack !== 'none' && offsets && offsets.some((o) => o >= 0)) await readBack(c, partition, offsets, body)
  // A retried idempotent request is stored once, and answered with the same offsets.
  if (c.resend && a.status === 200 && offsets && c.batches.every((b) => b.idempotent) && c.mutation.kind === 'none') {
    const again = await snap(VERIFY[c.topic].name)
    const b = await send(s)
    checkAnswer(s, b)
    const second = await verifyBinary(c.topic, partition, again, body, s, b)
    if (JSON.stringify(second) !== JSON.stringify(offsets)) violation('mismatched', `a retried idempotent request answered ${JSON.stringify(second)}, first ${JSON.stringify(offsets)}`, s, b.json)
  }
}

// ------------------------------------------------------------------------------------------ JSON produce

const goodString = fc.oneof(
  { weight: 6, arbitrary: fc.string({ maxLength: 16 }) },
  { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 8 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'grapheme-ascii', minLength: 200, maxLength: 700 }) },
)
const oddString = fc.constantFrom('', '\ud800', 'a\udfffb', '\u0000', 'é'.repeat(3), 'x'.repeat(1500), '\ufeff')
const goodBase64 = fc.oneof(
  { weight: 8, arbitrary: fc.uint8Array({ maxLength: 24 }).map((b) => b64(b)!) },
  { weight: 1, arbitrary: fc.uint8Array({ minLength: 200, maxLength: 700 }).map((b) => b64(b)!) },
)
const oddBase64 = fc.constantFrom('', '=', 'a', 'ab=c', '!!!!', 'YQ', 'YQ==', ' YQ== ', 'YQ==YQ==', 'Y Q==')
const oddScalar = fc.constantFrom<unknown>(0, 1, -1, 1.5, true, false, {}, [], [1], { a: 1 }, 1e300)

/**
 * One JSON record. `odd` cases mix in values the API refuses (or that sit at its edges); the
 * others are all valid, so that whole requests get stored and compared with what was sent.
 */
function jsonRecordArb(encoding: 'utf8' | 'base64', partitions: number, odd: boolean): fc.Arbitrary<Record<string, unknown>> {
  const w = odd ? 4 : 1_000_000
  const str = encoding === 'base64' ? v(goodBase64, oddBase64, w) : v(goodString, oddString, w)
  const strOrNull = fc.oneof({ weight: 8, arbitrary: str }, { weight: 1, arbitrary: fc.constant(null) })
  const headerValue = v(strOrNull, oddScalar, w)
  const headers = v(
    fc.oneof(
      fc.dictionary(fc.string({ maxLength: 6 }), headerValue, { maxKeys: 3 }),
      fc.array(fc.record({ key: v(fc.string({ maxLength: 6 }), oddScalar, w), value: headerValue }, { requiredKeys: odd ? [] : ['key', 'value'] }), { maxLength: 3 }),
    ),
    fc.constantFrom<unknown>(null, 'h', 5, [5], [null], [{}], [{ key: 'k', value: 5 }]),
    w,
  )
  return fc.record({
    key: v(strOrNull, oddScalar, w),
    value: v(fc.oneof({ weight: 12, arbitrary: str }, { weight: 1, arbitrary: fc.constant(null) }), oddScalar, w),
    headers,
    partition: v(fc.nat(partitions - 1), fc.constantFrom<unknown>(null, partitions, 5, -1, 0.5, '0', 1e300, 2 ** 53), w),
    timestamp: v(fc.integer({ min: 0, max: 2 ** 42 }), fc.constantFrom<unknown>(-1, 1.5, '5', null, 2 ** 53, 8.64e15 + 1, 1e300, 0, Number.MAX_SAFE_INTEGER), w),
  }, { requiredKeys: odd ? [] : ['value'] })
}

interface JsonCase {
  topic: VerifyKind
  /** Partition route (all to this partition) or the topic route. */
  partition: number | undefined
  encoding: 'utf8' | 'base64' | 'utf-8' | 'hex' | undefined
  body: unknown
  acks: (typeof ACKS)[number]
  contentType: string | undefined
}

const jsonCaseArb: fc.Arbitrary<JsonCase> = fc.record({
  topic: fc.constantFrom(...VERIFY_KINDS, 'plain', 'plain'),
  route: fc.oneof({ weight: 3, arbitrary: fc.constant('topic' as const) }, { weight: 2, arbitrary: fc.nat(1) }, { weight: 1, arbitrary: fc.constant('missing' as const) }),
  encoding: v(fc.constantFrom(undefined, 'utf8', 'base64'), fc.constantFrom('utf-8', 'hex') as fc.Arbitrary<JsonCase['encoding']>),
  acks: v(fc.constantFrom(undefined, 'all', '1', '0'), fc.constantFrom(...ACKS)),
  contentType: v(fc.constant('application/json'), fc.constantFrom(undefined, 'application/json; charset=utf-8', 'text/plain', 'APPLICATION/JSON', 'application/x-www-form-urlencoded')),
  odd: v(fc.constant(false), fc.constant(true), 2),
}).chain(({ route, odd, ...c }) => {
  const partitions = VERIFY[c.topic].partitions
  const partition = route === 'topic' ? undefined : route === 'missing' ? partitions : route % partitions
  const records = jsonRecordArb(c.encoding === 'base64' ? 'base64' : 'utf8', partitions, odd)
  const body = fc.oneof(
    { weight: 24, arbitrary: fc.array(records, { minLength: 1, maxLength: 8 }).map((rs) => ({ records: rs })) },
    { weight: 1, arbitrary: fc.array(records, { minLength: 1, maxLength: 8 }).map((rs) => ({ records: rs, extra: true })) },
    { weight: 1, arbitrary: fc.constantFrom<unknown>({ records: [] }, { records: {} }, { records: 'x' }, {}, [], null, 'x', 5, { records: [null] }, { records: [[]] }, { records: [{}] }, { records: [{ key: 'k' }] }) },
    { weight: 1, arbitrary: fc.constantFrom<unknown>('{"records":[{"value":"a"}]', '{"records":[{"value":"a"}]}x', '\ufeff{"records":[{"value":"a"}]}', '', ' ', '{"records":[{"value":"\\ud800"}]}', '{"records":[{"value":"a","value":"b"}]}', '{"__proto__":{"records":[{"value":"x"}]}}', '{"records":[{"value":"a","partition":0.0}]}', '{"records":[{"value":"a","timestamp":1e3}]}').map((raw) => ({ raw })) },
  )
  return body.map((b): JsonCase => ({ ...c, partition, body: b }))
})

function expectedBytes(v: unknown, encoding: 'utf8' | 'base64'): Uint8Array | null {
  if (v === null || v === undefined) return null
  if (encoding === 'utf8') return te.encode(v as string)
  const bin = atob(v as string)
  return Uint8Array.from(bin, (ch) => ch.charCodeAt(0))
}

async function jsonCase(c: JsonCase): Promise<void> {
  stats.cases++
  const topic = VERIFY[c.topic].name
  const params = new URLSearchParams()
  if (c.acks !== undefined) params.set('acks', c.acks)
  if (c.encoding !== undefined) params.set('encoding', c.encoding)
  const query = params.size ? `?${params}` : ''
  const raw = typeof c.body === 'object' && c.body !== null && 'raw' in c.body ? (c.body as { raw: string }).raw : undefined
  const text = raw ?? JSON.stringify(c.body)
  const s: Sent = { method: 'POST', path: topicPath(c.topic, c.partition) + query, contentType: c.contentType, body: text }
  const before = await snap(topic)
  const a = await send(s)
  tally(`json ${c.topic}`, outcome(a))
  checkAnswer(s, a)
  const after = await snap(topic)
  const answered = a.json?.offsets
  if (c.partition !== undefined && c.partition >= before.partitions && a.status < 400) violation('mismatched', `a produce to missing partition ${c.partition} accepted`, s, a.json)
  if (!Array.isArray(answered)) {
    if (a.status < 400) violation('mismatched', 'an accepted JSON produce without offsets', s, a.json)
    if (!sameSnap(before, after)) violation('refusedButStored', `refused (${a.status} ${a.json?.error?.code}) but the topic changed`, s, { before, after, answer: a.json })
    return
  }
  // What the Worker parsed: the same records, in the same key order.
  let parsed: any
  try { parsed = JSON.parse(text.replace(/^\ufeff/, '')) } catch { return violation('mismatched', 'offsets answered for a body that is not JSON', s, a.json) }
  const records = parsed?.records as Array<Record<string, unknown>>
  if (!Array.isArray(records) || answered.length !== records.length) violation('mismatched', `${answered.length} offsets for ${records?.length} records`, s, a.json)
  const encoding = c.encoding === 'base64' ? 'base64' : 'utf8'
  const next = before.hw.slice()
  const byPartition = new Map<number, Array<{ record: Record<string, unknown>; offset: number }>>()
  let errors = 0
  answered.forEach((o: any, i: number) => {
    if (o?.error !== undefined) { checkInnerError(s, o.error); errors++; return }
    const p = o?.partition
    if (typeof p !== 'number' || p < 0 || p >= before.partitions || (c.partition !== undefined && p !== c.partition) || o.offset !== next[p]) {
      violation('mismatched', `record ${i} answered ${JSON.stringify(o)}; partition ${p} had its log end at ${next[p]}`, s, a.json)
    }
    next[p]++
    if (!byPartition.has(p)) byPartition.set(p, [])
    byPartition.get(p)!.push({ record: records[i], offset: o.offset })
  })
  if ((a.status >= 400) !== (errors > 0)) violation('mismatched', `status ${a.status} with ${errors} refused records`, s, a.json)
  // A JSON produce is checked whole before anything is sent (docs/http-api.md): a bad record
  // refuses it all. Only what no check beforehand can know (a partition unreachable) may fail
  // in one partition after others stored.
  const stored = answered.filter((o: any) => o?.error === undefined).length
  const invalid = answered.find((o: any) => o?.error !== undefined && !ERROR_CODES[o.error.code as keyof typeof ERROR_CODES]?.retriable)
  if (invalid && stored > 0) violation('refusedButStored', `refused for ${invalid.error.code} after storing ${stored} of its records`, s, a.json)
  for (let p = 0; p < before.partitions; p++) {
    if (after.hw[p] !== next[p] || after.latest[p] !== next[p]) {
      violation(next[p] === before.hw[p] ? 'refusedButStored' : 'mismatched', `partition ${p}: high watermark ${before.hw[p]} -> ${after.hw[p]} (log end ${after.latest[p]}), answered ${next[p] - before.hw[p]} records`, s, a.json)
    }
  }
  for (const [p, list] of byPartition) {
    const stored = await fetchStored(topic, p, list[0].offset)
    const decoded = new Map<number, DecodedRecord>()
    for (const batch of stored.values()) for (const r of (await decodeBatch(batch)).records) decoded.set(r.offset, r)
    for (const { record, offset } of list) {
      const got = decoded.get(offset)
      if (!sameJsonRecord(record, got, encoding, isLogAppendTime(c.topic))) violation('mismatched', `record at ${p}/${offset} differs from the one sent`, s, { sent: record, stored: got && jsonOf(got) })
    }
  }
}

const isLogAppendTime = (kind: VerifyKind) => VERIFY[kind].config['message.timestamp.type' as never] === 'LogAppendTime'

/** A stored record is the JSON record sent: key, value, headers in order, and the timestamp given. */
function sameJsonRecord(record: Record<string, unknown>, got: DecodedRecord | undefined, encoding: 'utf8' | 'base64', logAppendTime: boolean): boolean {
  const headers = Array.isArray(record.headers)
    ? (record.headers as Array<{ key: string; value: unknown }>).map((h) => [h.key, h.value] as const)
    : record.headers ? Object.entries(record.headers as object) : []
  return got !== undefined &&
    equalBytes(got.key, expectedBytes(record.key, encoding)) &&
    equalBytes(got.value, expectedBytes(record.value, encoding)) &&
    got.headers.length === headers.length &&
    got.headers.every((h, j) => h.key === headers[j][0] && equalBytes(h.value, expectedBytes(headers[j][1], encoding))) &&
    (record.timestamp === undefined || logAppendTime || got.timestamp === record.timestamp)
}

// ------------------------------------------------------------------------------------------ concurrent produce

/**
 * Binary and JSON produce requests to one partition at once (the partition commits what arrives
 * together as one group): every offset stored is claimed by exactly one answer, and holds what
 * that request sent; refused batches and requests store nothing.
 */
type ConcurrentReq =
  | { binary: true; batches: BatchSpec[]; mutation: Mut }
  | { binary: false; records: Array<Record<string, unknown>> }
interface ConcurrentCase { topic: 'plain' | 'small' | 'lat'; partition: number; requests: ConcurrentReq[] }

const concurrentMut: fc.Arbitrary<Mut> = mutArb.filter((m) => m.kind !== 'repeat' && m.kind !== 'drop')
const concurrentCaseArb: fc.Arbitrary<ConcurrentCase> = fc.record({
  topic: fc.constantFrom('plain' as const, 'plain' as const, 'small' as const, 'lat' as const),
  partition: fc.nat(1),
  requests: fc.array(fc.oneof(
    fc.record({ binary: fc.constant(true as const), batches: fc.array(batchSpecArb, { minLength: 1, maxLength: 3 }), mutation: concurrentMut }),
    fc.record({ binary: fc.constant(false as const), odd: v(fc.constant(false), fc.constant(true), 3) }).chain(({ odd }) =>
      fc.array(jsonRecordArb('utf8', 1, odd).map(({ partition: _p, ...r }) => r), { minLength: 1, maxLength: 6 }).map((records) => ({ binary: false as const, records }))),
  ), { minLength: 2, maxLength: 4 }),
})

async function concurrentCase(c: ConcurrentCase): Promise<void> {
  stats.cases++
  const topic = VERIFY[c.topic].name
  const partition = c.partition % VERIFY[c.topic].partitions
  const path = topicPath(c.topic, partition)
  const sends = await Promise.all(c.requests.map(async (r): Promise<{ s: Sent; r: ConcurrentReq }> => {
    if (!r.binary) return { r, s: { method: 'POST', path, contentType: 'application/json', body: JSON.stringify({ records: r.records }) } }
    stats.batches += r.batches.length
    const pid = r.batches.some((b) => b.idempotent) ? await producerId() : -1
    return { r, s: { method: 'POST', path, contentType: RECORD_BATCH, body: await applyMutation(await buildPieces(r.batches, pid), r.mutation) } }
  }))
  const all: Sent = { method: 'POST', path, body: sends.map(({ s }) => describeSent(s)).join('\n  ') }
  const before = await snap(topic)
  const answers = await Promise.all(sends.map(({ s }) => send(s)))
  tally('concurrent', answers.map(outcome).sort().join(' + '))
  // offset -> who claimed it
  const claims = new Map<number, { batch?: Uint8Array; base?: number; record?: Record<string, unknown> }>()
  const claim = (offset: number, what: { batch?: Uint8Array; base?: number; record?: Record<string, unknown> }) => {
    if (claims.has(offset)) violation('mismatched', `offset ${offset} answered to two requests`, all, answers.map((a) => a.json))
    claims.set(offset, what)
  }
  answers.forEach((a, i) => {
    const { s, r } = sends[i]
    checkAnswer(s, a)
    if (r.binary) {
      const answered = a.json?.batches
      if (!Array.isArray(answered)) return
      const pieces = splitBatches(s.body as Uint8Array)
      answered.forEach((x: any, j: number) => {
        if (x?.error !== undefined) return checkInnerError(s, x.error)
        for (let o = x.baseOffset; o <= x.lastOffset; o++) claim(o, { batch: pieces[j], base: x.baseOffset })
      })
    } else {
      const answered = a.json?.offsets
      if (!Array.isArray(answered)) return
      const stored = answered.filter((o: any) => o?.error === undefined)
      if (stored.length > 0 && stored.length !== answered.length) violation('refusedButStored', 'a JSON request stored in part', s, a.json)
      answered.forEach((o: any, j: number) => { if (o?.error === undefined) claim(o.offset, { record: r.records[j] }) })
    }
  })
  const after = await snap(topic)
  const hw = before.hw[partition]
  const added = after.hw[partition] - hw
  if (added !== claims.size || after.latest[partition] !== after.hw[partition] || [...claims.keys()].some((o) => o < hw || o >= after.hw[partition])) {
    violation(claims.size === 0 ? 'refusedButStored' : 'mismatched', `high watermark ${hw} -> ${after.hw[partition]}, answered ${claims.size} offsets: ${[...claims.keys()].sort((x, y) => x - y).join(',')}`, all, answers.map((a) => a.json))
  }
  if (claims.size === 0) return
  const stored = await fetchStored(topic, partition, hw)
  for (const [base, bytes] of stored) {
    const { records } = await decodeBatch(bytes)
    for (const rec of records) {
      const who = claims.get(rec.offset)
      if (!who) return violation('mismatched', `offset ${rec.offset} stored, answered to nobody`, all, answers.map((a) => a.json))
      if (who.batch ? !(who.base === base && sameStoredBatch(who.batch, bytes, base, isLogAppendTime(c.topic))) : !sameJsonRecord(who.record!, rec, 'utf8', isLogAppendTime(c.topic))) {
        violation('mismatched', `offset ${rec.offset} holds another request's record`, all, { stored: jsonOf(rec), claimed: who.record ?? hex(who.batch!) })
      }
    }
  }
}

// ------------------------------------------------------------------------------------------ routes

const VALID_TOPIC = /^[a-zA-Z0-9._-]{1,249}$/
const isValidTopic = (t: string) => VALID_TOPIC.test(t) && t !== '.' && t !== '..'
/** Topic path segments: the scratch topics mostly; odd names that are refused, never a new valid name (no auto-created topic sprawl). */
const topicSeg = fc.oneof(
  { weight: 24, arbitrary: fc.constantFrom(...SCRATCH) },
  { weight: 2, arbitrary: fc.constantFrom('', '.', '..', '%2e', '%2e%2e', 'a%20b', 'a%2Fb', '%E2%82%AC', '%00', '%ZZ', '%', 'x'.repeat(250), 'fz-a%3Fx', 'fz-a;x', '~', 'fz-*', 'FZ-A') },
  { weight: 1, arbitrary: fc.string({ maxLength: 12 }).filter((t) => !isValidTopic(t)).map(encodeURIComponent) },
)
const topicName = v(fc.constantFrom(...SCRATCH), fc.oneof(
  fc.constantFrom<unknown>('', '.', '..', 'a b', 'x'.repeat(250), 'é', 5, null, ['fz-a'], {}, true),
  fc.string({ maxLength: 12 }).filter((t) => !isValidTopic(t)),
))
const partitionSeg = v(fc.constantFrom('0', '0', '0', '1', '2'), fc.constantFrom('3', '-1', '01', '1.0', '1e2', '0x1', '9007199254740993', '99999999999999999999', 'abc', '%20', '%2D1', ' 0', '10000'), 6)
const groupSeg = v(fc.constantFrom(...GROUPS), fc.constantFrom('x'.repeat(256), '%00', '%E2%82%AC', 'a%2Fb', '%ZZ', 'fz-g1%20'))
const offsetQ = v(fc.oneof(fc.nat(30).map(String), fc.constantFrom('earliest', 'latest')), fc.constantFrom('-1', 'EARLIEST', 'abc', '1e3', '1.5', '9007199254740992', '9007199254740993', '99999999999999999999999', '', ' 1', '0x10', '+1', '100000'), 5)
const maxBytesQ = v(fc.constantFrom('1', '100', '1000', '1048576', '67108864'), fc.constantFrom('0', '-5', '67108865', 'abc', '', '1.5', '99999999999999999999'), 5)
/** Waits stay short: a parked fetch or tail never holds the run for long. */
const waitQ = v(fc.constantFrom('0', '1', '20', '50'), fc.constantFrom('-1', '60001', 'abc', '', '1.5'), 5)
const minBytesQ = v(fc.constantFrom('1', '100', '1000000'), fc.constantFrom('0', '-1', 'x', ''), 5)
const encodingQ = v(fc.constantFrom('utf8', 'base64'), fc.constantFrom('utf-8', 'hex', '', 'UTF8'), 5)
const atQ = v(fc.constantFrom('earliest', 'latest', '0', '1700000000000', String(2 ** 42)), fc.constantFrom('-1', 'abc', '9999999999999999', '', '1.5', '8640000000000001'), 5)
const partitionsQ = v(fc.constantFrom('0', '0,1', '0,1,2'), fc.constantFrom('5', '-1', 'a', '', ',', '0,,1', '0,0', '9007199254740993'), 5)
const limitQ = v(fc.constantFrom('1', '2', '5'), fc.constantFrom('0', '-1', 'x', ''), 5)

function query(entries: Array<[string, string | undefined]>): string {
  const parts = entries.filter((e): e is [string, string] => e[1] !== undefined).map(([k, val]) => `${k}=${encodeURIComponent(val)}`)
  return parts.length ? `?${parts.join('&')}` : ''
}
const opt = <T>(arb: fc.Arbitrary<T>) => fc.option(arb, { nil: undefined, freq: 2 })

const configValue = (name: string): fc.Arbitrary<unknown> => {
  const good: Record<string, fc.Arbitrary<unknown>> = {
    'retention.ms': fc.constantFrom('-1', '86400000', 604800000, '1000'),
    'retention.bytes': fc.constantFrom('-1', '1000000', 1048576),
    'segment.bytes': fc.constantFrom('1048576', 1073741824, '14'),
    'segment.ms': fc.constantFrom('604800000', 3600000),
    'cleanup.policy': fc.constantFrom('delete', 'compact', 'compact,delete'),
    'max.message.bytes': fc.constantFrom('1048588', 2000, '100'),
    'min.compaction.lag.ms': fc.constantFrom('0', 1000),
    'delete.retention.ms': fc.constantFrom('86400000', 0),
    'message.timestamp.type': fc.constantFrom('CreateTime', 'LogAppendTime'),
  }
  return v(Object.hasOwn(good, name) ? good[name] : fc.constant('1'), fc.constantFrom<unknown>('-2', '0', 'x', '', null, -5, 1.5, true, {}, [], '1e3', '99999999999999999999', 'delete,compact', 'compact ', 'createtime'), 4)
}
const configName = v(fc.constantFrom('retention.ms', 'retention.bytes', 'segment.bytes', 'segment.ms', 'cleanup.policy', 'max.message.bytes', 'min.compaction.lag.ms', 'delete.retention.ms', 'message.timestamp.type'), fc.constantFrom('unknown.config', '', '__proto__', 'constructor', 'toString'), 6)
const config = v(
  fc.array(configName.chain((name) => configValue(name).map((value) => [name, value] as const)), { maxLength: 3 }).map((entries) => Object.fromEntries(entries)),
  fc.constantFrom<unknown>(null, 'x', 5, [], [{ name: 'retention.ms', value: '1' }]),
  6,
)
const partitionCount = v(fc.constantFrom(1, 2, 3, 4), fc.constantFrom<unknown>(0, -1, 1.5, 10_001, '2', null, 1e300, true, 2 ** 53), 4)
const anyJson = fc.jsonValue({ maxDepth: 3 })
/** Stands for a member id (and its epoch) the group gave out earlier in the run. */
const MEMBER = '$member'

interface RouteReq extends Sent {
  label: string
  topic?: string
  group?: string
  replicaBatches?: { from: number; specs: BatchSpec[]; gap: number; mutation: Mut }
}

const json = (label: string, method: string, path: string, body: unknown, extra: Partial<RouteReq> = {}): RouteReq =>
  ({ label, method, path, body: JSON.stringify(body), contentType: 'application/json', ...extra })

const routeArb: fc.Arbitrary<RouteReq> = fc.oneof(
  fc.constant<RouteReq>({ label: 'health', method: 'GET', path: '/v1/health' }),
  fc.constant<RouteReq>({ label: 'openapi', method: 'GET', path: '/v1/openapi.json' }),
  fc.constant<RouteReq>({ label: 'cluster', method: 'GET', path: '/v1/cluster' }),
  opt(anyJson).map((b): RouteReq => b === undefined ? { label: 'producers', method: 'POST', path: '/v1/producers' } : json('producers', 'POST', '/v1/producers', b)),
  fc.constant<RouteReq>({ label: 'maintenance', method: 'POST', path: '/v1/maintenance' }),
  fc.record({ topics: opt(v(fc.array(topicName, { maxLength: 3 }), fc.constantFrom<unknown>('fz-a', 5, null, {}))), allowAutoTopicCreation: opt(v(fc.boolean(), fc.constantFrom<unknown>('true', 1, null))) })
    .map((b) => json('metadata', 'POST', '/v1/metadata', b)),
  fc.constant<RouteReq>({ label: 'topics', method: 'GET', path: '/v1/topics' }),
  fc.record({ name: topicName, partitions: opt(partitionCount), config: opt(config) }, { requiredKeys: [] })
    .map((b) => json('create', 'POST', '/v1/topics', b, { topic: typeof b.name === 'string' ? b.name : undefined })),
  fc.record({
    topics: v(fc.array(fc.record({
      topic: topicName,
      numPartitions: opt(partitionCount),
      replicationFactor: opt(v(fc.constantFrom(1, -1), fc.constantFrom<unknown>(3, 0, 'x'))),
      configEntries: opt(v(fc.array(configName.chain((name) => configValue(name).map((value) => ({ name, value }))), { maxLength: 2 }), fc.constantFrom<unknown>({}, 'x', [null], [5], [{ name: 5 }]))),
      assignments: opt(fc.constantFrom<unknown>([], {}, [{ partition: 0, brokerIds: [0] }])),
    }, { requiredKeys: ['topic'] }), { maxLength: 3 }), fc.constantFrom<unknown>([null], [5], ['fz-a'], [[]])),
    validateOnly: opt(v(fc.boolean(), fc.constantFrom<unknown>('yes', 1))),
  }).map((b) => json('create-batch', 'POST', '/v1/topics', b)),
  topicSeg.map((t): RouteReq => ({ label: 'describe', method: 'GET', path: `/v1/topics/${t}`, topic: t })),
  fc.record({ t: topicSeg, body: fc.record({ partitions: opt(partitionCount), config: opt(config) }, { requiredKeys: [] }) })
    .map(({ t, body }) => json('patch', 'PATCH', `/v1/topics/${t}`, body, { topic: t })),
  topicSeg.map((t): RouteReq => ({ label: 'delete', method: 'DELETE', path: `/v1/topics/${t}`, topic: t })),
  topicSeg.map((t): RouteReq => ({ label: 'topic-maintenance', method: 'POST', path: `/v1/topics/${t}/maintenance`, topic: t })),
  fc.record({ t: topicSeg, at: opt(atQ), partitions: opt(partitionsQ) })
    .map(({ t, at, partitions }): RouteReq => ({ label: 'offsets', method: 'GET', path: `/v1/topics/${t}/offsets${query([['at', at], ['partitions', partitions]])}`, topic: t })),
  fc.record({ t: topicSeg, p: partitionSeg, at: opt(atQ) })
    .map(({ t, p, at }): RouteReq => ({ label: 'partition-offsets', method: 'GET', path: `/v1/topics/${t}/partitions/${p}/offsets${query([['at', at]])}`, topic: t })),
  fc.record({ t: topicSeg, p: partitionSeg, offset: opt(offsetQ), maxBytes: opt(maxBytesQ), maxWaitMs: opt(waitQ), minBytes: opt(minBytesQ), encoding: opt(encodingQ), binary: fc.boolean() })
    .map((q): RouteReq => ({
      label: 'fetch', method: 'GET', topic: q.t, headers: q.binary ? { accept: RECORD_BATCH } : undefined,
      path: `/v1/topics/${q.t}/partitions/${q.p}/records${query([['offset', q.offset], ['maxBytes', q.maxBytes], ['maxWaitMs', q.maxWaitMs], ['minBytes', q.minBytes], ['encoding', q.encoding]])}`,
    })),
  fc.record({
    t: topicSeg, p: partitionSeg, offset: opt(offsetQ), limit: opt(limitQ), maxWaitMs: opt(v(fc.constantFrom('1', '20', '50'), fc.constantFrom('0', '-1', '60001', 'abc', '1.5'))), encoding: opt(encodingQ),
    lastEventId: opt(v(fc.nat(20).map(String), fc.constantFrom('-1', 'abc', '9007199254740993', '', '-2'), 4)), token: opt(fc.constantFrom('x', '')),
  }).map((q): RouteReq => ({
    label: 'tail', method: 'GET', topic: q.t, headers: q.lastEventId !== undefined ? { 'last-event-id': q.lastEventId } : undefined,
    // No maxWaitMs means the default 25 s idle wait: give one so that the stream moves.
    path: `/v1/topics/${q.t}/partitions/${q.p}/tail${query([['offset', q.offset], ['limit', q.limit], ['maxWaitMs', q.maxWaitMs ?? '20'], ['encoding', q.encoding], ['access_token', q.token]])}`,
  })),
  fc.record({
    t: topicSeg, p: opt(partitionSeg), acks: opt(fc.constantFrom(...ACKS.filter((x) => x !== undefined))), odd: fc.boolean(),
  }).chain((q) => fc.record({
    encoding: opt(v(fc.constant('base64'), fc.constantFrom('hex', ''))),
    records: fc.array(jsonRecordArb('utf8', 1, q.odd), { minLength: 1, maxLength: 3 }),
  }).map(({ encoding, records }) => json('produce', 'POST',
    `/v1/topics/${q.t}${q.p === undefined ? '' : `/partitions/${q.p}`}/records${query([['acks', q.acks], ['encoding', encoding]])}`,
    { records: encoding === 'base64' ? records.map((r) => ({ ...r, key: typeof r.key === 'string' ? b64(te.encode(r.key)) : r.key, value: typeof r.value === 'string' ? b64(te.encode(r.value)) : r.value, headers: undefined })) : records },
    { topic: q.t }))),
  fc.constant<RouteReq>({ label: 'groups', method: 'GET', path: '/v1/groups' }),
  groupSeg.map((g): RouteReq => ({ label: 'group', method: 'GET', path: `/v1/groups/${g}` })),
  groupSeg.map((g): RouteReq => ({ label: 'group-delete', method: 'DELETE', path: `/v1/groups/${g}` })),
  fc.record({
    g: groupSeg,
    body: fc.record({
      groupId: opt(v(fc.constant('fz-g1'), fc.constantFrom<unknown>('other', 5, null))),
      memberId: v(fc.constantFrom(MEMBER, MEMBER, ''), fc.constantFrom<unknown>('nobody', 5, null, 'x'.repeat(300)), 6),
      memberEpoch: v(fc.constantFrom<unknown>(0, MEMBER, MEMBER, -1), fc.constantFrom<unknown>(-2, 1, 5, 1.5, '0', null, 1e300, -1e300, undefined), 6),
      instanceId: opt(v(fc.constantFrom<unknown>(null, 'i1'), fc.constantFrom<unknown>('', 5), 4)),
      clientId: opt(v(fc.constant('c'), fc.constantFrom<unknown>('', 5, null))),
      rackId: opt(v(fc.constantFrom<unknown>(null, 'r'), fc.constant(5))),
      rebalanceTimeoutMs: opt(v(fc.constantFrom(1000, 60000), fc.constantFrom<unknown>(0, -1, 1.5, 'x', 1e300))),
      sessionTimeoutMs: opt(v(fc.constantFrom(45000, 10000), fc.constantFrom<unknown>(0, 1, -1, 1.5, 'x', 1e300))),
      subscribedTopicNames: opt(v(fc.array(topicName, { minLength: 1, maxLength: 3 }), fc.constantFrom<unknown>(null, 'fz-a', 5, {}, []))),
      subscribedTopicRegex: opt(v(fc.constantFrom<unknown>(null, 'fz-.*', 'fz-[ab]'), fc.constantFrom<unknown>('(', '[', '*', '(a+)+$', '', 5, '\\', '(?<', 'x'.repeat(5000)), 3)),
      serverAssignors: opt(v(fc.array(fc.constantFrom<unknown>('range', 'roundrobin', 'cooperative-sticky'), { minLength: 1, maxLength: 3 }), fc.oneof(fc.array(fc.constantFrom<unknown>('uniform', 'bogus', '', 5, null), { maxLength: 2 }), fc.constantFrom<unknown>(null, 'range', 5, {})))),
      serverAssignor: opt(fc.constantFrom<unknown>('range', 'bogus', 5)),
      topicPartitions: opt(v(
        fc.array(fc.record({ topic: fc.constantFrom(...SCRATCH), topicId: opt(fc.constant('x')), partitions: fc.array(fc.nat(2), { maxLength: 3 }) }, { requiredKeys: ['topic', 'partitions'] }), { maxLength: 2 }),
        fc.oneof(
          fc.array(fc.record({ topicId: opt(fc.constantFrom<unknown>('x', 5, null)), topic: opt(topicName), partitions: opt(fc.oneof(fc.array(fc.constantFrom<unknown>(0, 1, -1, 1.5, '0', null, 99), { maxLength: 3 }), fc.constantFrom<unknown>(null, 5, 'x'))) }, { requiredKeys: [] }), { maxLength: 2 }),
          fc.constantFrom<unknown>(null, 'x', 5, {}, [null], [5]),
        ), 3)),
    }, { requiredKeys: ['memberId', 'memberEpoch'] }),
  }).map(({ g, body }) => json('heartbeat', 'POST', `/v1/groups/${g}/heartbeat`, body, { group: g })),
  fc.record({
    g: groupSeg,
    body: fc.record({
      memberId: opt(v(fc.constantFrom(MEMBER, ''), fc.constantFrom<unknown>('m1', 5, null))),
      memberEpoch: opt(v(fc.constantFrom<unknown>(MEMBER, -1), fc.constantFrom<unknown>(0, 1, 1.5, 'x', null))),
      offsets: v(
        fc.array(fc.record({
          topic: topicName,
          partition: v(fc.nat(2), fc.constantFrom<unknown>(5, -1, 1.5, '0', null, 1e300)),
          offset: v(fc.nat(50), fc.constantFrom<unknown>(-1, -2, 1.5, '3', null, 2 ** 53, 1e300)),
          metadata: opt(v(fc.constantFrom<unknown>('', 'm', null), fc.constantFrom<unknown>(5, 'x'.repeat(5000)))),
          leaderEpoch: opt(fc.constantFrom<unknown>(-1, 0, 'x')),
        }, { requiredKeys: ['topic', 'partition', 'offset'] }), { minLength: 1, maxLength: 3 }),
        fc.constantFrom<unknown>(null, {}, 'x', [null], [5], [{}], []),
      ),
    }, { requiredKeys: [] }),
  }).map(({ g, body }) => json('commit', 'POST', `/v1/groups/${g}/offsets`, body, { group: g })),
  fc.record({ g: groupSeg, topics: opt(v(fc.constantFrom('fz-a', 'fz-a,fz-b'), fc.constantFrom(',', 'bad name', '', 'x'.repeat(250), '..', 'fz-a,,fz-c'))) })
    .map(({ g, topics }): RouteReq => ({ label: 'group-offsets', method: 'GET', path: `/v1/groups/${g}/offsets${query([['topics', topics]])}` })),
  ...replicaRoutes(),
  fc.constantFrom<RouteReq>(
    { label: 'odd-path', method: 'GET', path: '/v1/' }, { label: 'odd-path', method: 'GET', path: '/v1//topics' }, { label: 'odd-path', method: 'GET', path: '/v1/topics/' },
    { label: 'odd-path', method: 'GET', path: '/v1/topics/fz-a/partitions/0/records/extra' }, { label: 'odd-path', method: 'GET', path: '/V1/topics' },
    { label: 'odd-path', method: 'GET', path: '/v1/topics/fz-a/partitions//records' }, { label: 'odd-path', method: 'GET', path: '/v1/topics/fz-a/partitions' },
    { label: 'odd-path', method: 'POST', path: '/v1/topics/fz-a/partitions/0' }, { label: 'odd-path', method: 'GET', path: '/v1/topics/..%2f..%2fv1%2fcluster' },
    { label: 'odd-path', method: 'GET', path: '/v1/groups/' }, { label: 'odd-path', method: 'GET', path: '/v1/topics?%%%&&==&a=%ZZ' },
    { label: 'odd-path', method: 'GET', path: '/v1/topics/fz-a/partitions/0/records?offset=0&offset=1&maxBytes=1&maxBytes=x' },
    { label: 'odd-path', method: 'GET', path: '/v1/topics/fz-a/partitions/0/tail?offset=0&limit=1&access_token=%ZZ' },
    { label: 'odd-path', method: 'GET', path: '/v1' }, { label: 'odd-path', method: 'GET', path: '/' },
  ),
)

/** /v1/replicas: a replica topic's creation, status, appends of the leader's batches at their offsets, and resets. */
function replicaRoutes(): Array<fc.Arbitrary<RouteReq>> {
  const name = v(fc.constantFrom(...REPLICAS), fc.oneof(fc.constantFrom(...SCRATCH), fc.constantFrom('', '..', 'a%20b', 'x'.repeat(250))), 6)
  const topicId = v(fc.constantFrom(...REPLICA_IDS), fc.constantFrom<unknown>('', 5, null, 'x'.repeat(300), 'other-id'), 6)
  const offsetish = v(fc.nat(40), fc.constantFrom<unknown>(-1, 1.5, '3', null, 2 ** 53, 1e300))
  const offsetQuery = v(fc.nat(40).map(String), fc.constantFrom('-1', '1.5', 'x', '', '9007199254740993'))
  // The leader's batches: baseOffsets as the leader stored them, contiguous or not, sometimes mutated.
  const batches = fc.record({ from: fc.nat(30), specs: fc.array(batchSpecArb, { minLength: 1, maxLength: 3 }), gap: fc.constantFrom(0, 0, 0, 1, -1), mutation: v(fc.constant<Mut>({ kind: 'none' }), mutArb, 3) })
  return [
    fc.record({ t: name, body: fc.record({ topicId, partitions: v(fc.constantFrom(1, 2), fc.constantFrom<unknown>(0, -1, 1.5, '2', null, 10_001)), config: opt(config), source: opt(v(fc.constant('fz-source'), fc.constantFrom<unknown>('', 5, null))) }, { requiredKeys: ['topicId', 'partitions'] }) })
      .map(({ t, body }) => json('replica-put', 'PUT', `/v1/replicas/${t}`, body, { topic: t })),
    name.map((t): RouteReq => ({ label: 'replica-status', method: 'GET', path: `/v1/replicas/${t}`, topic: t })),
    fc.record({ t: name, p: partitionSeg, topicId: v(fc.constantFrom(...REPLICA_IDS), fc.constantFrom(undefined, '', 'other-id'), 6), logStartOffset: opt(offsetQuery), highWatermark: opt(offsetQuery), batches })
      .map((q): RouteReq => ({
        label: 'replica-append', method: 'POST', topic: q.t, contentType: RECORD_BATCH, replicaBatches: q.batches,
        path: `/v1/replicas/${q.t}/partitions/${q.p}/records${query([['topicId', typeof q.topicId === 'string' ? q.topicId : q.topicId === undefined ? undefined : String(q.topicId)], ['logStartOffset', q.logStartOffset], ['highWatermark', q.highWatermark]])}`,
      })),
    fc.record({ t: name, p: partitionSeg, body: fc.record({ topicId, logStartOffset: offsetish, highWatermark: offsetish }, { requiredKeys: ['topicId', 'logStartOffset', 'highWatermark'] }) })
      .map(({ t, p, body }) => json('replica-reset', 'POST', `/v1/replicas/${t}/partitions/${p}/reset`, body, { topic: t })),
  ]
}

/** The leader's batches of a replica-append case, at their offsets (encoded when the case runs). */
async function replicaBody(b: NonNullable<RouteReq['replicaBatches']>): Promise<Uint8Array> {
  const pieces = await buildPieces(b.specs, -1)
  let next = b.from
  for (const piece of pieces) {
    const view = new DataView(piece.bytes.buffer, piece.bytes.byteOffset)
    view.setBigInt64(0, BigInt(Math.max(0, next)))
    next += view.getInt32(57) + b.gap
  }
  return applyMutation(pieces, b.mutation)
}

/** Odd methods, content types, bodies and headers over the route requests. */
const routeCaseArb = fc.record({
  req: routeArb,
  method: v(fc.constant(undefined), fc.constantFrom('GET', 'POST', 'PATCH', 'DELETE', 'PUT', 'OPTIONS', 'HEAD', 'PROPFIND', 'PURGE'), 14),
  contentType: v(fc.constant(undefined), fc.constantFrom('', 'text/plain', 'application/json; charset=latin1', 'APPLICATION/JSON', RECORD_BATCH, 'application/octet-stream', 'multipart/form-data; boundary=x', 'application/x-www-form-urlencoded'), 12),
  body: fc.oneof(
    { weight: 14, arbitrary: fc.constant(undefined) },
    { weight: 1, arbitrary: anyJson.map((x) => JSON.stringify(x)) },
    { weight: 1, arbitrary: fc.constantFrom('{', '}', '[1,', '{"a":1}x', '\ufeff{}', '\u0000', 'null', '"str"', '[]', '{"__proto__":{"x":1}}', '9'.repeat(400), '['.repeat(5000) + ']'.repeat(5000), '{"a":' + '1'.repeat(400) + '}', '{"memberEpoch":0,"memberId":{"toString":1}}') },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 64 }) },
  ),
  origin: v(fc.constant(undefined), fc.constantFrom('https://example.com', 'null')),
  authorization: v(fc.constant(undefined), fc.constantFrom('Bearer x', 'Basic abc', 'Bearer', ''), 12),
})

type RouteCase = typeof routeCaseArb extends fc.Arbitrary<infer T> ? T : never

/** Members the groups gave out (by group), so that heartbeats and commits reach past "unknown member". */
const members = new Map<string, { memberId: string; memberEpoch: number }>()

/** The body with `$member` placeholders replaced by a member the group knows (or a fresh join). */
function withMember(r: RouteReq, body: Uint8Array | string | undefined): Uint8Array | string | undefined {
  if (typeof body !== 'string' || !body.includes(MEMBER) || r.group === undefined) return body
  const m = members.get(r.group)
  const parsed = JSON.parse(body)
  if (parsed.memberId === MEMBER) parsed.memberId = m?.memberId ?? ''
  if (parsed.memberEpoch === MEMBER) parsed.memberEpoch = m?.memberEpoch ?? 0
  return JSON.stringify(parsed)
}

async function routeCase(c: RouteCase): Promise<void> {
  stats.cases++
  stats.routes++
  const r = c.req as RouteReq
  const body = r.replicaBatches ? await replicaBody(r.replicaBatches) : withMember(r, r.body)
  const s: Sent = { method: c.method ?? r.method, path: r.path, contentType: c.contentType ?? r.contentType, headers: { ...r.headers }, body: c.body ?? body }
  if (c.origin !== undefined) s.headers!.origin = c.origin
  if (c.authorization !== undefined) s.headers!.authorization = c.authorization
  // A refusal of a request on a scratch topic leaves it as it was (records, partitions, config).
  const topic = r.topic !== undefined && (SCRATCH.includes(r.topic) || REPLICAS.includes(r.topic)) ? r.topic : undefined
  const before = topic && s.method !== 'GET' && s.method !== 'HEAD' ? await snap(topic) : undefined
  const a = await send(s, { sseMs: 150 })
  tally(`route ${r.label}`, `${s.method === r.method ? '' : `${s.method} `}${outcome(a)}`)
  checkAnswer(s, a)
  if (r.label === 'heartbeat' && a.status === 200 && r.group !== undefined && typeof a.json?.memberId === 'string') {
    if (a.json.memberEpoch >= 0) members.set(r.group, { memberId: a.json.memberId, memberEpoch: a.json.memberEpoch })
    else members.delete(r.group)
  }
  if (a.status === 200 && a.contentType.startsWith('text/event-stream')) {
    for (const m of a.text.matchAll(/event: error\ndata: (.*)\n/g)) {
      let e: any
      try { e = JSON.parse(m[1]) } catch { e = m[1] }
      checkInnerError(s, e)
    }
  }
  if (before && a.status >= 400 && !(a.json?.offsets || a.json?.batches)) {
    const after = await snap(topic!)
    // A produce to a missing topic may create it (auto.create.topics.enable), empty.
    const created = !before.exists && after.exists && after.hw.every((h) => h === 0)
    if (!sameSnap(before, after) && !created) violation('refusedButStored', `${r.label} refused (${a.status} ${a.json?.error?.code}) but ${topic} changed`, s, { before, after })
  }
}

// ------------------------------------------------------------------------------------------ the runs

const runOptions = (k: number, numRuns: number) => ({ seed: SEED + k, numRuns })

/** Inputs the fuzzing found bugs with, kept as named cases (see the report of issue 13). */
const batch = (tag: string, n = 2) => encodeBatch(Array.from({ length: n }, (_, i) => ({ key: null, value: te.encode(`${tag}${i}`), timestamp: 1000 + i })))

describe('worker fuzz: regressions', () => {
  it('a refused batch without a readable header (bad magic) beside stored ones: answered per batch, not a bare 400 after storing', async () => {
    // Found as: batches concatenated, the magic byte of one set to another value (CRC fixed or not).
    // The route read every batch's header for its record count after the partition had stored
    // the good ones, so the bad one threw CORRUPT_MESSAGE: a 400 with no `batches`, and the
    // records of the others stored. Now each batch is answered, the stored ones with offsets.
    const kind: VerifyKind = 'plain'
    const bad = batch('x')
    bad[16] = 3
    setCrc(bad)
    const body = concat([batch('a'), bad, batch('b', 3)])
    const s: Sent = { method: 'POST', path: topicPath(kind, 1), contentType: RECORD_BATCH, body }
    const before = await snap(VERIFY[kind].name)
    const a = await send(s)
    checkAnswer(s, a)
    expect(a.status).toBe(400)
    expect(a.json.batches.map((b: any) => b.error?.code ?? b.records)).toEqual([2, 'CORRUPT_MESSAGE', 3])
    await verifyBinary(kind, 1, before, body, s, a)
  })

  it('the Kafka-shaped create with configEntries that are not a list of { name, value }: 400 INVALID_CONFIG, nothing created', async () => {
    // Found as: POST /v1/topics {"topics":[{"topic":"fz-c","numPartitions":4,"replicationFactor":-1,"configEntries":{}}]}
    // answered 500 UNKNOWN_SERVER_ERROR "(entries ?? []) is not iterable" ([null]: "Cannot destructure property 'name'").
    for (const configEntries of [{}, [null], [5], 'x', [{ name: 5, value: '1' }]]) {
      const topic = `fzr-create-${RUN}`
      const s: Sent = { method: 'POST', path: '/v1/topics', contentType: 'application/json', body: JSON.stringify({ topics: [{ topic, numPartitions: 1, configEntries }] }) }
      const a = await send(s)
      checkAnswer(s, a)
      expect([JSON.stringify(configEntries), a.status, a.json?.error?.code]).toEqual([JSON.stringify(configEntries), 400, 'INVALID_CONFIG'])
      expect((await call('GET', `/v1/topics/${topic}`)).status).toBe(404)
    }
  })

  it('config names only `in` finds on every object (constructor, toString, __proto__): 400 INVALID_CONFIG, not accepted and ignored', async () => {
    // Seen while looking at the one above: `name in TOPIC_CONFIG_DEFAULTS` is true for inherited
    // names, so PATCH {"config":{"constructor":null}} answered 200 and created topics with them.
    const topic = `fzr-config-${RUN}`
    expect((await call('POST', '/v1/topics', { name: topic })).status).toBe(201)
    const before = await snap(topic)
    for (const name of ['constructor', 'toString', '__proto__', 'hasOwnProperty']) {
      const patch = await send({ method: 'PATCH', path: `/v1/topics/${topic}`, contentType: 'application/json', body: `{"config":{${JSON.stringify(name)}:null}}` })
      expect([name, patch.status, patch.json?.error?.code]).toEqual([name, 400, 'INVALID_CONFIG'])
      const create = await send({ method: 'POST', path: '/v1/topics', contentType: 'application/json', body: `{"name":"${topic}-2","config":{${JSON.stringify(name)}:"1"}}` })
      expect([name, create.status, create.json?.error?.code]).toEqual([name, 400, 'INVALID_CONFIG'])
      const kafka = await send({ method: 'POST', path: '/v1/topics', contentType: 'application/json', body: JSON.stringify({ topics: [{ topic: `${topic}-3`, configEntries: [{ name, value: null }] }] }) })
      expect([name, kafka.status, kafka.json?.error?.code]).toEqual([name, 400, 'INVALID_CONFIG'])
    }
    expect(sameSnap(before, await snap(topic))).toBe(true)
    expect((await call('GET', `/v1/topics/${topic}-2`)).status).toBe(404)
    expect((await call('GET', `/v1/topics/${topic}-3`)).status).toBe(404)
  })

  it('a heartbeat whose topicPartitions is not an array of objects: 400 INVALID_REQUEST, no member joins', async () => {
    // Found as (seed 202): POST /v1/groups/fz-g1/heartbeat {"groupId":"fz-g1","memberId":"","memberEpoch":0,"clientId":5,
    // "subscribedTopicNames":["fz-a","fz-a","fz-c"],"subscribedTopicRegex":"fz-[ab]","serverAssignors":["roundrobin"],"topicPartitions":{}}
    // answered 500 UNKNOWN_SERVER_ERROR "(list ?? []) is not iterable".
    const group = `fzr-group-${RUN}`
    for (const topicPartitions of [{}, 5, 'x', [null], [5], [[]]]) {
      const s: Sent = { method: 'POST', path: `/v1/groups/${group}/heartbeat`, contentType: 'application/json', body: JSON.stringify({ memberId: '', memberEpoch: 0, subscribedTopicNames: [SCRATCH[0]], topicPartitions }) }
      const a = await send(s)
      checkAnswer(s, a)
      expect([JSON.stringify(topicPartitions), a.status, a.json?.error?.code]).toEqual([JSON.stringify(topicPartitions), 400, 'INVALID_REQUEST'])
    }
    expect((await call('GET', `/v1/groups/${group}`)).json?.error?.code).toBe('GROUP_ID_NOT_FOUND')
  })

  it('a heartbeat with a session or rebalance timeout past int32 (1e300): 400, and the group stays usable', async () => {
    // Found as (seed 909): POST /v1/groups/fz-g2/heartbeat {"memberId":"…","memberEpoch":1,"instanceId":null,
    // "clientId":"c","sessionTimeoutMs":1e+300} was accepted (1e300 is an integer to Number.isInteger); the
    // group object then set its alarm at that deadline: 500 "This API doesn't support dates after 2189."
    // for that request and for every later one touching the group, GET /v1/groups included.
    const group = `fzr-timeout-${RUN}`
    const join = await call('POST', `/v1/groups/${group}/heartbeat`, { memberId: '', memberEpoch: 0, subscribedTopicNames: [SCRATCH[0]] })
    expect(join.status).toBe(200)
    for (const [field, code] of [['sessionTimeoutMs', 'INVALID_SESSION_TIMEOUT'], ['rebalanceTimeoutMs', 'INVALID_REQUEST']] as const) {
      for (const value of [1e300, 2 ** 31, 2 ** 53]) {
        const s: Sent = { method: 'POST', path: `/v1/groups/${group}/heartbeat`, contentType: 'application/json', body: JSON.stringify({ memberId: join.json.memberId, memberEpoch: join.json.memberEpoch, [field]: value }) }
        const a = await send(s)
        checkAnswer(s, a)
        expect([field, value, a.status, a.json?.error?.code]).toEqual([field, value, 400, code])
      }
    }
    expect((await call('GET', `/v1/groups/${group}`)).status).toBe(200)
    expect((await call('GET', '/v1/groups')).status).toBe(200)
    const leave = await call('POST', `/v1/groups/${group}/heartbeat`, { memberId: join.json.memberId, memberEpoch: -1 })
    expect(leave.status).toBe(200)
  })

  it('a JSON produce to a compacted topic with one keyless record: 400 INVALID_RECORD, nothing stored in any partition', async () => {
    // Found as (seed 707, the compacted topic with 2 partitions): POST /v1/topics/fzv-compact-…/records
    // {"records":[{"key":null,"value":"…","partition":1},{"key":"oStringisP","value":"'J",…},…]} answered
    // 400 INVALID_RECORD with `offsets` saying the records of partition 0 were stored: the JSON route
    // checks every record before sending anything, but left the key check to each partition.
    const kind: VerifyKind = 'compact'
    const body = JSON.stringify({ records: [{ key: 'k', value: 'a', partition: 0 }, { key: null, value: 'b', partition: 1 }, { key: 'k2', value: 'c', partition: 1 }] })
    for (const path of [topicPath(kind), topicPath(kind, 1)]) {
      const s: Sent = { method: 'POST', path, contentType: 'application/json', body: path.includes('/partitions/') ? body.replaceAll('"partition":0', '"partition":1') : body }
      const before = await snap(VERIFY[kind].name)
      const a = await send(s)
      checkAnswer(s, a)
      expect([a.status, a.json?.error?.code, a.json?.offsets]).toEqual([400, 'INVALID_RECORD', undefined])
      expect(sameSnap(before, await snap(VERIFY[kind].name))).toBe(true)
    }
  })
})

describe('worker fuzz', () => {
  it('binary produce: mutated record batches', async () => {
    await fc.assert(fc.asyncProperty(binaryCaseArb, guarded(binaryCase)), runOptions(1, RUNS.binary))
  })

  it('JSON produce: generated bodies', async () => {
    await fc.assert(fc.asyncProperty(jsonCaseArb, guarded(jsonCase)), runOptions(2, RUNS.json))
  })

  it('concurrent produce to one partition: binary and JSON requests at once', async () => {
    await fc.assert(fc.asyncProperty(concurrentCaseArb, guarded(concurrentCase)), runOptions(4, RUNS.concurrent))
  })

  it('every route: generated paths, queries, bodies, methods and content types', async () => {
    await fc.assert(fc.asyncProperty(routeCaseArb, guarded(routeCase)), runOptions(3, RUNS.routes))
  })

  it('edges: request limits and an inflating gzip batch are typed refusals that store nothing', async () => {
    const kind: VerifyKind = 'plain'
    const topic = VERIFY[kind].name
    const before = await snap(topic)
    const refusals: Array<[Sent, number, string]> = []
    // 100,001 JSON records (the limit is 100,000).
    refusals.push([{ method: 'POST', path: topicPath(kind), contentType: 'application/json', body: JSON.stringify({ records: Array.from({ length: 100_001 }, () => ({ value: '' })) }) }, 413, 'RECORD_LIST_TOO_LARGE'])
    // A binary body over EDGELOG_MAX_REQUEST_BYTES (8 MiB), valid batches all through.
    const one = batch('big', 1)
    const over = new Uint8Array(Math.ceil((8 * 1024 * 1024 + 1) / one.length) * one.length)
    for (let at = 0; at < over.length; at += one.length) over.set(one, at)
    refusals.push([{ method: 'POST', path: topicPath(kind, 0), contentType: RECORD_BATCH, body: over }, 413, 'RECORD_LIST_TOO_LARGE'])
    // A 32 KB gzip batch whose records inflate to 32 MB of zeros (a record length of 0).
    const plain = batch('z', 1)
    const bomb = concat([plain.subarray(0, BATCH_HEADER_BYTES), await gzip(new Uint8Array(32 * 1024 * 1024))])
    new DataView(bomb.buffer).setInt16(21, 1)
    setLength(bomb)
    setCrc(bomb)
    refusals.push([{ method: 'POST', path: topicPath(kind, 0), contentType: RECORD_BATCH, body: bomb }, 400, 'CORRUPT_MESSAGE'])
    for (const [s, status, code] of refusals) {
      const a = await send(s)
      checkAnswer(s, a)
      expect([a.status, a.json?.error?.code]).toEqual([status, code])
    }
    expect(sameSnap(before, await snap(topic))).toBe(true)
    // 5,000 one-record batches in one request: each stored, in order.
    const many = new Uint8Array(one.length * 5000)
    for (let i = 0; i < 5000; i++) many.set(one, i * one.length)
    const s: Sent = { method: 'POST', path: topicPath(kind, 0), contentType: RECORD_BATCH, body: many }
    const a = await send(s)
    checkAnswer(s, a)
    expect(a.status).toBe(200)
    await verifyBinary(kind, 0, before, many, s, a)
  })

  it('found nothing', () => {
    expect(problems).toEqual([])
    expect({ fiveHundreds: stats.fiveHundreds, refusedButStored: stats.refusedButStored, mismatched: stats.mismatched, untyped: stats.untyped })
      .toEqual({ fiveHundreds: 0, refusedButStored: 0, mismatched: 0, untyped: 0 })
  })
})
