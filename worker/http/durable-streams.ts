/**
 * The Durable Streams protocol (github.com/durable-streams/durable-streams, PROTOCOL.md) under
 * `/ds/`: a stream is `/ds/<path>`, and underneath it is partition 0 of the edgelog topic
 * `topicOfPath(path)` (`/ds/chat/room-1` → `ds.chat.room-1`), readable and writable through
 * `/v1` and edgelog's clients too, guarded by the same tokens. The stream's own state lives in
 * its partition object (worker/ds/partition-face.ts). See docs/durable-streams.md.
 */
import type { Hono } from 'hono'
import { EdgelogError, isEdgelogError } from '../../core/errors.ts'
import { EdgeBroker } from '../edge-broker.ts'
import type { EdgelogEnv } from '../env.ts'
import type { DsAnswer, DsOp, DsState, DsStreamConfig } from '../ds/partition-face.ts'
import {
  formatOffset, isJsonType, isTextType, parseExpiresAt, parseOffset, parseTtl, responseCursor, sseEvent, toBase64, topicOfPath,
} from '../ds/protocol.ts'
import { unwrap, type Result } from '../rpc.ts'
import { waitsInObject } from '../wait/client.ts'
import { DsWatch, longPollAtTail } from '../ds/wait.ts'
import { authenticate, requireTopic, type Principal } from './auth.ts'
import { DEFAULT_MAX_REQUEST_BYTES, intParam, statusOf } from './errors.ts'

type DsEnv = EdgelogEnv & {
  /** How long a long-poll (and each SSE wait) waits at the tail before answering, in ms (default 20000). */
  EDGELOG_DS_LONG_POLL_MS?: string
  /** How long one SSE response lasts before the server closes it (the client reconnects), in ms (default 60000). */
  EDGELOG_DS_SSE_MS?: string
}

export const DS_PREFIX = '/ds'
/** A binary append is stored as records of at most this many bytes. */
const CHUNK_BYTES = 1024 * 1024
/** Largest answer of one catch-up read (more: the client reads on from Stream-Next-Offset). */
const READ_BYTES = 1024 * 1024
/** The topics' config: kept for ever (the stream's TTL deletes it), batches up to 1 MiB of values. */
const TOPIC_CONFIG = [{ name: 'retention.ms', value: '-1' }, { name: 'max.message.bytes', value: '1900000' }]

const ALLOW_HEADERS = [
  'Authorization', 'Content-Type', 'If-None-Match', 'Last-Event-ID', 'Stream-Seq', 'Stream-TTL', 'Stream-Expires-At', 'Stream-Closed',
  'Producer-Id', 'Producer-Epoch', 'Producer-Seq', 'Stream-Forked-From', 'Stream-Fork-Offset', 'Stream-Fork-Sub-Offset',
].join(', ')
const EXPOSE_HEADERS = [
  'Stream-Next-Offset', 'Stream-Cursor', 'Stream-Up-To-Date', 'Stream-Closed', 'Stream-TTL', 'Stream-Expires-At', 'Stream-SSE-Data-Encoding',
  'Producer-Epoch', 'Producer-Seq', 'Producer-Expected-Seq', 'Producer-Received-Seq', 'ETag', 'Location', 'Content-Type', 'Edgelog-Topic',
].join(', ')

/** Mounts the protocol on the app (one line in app.ts). */
export function mountDurableStreams<E extends { Bindings: EdgelogEnv }>(app: Hono<E>): void {
  app.all(`${DS_PREFIX}/*`, (c) => handleDurableStreams(c.req.raw, c.env as DsEnv))
}

class HttpError extends Error {
  constructor(readonly status: number, message: string, readonly headers: Record<string, string> = {}) { super(message) }
}

