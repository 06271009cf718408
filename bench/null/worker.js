/**
 * The null Worker (bench/null/wrangler.jsonc), plain JavaScript so that the Node-side
 * typecheck leaves it alone. For the request shapes of bench/http.ts it reads the body and
 * answers as edgelog does, without storing anything:
 *   POST …/records           reads the body; answers one `{ baseOffset }` per 1,000-record batch
 *   GET  …/records (binary)  answers `maxBytes` worth of record batches (about 1 MiB, the batches
 *                            made once from the first ones posted) with edgelog's offset headers
 *   GET  …/records (JSON)    the same records as JSON (offset, timestamp, key, value)
 * The high watermark is the TOTAL var (bench/http.ts sets it). With the var NULL_OBJECT set
 * (bench/null/wrangler-object.jsonc), every request is first handed, body and all, to a Durable
 * Object that only answers (`NullObject`, one per topic): the hop edgelog's Worker makes to a
 * partition object, without the storage.
 */
import { DurableObject } from 'cloudflare:workers'

export class NullObject extends DurableObject {
  /** @param {ArrayBuffer | string | null} body */
  take(body) {
    return typeof body === 'string' ? body.length : body === null ? 0 : body.byteLength
  }
}

/**
 * The same hop to an object that also stores each body as one BLOB row (one `transactionSync`,
 * a rowid table): the platform's cost plus the least storage a durable append can do
 * (bench/null/wrangler-store.jsonc). Its response waits on the write as edgelog's does (the
 * output gate).
 */
export class StoreObject extends DurableObject {
  /** @param {DurableObjectState} ctx @param {unknown} env */
  constructor(ctx, env) {
    super(ctx, env)
    ctx.storage.sql.exec('CREATE TABLE IF NOT EXISTS raw (k INTEGER PRIMARY KEY, data BLOB NOT NULL)')
    this.next = 0
  }

  /**
   * Stores a body: each record batch of a binary body as its own row, keyed by its first
   * record's index (bodies carry 1,000-record batches), or a JSON body's text as one row.
   * @param {ArrayBuffer | string} body @param {number} first the body's first record index
   */
  store(body, first) {
    const sql = this.ctx.storage.sql
    this.ctx.storage.transactionSync(() => {
      if (typeof body === 'string') return void sql.exec('INSERT INTO raw (k, data) VALUES (?, ?)', first, new TextEncoder().encode(body))
      const view = new DataView(body)
      for (let at = 0, k = first; at < body.byteLength; k += RECORDS_PER_BATCH) {
        const length = view.getInt32(at + 8) + 12
        sql.exec('INSERT INTO raw (k, data) VALUES (?, ?)', k, new Uint8Array(body, at, length))
        at += length
      }
    })
    return body.byteLength
  }

  /**
   * The rows from the one holding `offset`, up to `maxBytes` (at least one): what a read of
   * stored bytes costs, concatenated into one buffer as edgelog's binary read answers.
   * A JSON topic's rows come back as they are (`parts`), one posted body each.
   * @param {number} offset @param {number} maxBytes @param {boolean} [asParts]
   */
  read(offset, maxBytes, asParts = false) {
    const parts = []
    let bytes = 0
    let next = offset
    for (const row of this.ctx.storage.sql.exec('SELECT k, data FROM raw WHERE k >= ? ORDER BY k', offset - (offset % RECORDS_PER_BATCH))) {
      const data = /** @type {ArrayBuffer} */ (row.data)
      if (parts.length > 0 && bytes + data.byteLength > maxBytes) break
      parts.push(new Uint8Array(data))
      bytes += data.byteLength
      next = /** @type {number} */ (row.k) + RECORDS_PER_BATCH
    }
    if (asParts) return { parts, next }
    const out = new Uint8Array(bytes)
    let at = 0
    for (const p of parts) { out.set(p, at); at += p.byteLength }
    return { bytes: out, next }
  }
}

const RECORDS_PER_BATCH = 1000
/** @type {Map<string, Uint8Array>} the first binary body posted per topic: read answers repeat its batches */
const sample = new Map()
/** @type {Map<string, string>} the first JSON body's records per topic, as edgelog answers them */
const jsonSample = new Map()

