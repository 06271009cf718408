/**
 * Cached reads of sealed segments (issue 19, docs/scaling.md).
 *
 * A fetch from an offset inside a sealed segment (not the active one) of a topic that is never
 * compacted can never change: the partition object answers it bounded by the segment's end
 * (`PartitionObject.readCacheable`), and the Worker keeps the batches in the Workers Cache API
 * under (topic id, partition, offset, maxBytes). Repeated reads (many browsers replaying one
 * topic, a consumer group re-reading) are then answered from the data centre's cache without
 * waking the object.
 *
 * What is never served from the cache:
 *   - the active segment, or any read of a compacted topic (asked of the object every time);
 *   - an offset below the log start: the Worker serves a cached entry only under a lease of
 *     the object on its log start (objects/log-start-lease.ts): `readCacheable` answers "my
 *     log start stays at or below `floor` for `ms`" (EDGELOG_CACHE_FRESH_MS, default 1000),
 *     the Worker serves hits at or above the floor until `ms` after it sent that request, and
 *     the object makes retention, DeleteRecords and topic deletion wait until its leases have
 *     run out. So once a call that moved the log start has answered, no cache serves below it.
 *     Otherwise the read goes to the object (which grants a new lease). Entries also expire
 *     when retention by time may delete their segment;
 *   - the high watermark: a cached answer reports the highest one this isolate has seen.
 * A topic deleted and created again has a new topic id, hence other keys.
 */
import type { FetchRequest } from '../core/broker.ts'
import { validateMaxBytes, validateOffset } from '../core/log/validate.ts'
import type { EdgeBroker } from './edge-broker.ts'
import type { EdgelogEnv } from './env.ts'
import type { FetchOutcome } from './objects/partition.ts'
import { unwrap } from './rpc.ts'
import { fetchWaiting } from './wait/client.ts'

export const CACHE_PATH = '/__edgelog/cache/'
/** Longest life of a cache entry, and of the browser/CDN cache of a sealed answer. */
const ENTRY_MAX_AGE_S = 24 * 3600
const HTTP_MAX_AGE_S = 60

export interface CachedFetch extends FetchOutcome {
  topicId: string
  /** hit: from the cache; miss: from the object and stored; bypass: not cacheable (or not looked up). */
  cache: 'hit' | 'miss' | 'bypass'
  /** For hit and miss: how long a browser or CDN may keep this answer (seconds). */
  maxAge?: number
}

/** What this isolate knows of a partition: its log start, the highest high watermark seen, and the lease on the log start. */
interface Known { logStart: number; highWatermark: number; leaseUntil: number }
const known = new Map<string, Known>()

/** An answer without a lease: it can only raise what is known, never extend the lease. */
function learn(stream: string, logStart: number, highWatermark: number, lease?: { ms: number; floor: number; sentAt: number }): void {
  const k = known.get(stream)
  const leaseUntil = lease ? lease.sentAt + lease.ms : k?.leaseUntil ?? 0
  const floor = Math.max(logStart, lease?.floor ?? -1, k?.logStart ?? -1)
  known.set(stream, { logStart: floor, highWatermark: Math.max(highWatermark, k?.highWatermark ?? -1), leaseUntil })
}

/** A hit may be served: a live lease, and the offset at or above the floor it holds. */
function leased(stream: string, offset: number): Known | undefined {
  const k = known.get(stream)
  return k && Date.now() < k.leaseUntil && offset >= k.logStart && offset < k.highWatermark ? k : undefined
}

function enabled(env: EdgelogEnv): boolean {
  return env.EDGELOG_CACHE !== 'off' && typeof caches !== 'undefined'
}

/**
 * The fetch route's read: from the cache when it holds the answer and may serve it, else from
 * the object (waiting in the Worker when the log has nothing at `offset`: wait/client.ts).
 */