/** One Durable Streams request. */
export async function handleDurableStreams(request: Request, env: DsEnv): Promise<Response> {
  const common = commonHeaders(env, request)
  if (request.method === 'OPTIONS') {
    return new Response(null, { status: 204, headers: { ...common, 'Access-Control-Allow-Methods': 'GET, HEAD, POST, PUT, DELETE, OPTIONS', 'Access-Control-Allow-Headers': ALLOW_HEADERS, 'Access-Control-Max-Age': '600' } })
  }
  try {
    const url = new URL(request.url)
    const path = url.pathname.slice(DS_PREFIX.length)
    if (path === '/' || path === '' || path.startsWith('/__ds/') || path === '/__ds') throw new HttpError(404, 'Not a stream path')
    const principal = await authenticate(env, request, url.searchParams.get('access_token') ?? undefined)
    const ctx: Ctx = { env, request, url, path, topic: await topicOfPath(path), principal, broker: new EdgeBroker(env, { clientHost: request.headers.get('cf-connecting-ip') ?? '' }) }
    let response: Response
    switch (request.method) {
      case 'PUT': response = await create(ctx); break
      case 'POST': response = await append(ctx); break
      case 'GET': response = await read(ctx); break
      case 'HEAD': response = await head(ctx); break
      case 'DELETE': response = await remove(ctx); break
      default: throw new HttpError(405, `Method ${request.method} not allowed`)
    }
    for (const [k, v] of Object.entries(common)) response.headers.set(k, v)
    return response
  } catch (error) {
    const headers = new Headers(common)
    headers.set('Content-Type', 'application/json')
    if (error instanceof HttpError) {
      for (const [k, v] of Object.entries(error.headers)) headers.set(k, v)
      return new Response(JSON.stringify({ error: { code: codeOf(error.status), message: error.message } }), { status: error.status, headers })
    }
    const e = isEdgelogError(error) ? error : new EdgelogError('UNKNOWN_SERVER_ERROR', error instanceof Error ? error.message : String(error))
    const status = e.code === 'UNKNOWN_TOPIC_OR_PARTITION' ? 404 : statusOf(e.code)
    return new Response(JSON.stringify({ error: { code: e.code, message: e.message } }), { status, headers })
  }
}

interface Ctx {
  env: DsEnv
  request: Request
  url: URL
  path: string
  topic: string
  principal: Principal
  broker: EdgeBroker
}

function codeOf(status: number): string {
  return ({ 400: 'INVALID_REQUEST', 403: 'PRODUCER_FENCED', 404: 'STREAM_NOT_FOUND', 405: 'METHOD_NOT_ALLOWED', 409: 'CONFLICT', 410: 'STREAM_GONE', 413: 'MESSAGE_TOO_LARGE' } as Record<number, string>)[status] ?? 'ERROR'
}

function commonHeaders(env: EdgelogEnv, request: Request): Record<string, string> {
  const headers: Record<string, string> = { 'X-Content-Type-Options': 'nosniff', 'Cross-Origin-Resource-Policy': 'cross-origin' }
  const origins = env.EDGELOG_CORS_ORIGINS?.trim()
  if (origins) {
    const list = origins.split(',').map((s) => s.trim()).filter(Boolean)
    const origin = request.headers.get('origin')
    const allowed = list.includes('*') ? '*' : origin !== null && list.includes(origin) ? origin : undefined
    if (allowed) {
      headers['Access-Control-Allow-Origin'] = allowed
      headers['Access-Control-Expose-Headers'] = EXPOSE_HEADERS
      if (allowed !== '*') headers.Vary = 'Origin'
    }
  }
  return headers
}

// ---------------------------------------------------------------------------------- plumbing

/** One call to the stream's partition object; a missing topic is a missing stream. */
async function call(ctx: Ctx, topic: string, op: DsOp): Promise<DsAnswer> {
  const cluster = ctx.broker.cluster
  for (let attempt = 0; ; attempt++) {
    try {
      const target = await cluster.target(topic, 0)
      return await cluster.onPartition(target, (stub) => unwrapDs(stub.ds(target, op)))
    } catch (error) {
      if (!isEdgelogError(error, 'UNKNOWN_TOPIC_OR_PARTITION')) throw error
      // A cached topic deleted meanwhile (the stream deleted and created again): ask afresh once.
      cluster.invalidate(topic)
      if (attempt >= 1) return { status: 'missing' }
    }
  }
}

function unwrapDs(call: Promise<Result<DsAnswer>>): Promise<DsAnswer> {
  return unwrap(call)
}