export default {
  /** @param {Request} request @param {{ TOTAL?: string, NULL_OBJECT?: string, OBJECT?: DurableObjectNamespace }} env */
  async fetch(request, env) {
    if (env.STORE && env.OBJECT) return storeRoute(request, env)
    if (env.NULL_OBJECT && env.OBJECT) {
      const url = new URL(request.url)
      const stub = env.OBJECT.get(env.OBJECT.idFromName(url.pathname))
      const body = request.method === 'POST' ? ((request.headers.get('content-type') ?? '').includes('json') ? await request.clone().text() : await request.clone().arrayBuffer()) : null
      await stub.take(body)
    }
    const url = new URL(request.url)
    if (url.pathname === '/v1/health') return new Response('ok')
    const match = /^\/v1\/topics\/([^/]+)(?:\/partitions\/0)?\/records$/.exec(url.pathname)
    if (!match) return Response.json({ topic: 'created' }, { status: 201 })
    const topic = match[1]
    const total = Number(env.TOTAL ?? 100000)
    if (request.method === 'POST') {
      if ((request.headers.get('content-type') ?? '').includes('json')) {
        const text = await request.text()
        if (!jsonSample.has(topic)) jsonSample.set(topic, text)
        return Response.json({ partition: 0, baseOffset: 0 })
      }
      const body = new Uint8Array(await request.arrayBuffer())
      // keep the first batch (a body may carry several: batchLength at byte 8, plus 12)
      if (!sample.has(topic)) sample.set(topic, body.slice(0, new DataView(body.buffer).getInt32(8) + 12))
      const batches = Math.max(1, Math.round(body.byteLength / 110_000))
      return Response.json({ batches: Array.from({ length: batches }, (_, i) => ({ baseOffset: i * RECORDS_PER_BATCH })) })
    }
    const offset = Number(url.searchParams.get('offset') ?? 0)
    const maxBytes = Number(url.searchParams.get('maxBytes') ?? 1048576)
    const one = sample.get(topic.replace('json', 'bin')) ?? new Uint8Array(110_000)
    const batches = Math.max(1, Math.floor(maxBytes / one.byteLength))
    const next = Math.min(total, offset + batches * RECORDS_PER_BATCH)
    const count = (next - offset) / RECORDS_PER_BATCH
    const headers = { 'Edgelog-Next-Offset': String(next), 'Edgelog-High-Watermark': String(total) }
    if ((request.headers.get('accept') ?? '').includes('record-batch')) {
      const out = new Uint8Array(one.byteLength * count)
      for (let i = 0; i < count; i++) out.set(one, i * one.byteLength)
      return new Response(out, { headers: { ...headers, 'content-type': 'application/vnd.kafka.record-batch' } })
    }
    const posted = JSON.parse(jsonSample.get(topic) ?? '{"records":[]}').records
    const records = []
    for (let i = offset; i < next; i++) records.push({ offset: String(i), timestamp: '0', key: null, value: posted[i % posted.length]?.value ?? '', headers: {} })
    return Response.json({ records, nextOffset: next, highWatermark: total }, { headers })
  },
}

/** Next record index per topic, kept by the Worker (one client appends at a time per topic in the bench). */
/** @type {Map<string, number>} */
const nextIndex = new Map()

/**
 * bench/null/wrangler-store.jsonc: appends and reads through a StoreObject per topic.
 * @param {Request} request @param {{ TOTAL?: string, OBJECT?: DurableObjectNamespace }} env
 */
async function storeRoute(request, env) {
  const url = new URL(request.url)
  if (url.pathname === '/v1/health') return new Response('ok')
  const match = /^\/v1\/topics\/([^/]+)(?:\/partitions\/0)?\/records$/.exec(url.pathname)
  if (!match) return Response.json({ topic: 'created' }, { status: 201 })
  const topic = match[1]
  const stub = /** @type {any} */ (env.OBJECT).get(/** @type {any} */ (env.OBJECT).idFromName(topic))
  const json = (request.headers.get('content-type') ?? '').includes('json')
  if (request.method === 'POST') {
    const body = json ? await request.text() : await request.arrayBuffer()
    // A JSON body is parsed (a log must at least know it holds records) and stored as its text.
    if (typeof body === 'string' && !Array.isArray(JSON.parse(body).records)) return Response.json({ error: 'no records' }, { status: 400 })
    const batches = json ? 1 : Math.max(1, Math.round(body.byteLength / 110_000))
    // Reserved with no await in between: concurrent appends take consecutive ranges.
    const first = nextIndex.get(topic) ?? 0
    nextIndex.set(topic, first + batches * RECORDS_PER_BATCH)
    await stub.store(body, first)
    if (json) return Response.json({ offsets: [{ partition: 0, offset: first }] })
    return Response.json({ batches: Array.from({ length: batches }, (_, i) => ({ baseOffset: first + i * RECORDS_PER_BATCH })) })
  }
  const total = Number(env.TOTAL ?? 100000)
  const offset = Number(url.searchParams.get('offset') ?? 0)
  const maxBytes = Number(url.searchParams.get('maxBytes') ?? 1048576)
  const binary = (request.headers.get('accept') ?? '').includes('record-batch')
  const { bytes, parts, next } = await stub.read(offset, maxBytes, !binary)
  const headers = { 'Edgelog-Next-Offset': String(next), 'Edgelog-High-Watermark': String(total) }
  if (binary) return new Response(bytes, { headers: { ...headers, 'content-type': 'application/vnd.kafka.record-batch' } })
  // A JSON topic's rows are the posted JSON bodies: their records, as edgelog answers them.
  const records = []
  let i = offset
  const decoder = new TextDecoder()
  for (const part of parts) {
    for (const r of JSON.parse(decoder.decode(part)).records) records.push({ offset: String(i++), timestamp: '0', key: null, value: r.value, headers: {} })
  }
  return Response.json({ records, nextOffset: next, highWatermark: total }, { headers })
}
