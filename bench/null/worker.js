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

const RECORDS_PER_BATCH = 1000
/** @type {Map<string, Uint8Array>} the first binary body posted per topic: read answers repeat its batches */
const sample = new Map()
/** @type {Map<string, string>} the first JSON body's records per topic, as edgelog answers them */
const jsonSample = new Map()

export default {
  /** @param {Request} request @param {{ TOTAL?: string, NULL_OBJECT?: string, OBJECT?: DurableObjectNamespace }} env */
  async fetch(request, env) {
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