async function createTopic(ctx: Ctx, topic: string): Promise<void> {
  await ctx.broker.createTopics({ topics: [{ topic, numPartitions: 1, configEntries: TOPIC_CONFIG }] })
}

/** Deletes an expired or deleted stream's topic, then the forks' hold on their sources (cascading). */
async function dropStream(ctx: Ctx, topic: string, source: string | undefined): Promise<void> {
  await ctx.broker.deleteTopics({ topics: [topic] }).catch((error) => {
    if (!isEdgelogError(error, 'UNKNOWN_TOPIC_OR_PARTITION')) throw error
  })
  let from = source
  while (from !== undefined) {
    const sourceTopic = await topicOfPath(from)
    const answer = await call(ctx, sourceTopic, { op: 'unref' })
    if (answer.status !== 'unref' || !answer.gc) break
    await ctx.broker.deleteTopics({ topics: [sourceTopic] }).catch(() => {})
    from = answer.source
  }
}

/** The statuses every operation shares: not there, gone, expired (deleted now). */
async function settle(ctx: Ctx, answer: DsAnswer): Promise<void> {
  if (answer.status === 'missing') throw new HttpError(404, `Stream ${ctx.path} not found`)
  if (answer.status === 'gone') throw new HttpError(410, `Stream ${ctx.path} was deleted (forks still read it)`)
  if (answer.status === 'expired') {
    if (answer.forks === 0) await dropStream(ctx, ctx.topic, undefined)
    throw new HttpError(404, `Stream ${ctx.path} expired`)
  }
}

function maxBody(env: EdgelogEnv): number {
  return intParam(env.EDGELOG_MAX_REQUEST_BYTES, 'EDGELOG_MAX_REQUEST_BYTES', { min: 1 }) ?? DEFAULT_MAX_REQUEST_BYTES
}

async function body(ctx: Ctx): Promise<Uint8Array> {
  const limit = maxBody(ctx.env)
  const declared = ctx.request.headers.get('content-length')
  if (declared !== null && Number(declared) > limit) throw new HttpError(413, `Body of ${declared} bytes is over the limit of ${limit}`)
  const bytes = new Uint8Array(await ctx.request.arrayBuffer())
  if (bytes.byteLength > limit) throw new HttpError(413, `Body is over the limit of ${limit} bytes`)
  return bytes
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false })
const encoder = new TextEncoder()

/** An append's records: JSON messages (one level of array flattened) or 1 MiB pieces of bytes. */
function messagesOf(contentType: string, bytes: Uint8Array, allowEmptyArray: boolean): Uint8Array[] {
  if (bytes.byteLength === 0) return []
  if (isJsonType(contentType)) {
    let value: unknown
    try {
      value = JSON.parse(utf8.decode(bytes))
    } catch {
      throw new HttpError(400, 'Invalid JSON')
    }
    const items = Array.isArray(value) ? value : [value]
    if (items.length === 0 && !allowEmptyArray) throw new HttpError(400, 'Empty arrays are not allowed in appends')
    return items.map((item) => encoder.encode(JSON.stringify(item)))
  }
  const out: Uint8Array[] = []
  for (let at = 0; at < bytes.byteLength; at += CHUNK_BYTES) out.push(bytes.subarray(at, Math.min(bytes.byteLength, at + CHUNK_BYTES)))
  return out
}

function header(ctx: Ctx, name: string): string | undefined {
  return ctx.request.headers.get(name) ?? undefined
}

function closedFlag(ctx: Ctx): boolean {
  return header(ctx, 'stream-closed')?.trim().toLowerCase() === 'true'
}

function stateHeaders(state: DsState, withType = true): Record<string, string> {
  const h: Record<string, string> = { 'Stream-Next-Offset': formatOffset(state.tail) }
  if (withType) h['Content-Type'] = state.contentType
  if (state.closed) h['Stream-Closed'] = 'true'
  return h
}

// ---------------------------------------------------------------------------------- PUT