export async function fetchThroughCache(broker: EdgeBroker, req: FetchRequest, options: { origin: string; signal?: AbortSignal; waitUntil?: (p: Promise<unknown>) => void }): Promise<CachedFetch> {
  const env = broker.env
  const target = await broker.cluster.target(req?.topic, req?.partition)
  validateOffset(req.offset)
  validateMaxBytes(req.maxBytes)
  const topicId = target.stream.slice(0, target.stream.indexOf('/'))
  const policy = String(target.config['cleanup.policy'])
  if (!enabled(env) || policy.includes('compact')) return { ...(await fetchWaiting(broker, req, options.signal)), cache: 'bypass' }

  const key = new Request(`${options.origin}${CACHE_PATH}${encodeURIComponent(target.stream)}/${req.offset}/${req.maxBytes}`)
  const cache = (caches as unknown as { default: Cache }).default
  const k = known.get(target.stream)
  const minBytes = Math.max(1, Number(req.minBytes) || 1)
  if (Number(req.maxWaitMs) > 0 && (!k || req.offset >= k.highWatermark)) {
    // At (or perhaps at) the end of the log: one watch request, which answers at once if there is data.
    const waited = await fetchWaiting(broker, req, options.signal)
    learn(target.stream, waited.logStartOffset, waited.highWatermark)
    return { ...waited, cache: 'bypass' }
  }
  if (leased(target.stream, req.offset)) {
    const hit = await cache.match(key)
    // Checked again after the lookup: the clock moves at I/O, and the lease may have run out meanwhile.
    const still = hit && leased(target.stream, req.offset)
    if (hit && still) {
      const bytes = new Uint8Array(await hit.arrayBuffer())
      if (bytes.byteLength >= minBytes) {
        const k = still
        const hw = Math.max(Number(hit.headers.get('Edgelog-High-Watermark')), k.highWatermark)
        const maxAge = Math.min(HTTP_MAX_AGE_S, Number(hit.headers.get('Edgelog-Max-Age')) || 0)
        return { bytes, batchCount: Number(hit.headers.get('Edgelog-Batch-Count')), highWatermark: hw, logStartOffset: k.logStart, topicId, cache: 'hit', maxAge }
      }
    }
  }

  // Asked of the object: a read that says whether it is sealed.
  // The lease counts from before the request left: never later than the object's own reckoning.
  const sentAt = Date.now()
  const read = await broker.cluster.onPartition(target, (stub) => unwrap(stub.readCacheable(target, { offset: req.offset, maxBytes: req.maxBytes })))
  learn(target.stream, read.logStartOffset, read.highWatermark, read.lease ? { ...read.lease, sentAt } : undefined)
  if (read.batchCount === 0 || read.bytes.byteLength < minBytes) {
    // Nothing (or not enough) at the offset yet: a long poll waits for it in the Worker.
    if (Number(req.maxWaitMs) > 0) {
      const waited = await fetchWaiting(broker, req, options.signal)
      learn(target.stream, waited.logStartOffset, waited.highWatermark)
      return { ...waited, cache: 'bypass' }
    }
    return { ...strip(read), topicId, cache: 'bypass' }
  }
  if (!read.sealed) return { ...strip(read), topicId, cache: 'bypass' }
  const retention = Number(target.config['retention.ms'])
  const lifeS = retention > 0 ? Math.floor((read.sealed.maxTimestamp + retention - Date.now()) / 1000) : ENTRY_MAX_AGE_S
  const ttl = Math.min(ENTRY_MAX_AGE_S, lifeS)
  if (ttl <= 0) return { ...strip(read), topicId, cache: 'bypass' }
  const entry = new Response(read.bytes.slice(), {
    headers: {
      'Cache-Control': `public, max-age=${ttl}`,
      'Edgelog-Batch-Count': String(read.batchCount),
      'Edgelog-High-Watermark': String(read.highWatermark),
      'Edgelog-Max-Age': String(ttl),
    },
  })
  const put = cache.put(key, entry).catch(() => {})
  if (options.waitUntil) options.waitUntil(put)
  else await put
  return { ...strip(read), topicId, cache: 'miss', maxAge: Math.min(HTTP_MAX_AGE_S, ttl) }
}

function strip(read: FetchOutcome & { sealed?: unknown }): FetchOutcome {
  return { bytes: read.bytes, batchCount: read.batchCount, highWatermark: read.highWatermark, logStartOffset: read.logStartOffset }
}

/** Forget what this isolate knows of a partition's log start (after it ran retention itself). */
export function forgetLogStart(stream?: string): void {
  if (stream === undefined) known.clear()
  else known.delete(stream)
}