async function create(ctx: Ctx): Promise<Response> {
  requireTopic(ctx.principal, ctx.topic, 'write')
  const forkedFromRaw = header(ctx, 'stream-forked-from')
  const forkOffsetRaw = header(ctx, 'stream-fork-offset')
  const subRaw = header(ctx, 'stream-fork-sub-offset')
  const rawType = header(ctx, 'content-type')
  const givenType = rawType !== undefined && /^[\w.+-]+\/[\w.+-]+/.test(rawType.trim()) ? rawType.trim() : undefined
  const ttlRaw = header(ctx, 'stream-ttl')
  const expiresRaw = header(ctx, 'stream-expires-at')
  if (ttlRaw !== undefined && expiresRaw !== undefined) throw new HttpError(400, 'Stream-TTL and Stream-Expires-At cannot be combined')
  const ttlSeconds = ttlRaw === undefined ? undefined : parseTtl(ttlRaw)
  if (ttlRaw !== undefined && ttlSeconds === undefined) throw new HttpError(400, 'Stream-TTL must be a non-negative decimal integer')
  const expiresAtMs = expiresRaw === undefined ? undefined : parseExpiresAt(expiresRaw)
  if (expiresRaw !== undefined && expiresAtMs === undefined) throw new HttpError(400, 'Stream-Expires-At must be an RFC 3339 timestamp')
  const closed = closedFlag(ctx)
  if (subRaw !== undefined && forkedFromRaw === undefined) throw new HttpError(400, 'Stream-Fork-Sub-Offset requires Stream-Forked-From')
  if (forkOffsetRaw !== undefined && forkedFromRaw === undefined) throw new HttpError(400, 'Stream-Fork-Offset requires Stream-Forked-From')
  const bytes = await body(ctx)
  const base = { path: ctx.path, ttlSeconds, expiresAt: expiresRaw, expiresAtMs, closed }

  if (forkedFromRaw !== undefined) {
    let forkOffset: number | undefined
    if (forkOffsetRaw !== undefined) {
      const parsed = parseOffset(forkOffsetRaw)
      if (typeof parsed !== 'number') throw new HttpError(400, 'Invalid Stream-Fork-Offset')
      forkOffset = parsed
    }
    const subOffset = subRaw === undefined ? 0 : parseTtl(subRaw.trim())
    if (subOffset === undefined) throw new HttpError(400, 'Stream-Fork-Sub-Offset must be a non-negative integer')
    if (subOffset > 0 && forkOffset === undefined) throw new HttpError(400, 'Stream-Fork-Sub-Offset needs Stream-Fork-Offset')
    const from = forkedFromRaw.startsWith(`${DS_PREFIX}/`) ? forkedFromRaw.slice(DS_PREFIX.length) : forkedFromRaw
    const sourceTopic = await topicOfPath(from)
    requireTopic(ctx.principal, sourceTopic, 'read')
    const fork = { from, offset: forkOffset ?? -1, subOffset }
    return createFork(ctx, { ...base, contentType: givenType ?? '', fork }, sourceTopic, bytes)
  }

  const contentType = givenType ?? 'application/octet-stream'
  const config: DsStreamConfig = { ...base, contentType }
  const groups = bytes.byteLength > 0 ? [messagesOf(contentType, bytes, true)].filter((g) => g.length > 0) : []
  await createTopic(ctx, ctx.topic)
  let answer = await call(ctx, ctx.topic, { op: 'create', config, groups, now: Date.now() })
  if (answer.status === 'expired' || answer.status === 'missing') {
    if (answer.status === 'expired') await dropStream(ctx, ctx.topic, undefined)
    await createTopic(ctx, ctx.topic)
    answer = await call(ctx, ctx.topic, { op: 'create', config, groups, now: Date.now() })
  }
  return createdResponse(ctx, answer)
}

function createdResponse(ctx: Ctx, answer: DsAnswer): Response {
  if (answer.status === 'conflict') throw new HttpError(409, `Stream ${ctx.path} exists with another configuration`)
  if ((answer.status !== 'created' && answer.status !== 'exists') || !answer.state) throw new HttpError(503, `Stream ${ctx.path} could not be created (${answer.status}); retry`)
  const headers = { ...stateHeaders(answer.state), 'Edgelog-Topic': ctx.topic }
  if (answer.status === 'created') return new Response(null, { status: 201, headers: { ...headers, Location: `${ctx.url.origin}${ctx.url.pathname}` } })
  return new Response(null, { status: 200, headers })
}

async function createFork(ctx: Ctx, config: DsStreamConfig, sourceTopic: string, bytes: Uint8Array): Promise<Response> {
  const fork = config.fork!
  // Already there? Compare (an omitted content type or expiry means "as inherited").
  const probe = await call(ctx, ctx.topic, { op: 'create', config, now: Date.now() })
  if (probe.status === 'exists' || probe.status === 'conflict') return createdResponse(ctx, probe)
  if (probe.status === 'expired') await dropStream(ctx, ctx.topic, undefined)

  const snapshot = await call(ctx, sourceTopic, { op: 'fork', offset: fork.offset < 0 ? undefined : fork.offset, subOffset: fork.subOffset, contentType: config.contentType || undefined, now: Date.now() })
  switch (snapshot.status) {
    case 'snapshot': break
    case 'missing': throw new HttpError(404, `Source stream ${fork.from} not found`)
    case 'expired': throw new HttpError(404, `Source stream ${fork.from} expired`)
    case 'gone': throw new HttpError(409, `Source stream ${fork.from} was deleted`)
    case 'type-mismatch': throw new HttpError(409, 'Content-Type differs from the source stream')
    case 'bad-offset': throw new HttpError(400, 'Stream-Fork-Offset is beyond the source stream')
    case 'bad-sub-offset': throw new HttpError(400, 'Stream-Fork-Sub-Offset is past the append at Stream-Fork-Offset')
    default: throw new HttpError(500, `Unexpected answer ${snapshot.status}`)
  }
  const inherited = snapshot.config
  const own = config.ttlSeconds !== undefined || config.expiresAtMs !== undefined
  const full: DsStreamConfig = {
    ...config,
    contentType: inherited.contentType,
    ttlSeconds: own ? config.ttlSeconds : inherited.ttlSeconds,
    expiresAt: own ? config.expiresAt : inherited.expiresAt,
    expiresAtMs: own ? config.expiresAtMs : inherited.expiresAtMs,
  }
  const groups = [...snapshot.groups]
  if (bytes.byteLength > 0) {
    const mine = messagesOf(full.contentType, bytes, true)
    if (mine.length > 0) groups.push(mine)
  }
  let answer: DsAnswer
  try {
    await createTopic(ctx, ctx.topic)
    answer = await call(ctx, ctx.topic, { op: 'create', config: full, groups, now: Date.now() })
  } catch (error) {
    await call(ctx, sourceTopic, { op: 'unref' }).catch(() => {})
    throw error
  }
  if (answer.status !== 'created') await call(ctx, sourceTopic, { op: 'unref' }).catch(() => {})
  return createdResponse(ctx, answer)
}

// ---------------------------------------------------------------------------------- POST

async function append(ctx: Ctx): Promise<Response> {
  requireTopic(ctx.principal, ctx.topic, 'write')
  const close = closedFlag(ctx)
  const seq = header(ctx, 'stream-seq')
  const id = header(ctx, 'producer-id')
  const epochRaw = header(ctx, 'producer-epoch')
  const seqRaw = header(ctx, 'producer-seq')
  const any = id !== undefined || epochRaw !== undefined || seqRaw !== undefined
  let producer: { id: string; epoch: number; seq: number } | undefined
  if (any) {
    if (id === undefined || epochRaw === undefined || seqRaw === undefined) throw new HttpError(400, 'Producer-Id, Producer-Epoch and Producer-Seq go together')
    if (id === '') throw new HttpError(400, 'Producer-Id must not be empty')
    const epoch = strictInt(epochRaw)
    const pseq = strictInt(seqRaw)
    if (epoch === undefined) throw new HttpError(400, 'Producer-Epoch must be a non-negative integer')
    if (pseq === undefined) throw new HttpError(400, 'Producer-Seq must be a non-negative integer')
    producer = { id, epoch, seq: pseq }
  }
  const bytes = await body(ctx)
  if (bytes.byteLength === 0 && !close) throw new HttpError(400, 'Empty body (only a close, with Stream-Closed: true, may have none)')
  const contentType = header(ctx, 'content-type')
  if (bytes.byteLength > 0 && (contentType === undefined || contentType.trim() === '')) throw new HttpError(400, 'Content-Type is required')
  const messages = bytes.byteLength > 0 ? messagesOf(contentType!, bytes, false) : []
  const answer = await call(ctx, ctx.topic, { op: 'append', contentType, messages, close, seq, producer, now: Date.now() })
  await settle(ctx, answer)
  const producerHeaders = (epoch: number, lastSeq: number): Record<string, string> => ({ 'Producer-Epoch': String(epoch), 'Producer-Seq': String(lastSeq) })
  switch (answer.status) {
    case 'appended': {
      const headers = stateHeaders(answer.state, false)
      // 200 for new data from an idempotent producer; 204 for a plain append or a close-only request.
      if (producer) return new Response(null, { status: messages.length > 0 ? 200 : 204, headers: { ...headers, ...producerHeaders(producer.epoch, producer.seq) } })
      return new Response(null, { status: 204, headers })
    }
    case 'duplicate':
      return new Response(null, { status: 204, headers: { ...stateHeaders(answer.state, false), ...producerHeaders(answer.epoch, answer.lastSeq) } })
    case 'closed':
      if (bytes.byteLength === 0 && close && !producer) return new Response(null, { status: 204, headers: stateHeaders(answer.state, false) })
      throw new HttpError(409, 'Stream is closed', stateHeaders(answer.state, false))
    case 'type-mismatch': throw new HttpError(409, 'Content-Type does not match the stream')
    case 'seq-conflict': throw new HttpError(409, 'Stream-Seq is not greater than the last one')
    case 'stale-epoch': throw new HttpError(403, 'Stale producer epoch', { 'Producer-Epoch': String(answer.epoch) })
    case 'epoch-seq': throw new HttpError(400, 'A new producer epoch starts at Producer-Seq 0')
    case 'seq-gap': throw new HttpError(409, 'Producer sequence gap', { 'Producer-Expected-Seq': String(answer.expected), 'Producer-Received-Seq': String(answer.received) })
    default: throw new HttpError(500, `Unexpected answer ${answer.status}`)
  }
}

function strictInt(raw: string): number | undefined {
  if (!/^\d+$/.test(raw)) return undefined
  const n = Number(raw)
  return Number.isSafeInteger(n) ? n : undefined
}

// ---------------------------------------------------------------------------------- HEAD, DELETE

async function head(ctx: Ctx): Promise<Response> {
  requireTopic(ctx.principal, ctx.topic, 'read')
  const answer = await call(ctx, ctx.topic, { op: 'head', now: Date.now() })
  await settle(ctx, answer)
  if (answer.status !== 'head') throw new HttpError(500, `Unexpected answer ${answer.status}`)
  const headers: Record<string, string> = { ...stateHeaders(answer.state), 'Cache-Control': 'no-store', 'Edgelog-Topic': ctx.topic }
  if (answer.state.ttlSeconds !== undefined) headers['Stream-TTL'] = String(answer.state.ttlSeconds)
  if (answer.state.expiresAt !== undefined) headers['Stream-Expires-At'] = answer.state.expiresAt
  headers.ETag = `"${answer.state.epoch}:-1:${formatOffset(answer.state.tail)}${answer.state.closed ? ':c' : ''}"`
  return new Response(null, { status: 200, headers })
}

async function remove(ctx: Ctx): Promise<Response> {
  requireTopic(ctx.principal, ctx.topic, 'admin')
  const answer = await call(ctx, ctx.topic, { op: 'delete', now: Date.now() })
  await settle(ctx, answer)
  if (answer.status === 'delete') await dropStream(ctx, ctx.topic, answer.source)
  else if (answer.status !== 'soft-deleted') throw new HttpError(500, `Unexpected answer ${answer.status}`)
  return new Response(null, { status: 204 })
}

// ---------------------------------------------------------------------------------- GET

function longPollMs(env: DsEnv): number {
  return intParam(env.EDGELOG_DS_LONG_POLL_MS, 'EDGELOG_DS_LONG_POLL_MS', { min: 1, max: 60_000 }) ?? 20_000
}

function sseMs(env: DsEnv): number {
  return intParam(env.EDGELOG_DS_SSE_MS, 'EDGELOG_DS_SSE_MS', { min: 1 }) ?? 60_000
}

/** A read's body: a JSON array of the messages, or the bytes as they were appended. */
function bodyOf(contentType: string, values: Uint8Array[]): Uint8Array {
  if (isJsonType(contentType)) {
    const parts = values.map((v) => utf8.decode(v))
    return encoder.encode(`[${parts.join(',')}]`)
  }
  let size = 0
  for (const v of values) size += v.byteLength
  const out = new Uint8Array(size)
  let at = 0
  for (const v of values) { out.set(v, at); at += v.byteLength }
  return out
}

async function read(ctx: Ctx): Promise<Response> {
  const params = ctx.url.searchParams
  const offsets = params.getAll('offset')
  if (offsets.length > 1) throw new HttpError(400, 'One offset parameter only')
  const rawOffset = offsets[0]
  if (rawOffset === '') throw new HttpError(400, 'Empty offset')
  const from = rawOffset === undefined ? 'start' : parseOffset(rawOffset)
  if (from === undefined) throw new HttpError(400, `Malformed offset ${JSON.stringify(rawOffset)}`)
  const live = params.get('live') ?? undefined
  if ((live === 'long-poll' || live === 'sse') && rawOffset === undefined) throw new HttpError(400, `live=${live} needs an offset`)
  const cursor = params.get('cursor') ?? undefined
  requireTopic(ctx.principal, ctx.topic, 'read')
  if (live === 'sse') return sse(ctx, from, cursor)

  const waitMs = live === 'long-poll' ? longPollMs(ctx.env) : 0
  // The wait happens here in the Worker (ds/wait.ts) unless EDGELOG_WAIT=object parks it in the object.
  const inObject = waitsInObject(ctx.env)
  let answer = await call(ctx, ctx.topic, { op: 'read', from, waitMs: inObject ? waitMs : 0, maxBytes: READ_BYTES, touch: true, now: Date.now() })
  if (live === 'long-poll' && !inObject) {
    answer = await longPollAtTail(new DsWatch(ctx.broker.cluster, ctx.topic, 'once'), answer, waitMs, ctx.request.signal,
      (next) => call(ctx, ctx.topic, { op: 'read', from: next, waitMs: 0, maxBytes: READ_BYTES, touch: true, now: Date.now() }))
  }
  await settle(ctx, answer)
  if (answer.status === 'bad-offset') throw new HttpError(400, 'Offset is beyond the end of the stream')
  if (answer.status === 'offset-gone') throw new HttpError(410, 'Offset is before the earliest retained data')
  if (answer.status !== 'data') throw new HttpError(500, `Unexpected answer ${answer.status}`)
  const { state, values, next, upToDate } = answer
  const atTail = next >= state.tail
  const closedHere = state.closed && atTail && upToDate
  const headers: Record<string, string> = { 'Content-Type': state.contentType, 'Stream-Next-Offset': formatOffset(next) }
  if (upToDate) headers['Stream-Up-To-Date'] = 'true'
  if (closedHere) headers['Stream-Closed'] = 'true'

  if (from === 'now' && live !== 'long-poll') {
    return new Response(isJsonType(state.contentType) ? '[]' : null, { status: 200, headers: { ...headers, 'Cache-Control': 'no-store' } })
  }
  if (live === 'long-poll') {
    if (!closedHere || values.length > 0) headers['Stream-Cursor'] = responseCursor(cursor)
    if (values.length === 0 && (answer.timedOut || closedHere)) return new Response(null, { status: 204, headers })
  }
  const start = rawOffset === undefined || from === 'start' ? '-1' : formatOffset(answer.from)
  const etag = `"${state.epoch}:${start}:${formatOffset(next)}${closedHere ? ':c' : ''}"`
  headers.ETag = etag
  const cacheable = values.length > 0
  headers['Cache-Control'] = cacheable ? `${ctx.principal.kind === 'token' ? 'private' : 'public'}, max-age=60, stale-while-revalidate=300` : 'no-store'
  if (ctx.request.headers.get('if-none-match') === etag) return new Response(null, { status: 304, headers: { ETag: etag, 'Cache-Control': headers['Cache-Control'] } })
  return new Response(bodyOf(state.contentType, values), { status: 200, headers })
}

async function sse(ctx: Ctx, from: number | 'start' | 'now', cursor: string | undefined): Promise<Response> {
  const first = await call(ctx, ctx.topic, { op: 'read', from, waitMs: 0, maxBytes: READ_BYTES, touch: true, now: Date.now() })
  await settle(ctx, first)
  if (first.status === 'bad-offset') throw new HttpError(400, 'Offset is beyond the end of the stream')
  if (first.status === 'offset-gone') throw new HttpError(410, 'Offset is before the earliest retained data')
  if (first.status !== 'data') throw new HttpError(500, `Unexpected answer ${first.status}`)
  const contentType = first.state.contentType
  const base64 = !isTextType(contentType)
  const text = new TextDecoder()
  const deadline = Date.now() + sseMs(ctx.env)
  const waitMs = longPollMs(ctx.env)
  let cancelled = false
  const encoderStream = new TextEncoder()
  const inObject = waitsInObject(ctx.env)
  // One watch for the response's life (ds/wait.ts): the object sleeps while the reader is up to date.
  const watch = new DsWatch(ctx.broker.cluster, ctx.topic, 'stream')
  const aborted = new AbortController()

  const stream = new ReadableStream<Uint8Array>({
    start: async (controller) => {
      const send = (s: string) => { if (!cancelled) controller.enqueue(encoderStream.encode(s)) }
      let answer: DsAnswer = first
      try {
        for (;;) {
          if (answer.status !== 'data') {
            if (answer.status === 'missing' || answer.status === 'gone' || answer.status === 'expired') send(sseEvent('control', JSON.stringify({ streamNextOffset: formatOffset(0), streamClosed: true })))
            break
          }
          const current: Extract<DsAnswer, { status: 'data' }> = answer
          const { values, next, state, upToDate } = current
          // A data event and its control event leave together (one chunk).
          let out = ''
          if (values.length > 0) {
            const bytes = bodyOf(contentType, values)
            out += sseEvent('data', base64 ? toBase64(bytes) : text.decode(bytes))
          }
          const closedHere = state.closed && next >= state.tail
          const control: Record<string, unknown> = { streamNextOffset: formatOffset(next) }
          if (closedHere) {
            control.streamClosed = true
            control.upToDate = true
          } else {
            control.streamCursor = responseCursor(cursor)
            if (upToDate) control.upToDate = true
          }
          send(out + sseEvent('control', JSON.stringify(control)))
          if (closedHere || cancelled || Date.now() >= deadline) break
          const wait: number = upToDate ? Math.max(1, Math.min(waitMs, deadline - Date.now())) : 0
          const read = (): Promise<DsAnswer> => call(ctx, ctx.topic, { op: 'read', from: next, waitMs: inObject ? wait : 0, maxBytes: READ_BYTES, touch: true, now: Date.now() })
          if (wait === 0 || inObject) answer = await read()
          else if ((await watch.wait(next, wait, aborted.signal)) === 'changed') answer = await read()
          // Nothing new: a keep-alive control event at the same offset, read from the object only
          // when the read slides the stream's TTL (so an idle reader keeps the stream alive, as a poll would).
          else answer = state.ttlSeconds !== undefined ? await read() : { ...current, values: [], from: next }
          if (cancelled) break
        }
      } catch {
        // The connection ends; the client reconnects from the last control event's offset.
      }
      watch.close()
      if (!cancelled) controller.close()
    },
    cancel: () => { cancelled = true; aborted.abort() },
  })
  const headers: Record<string, string> = { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache', 'Edgelog-Topic': ctx.topic }
  if (base64) headers['Stream-SSE-Data-Encoding'] = 'base64'
  return new Response(stream, { status: 200, headers })
}
