/**
 * edgelog's log worker (adapters/indexeddb/worker.ts) with timing probes, for the sync
 * benchmark's profile pass only (the measured runs use the stock worker.js): the prototypes of
 * the HTTP client, the replica append, the storage adapter and the forwarder are wrapped to
 * add up the time spent in each, and how many calls and bytes. The sums are handed out over
 * BroadcastChannel('edgelog-bench-profile') ({ kind: 'get' | 'reset' }); what-ifs below.
 */
import { HttpBroker } from '../adapters/http/index.ts'
import { IndexedDBStorage } from '../adapters/indexeddb/storage.ts'
import { PartitionLog } from '../core/log/partition-log.ts'
import { Forwarder } from '../core/sync/forwarder.ts'
import { Outbox } from '../core/sync/outbox.ts'
import { serveLog } from '../adapters/indexeddb/host.ts'

interface Probe { calls: number; ms: number; maxMs: number; bytes: number; batches: number }
let probes: Record<string, Probe> = {}
let startedAt = performance.now()

function add(name: string, ms: number, bytes = 0, batches = 0): void {
  const p = (probes[name] ??= { calls: 0, ms: 0, maxMs: 0, bytes: 0, batches: 0 })
  p.calls++
  p.ms += ms
  p.maxMs = Math.max(p.maxMs, ms)
  p.bytes += bytes
  p.batches += batches
}

type AnyFn = (this: unknown, ...args: any[]) => Promise<any>
function wrap(proto: object, method: string, name: string, measure?: (args: any[], result: any) => { bytes?: number; batches?: number }): void {
  const target = proto as Record<string, AnyFn>
  const real = target[method]
  target[method] = async function (this: unknown, ...args: any[]) {
    const t0 = performance.now()
    const result = await real.apply(this, args)
    const m = measure?.(args, result) ?? {}
    add(name, performance.now() - t0, m.bytes ?? 0, m.batches ?? 0)
    return result
  }
}
const sum = (views: Uint8Array[] | undefined) => (views ?? []).reduce((n, b) => n + b.byteLength, 0)

// The follower: one leader fetch, then one replica append (validate + commit), per round.
wrap(HttpBroker.prototype, 'fetch', 'follower: HTTP fetch from the edge (long polls included)', (_a, r) => ({ bytes: sum(r.batches), batches: r.batches.length }))
wrap(PartitionLog.prototype, 'replicate', 'follower: replica append (validate + IndexedDB commit)', (a) => ({ bytes: sum(a[0]), batches: a[0].length }))
// The forwarder: one round = read the outbox, commit sequences, produce over HTTP, delete what was delivered.
wrap(Forwarder.prototype, 'forwardOnce', 'forwarder: one round (forwardOnce)')
wrap(HttpBroker.prototype, 'produce', 'forwarder: HTTP produce to the edge', (a) => ({ bytes: a[0].entries.reduce((n: number, e: { batch: Uint8Array }) => n + e.batch.byteLength, 0), batches: a[0].entries.length }))
wrap(PartitionLog.prototype, 'read', 'PartitionLog.read (outbox read, local fetch)', (_a, r) => ({ bytes: sum(r.batches.map((b: { bytes: Uint8Array }) => b.bytes)), batches: r.batches.length }))
wrap(PartitionLog.prototype, 'deleteRecordsBefore', 'forwarder: outbox deleteRecordsBefore (reads the batches below, strict commit)')
// Storage underneath all of them.
{
  const proto = IndexedDBStorage.prototype as unknown as Record<string, AnyFn>
  const commit = proto.commit
  proto.commit = async function (this: unknown, ...args: any[]) {
    const t0 = performance.now()
    const result = await commit.apply(this, args)
    const write = args[0]
    const batches = (write.batches ?? []) as Array<{ stream: string; batch: { bytes: Uint8Array } }>
    const what = batches.some((b) => b.stream.includes('/outbox-')) ? 'outbox append'
      : batches.length > 0 ? 'replica/log append'
      : write.deleteRanges?.length ? 'delete range'
      : 'meta only'
    add(`IndexedDB commit, ${write.durability === 'strict' ? 'strict' : 'relaxed'}, ${what}`, performance.now() - t0, sum(batches.map((b) => b.batch.bytes)), batches.length)
    return result
  }
  const readBatches = proto.readBatches
  proto.readBatches = async function (this: unknown, ...args: any[]) {
    const t0 = performance.now()
    const result = await readBatches.apply(this, args)
    add(`IndexedDB readBatches, ${String(args[0]).includes('/outbox-') ? 'outbox' : 'other'}`, performance.now() - t0, sum(result.map((b: { bytes: Uint8Array }) => b.bytes)), result.length)
    return result
  }
}
{
  const proto = IndexedDBStorage.prototype as unknown as Record<string, AnyFn>
  const getMeta = proto.getMeta
  proto.getMeta = async function (this: unknown, key: string) {
    const t0 = performance.now()
    const result = await getMeta.call(this, key)
    add(`IndexedDB getMeta ${key.split('/')[0]}/…`, performance.now() - t0)
    return result
  }
}
// What IndexedDB loads, whether or not readBatches returns it: every getAll on the batch store.
{
  const realGetAll = IDBObjectStore.prototype.getAll
  IDBObjectStore.prototype.getAll = function (this: IDBObjectStore, ...args: Parameters<IDBObjectStore['getAll']>) {
    const request = realGetAll.apply(this, args)
    if (this.name === 'batches') {
      const t0 = performance.now()
      request.addEventListener('success', () => {
        const values = request.result as Array<{ bytes: Uint8Array }>
        add('IndexedDB getAll on the batch store: values loaded', performance.now() - t0, sum(values.map((v) => v.bytes)), values.length)
      })
    }
    return request
  }
}

/**
 * Diagnostic what-ifs, set over the channel ({ kind: 'what-if', ... }); off unless asked:
 * - holdFollower: the follower's next fetches wait until it is lifted (so the forwarder runs
 *   alone, without the replica downloading the forwarded records back meanwhile);
 * - maxBatchesPerRequest: the forwarder's batches per produce request (edgelog's: 5);
 * - wakeOnOnline: the page's 'online' event (posted as { kind: 'online' }; a dedicated worker
 *   does not get it when DevTools emulates the network) wakes the forwarder at once, as
 *   sync.resume() does on a worker's own 'online' event;
 * - boundedReads: the outbox is read for what is sent (the forwarder's read asks for its
 *   batches' worth, not 1 MiB) and deleteRecordsBefore's read of the batches below the new log
 *   start stops at that offset (IndexedDB's getAll is bounded at [stream, offset - 1] instead
 *   of loading up to 4,096 values of the rest of the outbox).
 */
const whatIf: { holdFollower: boolean; maxBatchesPerRequest?: number; wakeOnOnline?: boolean; boundedReads?: boolean } = { holdFollower: false }
/** Set while IndexedDBStorage.readBatches issues its getAll for deleteRecordsBefore: the offset to stop at. */
let stopGetAllAt: { stream: string; toOffset: number } | undefined
const outboxes = new Set<Outbox>()
let releaseFollower: (() => void) | undefined
let followerHeld: Promise<void> | undefined
// Outside the timing wrappers: a held fetch is not counted as fetch time.
{
  const proto = HttpBroker.prototype as unknown as Record<string, AnyFn>
  const real = proto.fetch
  proto.fetch = async function (this: unknown, ...args: any[]) {
    const signal = args[1]?.signal as AbortSignal | undefined
    while (whatIf.holdFollower && followerHeld && !signal?.aborted) {
      await Promise.race([followerHeld, new Promise((resolve) => signal?.addEventListener('abort', resolve, { once: true }))])
    }
    return real.apply(this, args)
  }
  const oproto = Outbox.prototype as unknown as Record<string, AnyFn>
  const changed = oproto.changed
  oproto.changed = function (this: unknown, ...args: any[]) {
    outboxes.add(this as Outbox)
    return changed.apply(this, args)
  }
  const lproto = PartitionLog.prototype as unknown as Record<string, AnyFn>
  const read = lproto.read
  lproto.read = function (this: any, offset: number, maxBytes: number) {
    if (whatIf.boundedReads && String(this.stream).includes('/outbox-')) maxBytes = Math.min(maxBytes, (whatIf.maxBatchesPerRequest ?? 5) * 60 * 1024)
    return read.call(this, offset, maxBytes)
  }
  const sproto = IndexedDBStorage.prototype as unknown as Record<string, AnyFn>
  const readBatches = sproto.readBatches
  sproto.readBatches = function (this: unknown, stream: string, from: number, options: { maxBytes: number; toOffset?: number }) {
    // deleteRecordsBefore's read (maxBytes unbounded, toOffset set): its first getAll is issued synchronously.
    if (whatIf.boundedReads && options.maxBytes === Number.MAX_SAFE_INTEGER && Number.isFinite(options.toOffset)) stopGetAllAt = { stream, toOffset: options.toOffset! }
    try {
      return readBatches.call(this, stream, from, options)
    } finally {
      stopGetAllAt = undefined
    }
  }
  const getAll = IDBObjectStore.prototype.getAll
  IDBObjectStore.prototype.getAll = function (this: IDBObjectStore, query?: IDBValidKey | IDBKeyRange | null, count?: number) {
    const stop = stopGetAllAt
    if (stop && this.name === 'batches' && query instanceof IDBKeyRange && Array.isArray(query.upper) && query.upper[0] === stop.stream && query.upper[1] === Number.POSITIVE_INFINITY) {
      query = IDBKeyRange.bound(query.lower, [stop.stream, stop.toOffset - 1], query.lowerOpen, false)
    }
    return getAll.call(this, query, count)
  }
  const fproto = Forwarder.prototype as unknown as Record<string, AnyFn>
  const forwardOnce = fproto.forwardOnce
  fproto.forwardOnce = function (this: any, ...args: any[]) {
    if (whatIf.maxBatchesPerRequest !== undefined) this.options.maxBatchesPerRequest = whatIf.maxBatchesPerRequest
    return forwardOnce.apply(this, args)
  }
}

const channel = new BroadcastChannel('edgelog-bench-profile')
channel.onmessage = (e) => {
  if (e.data?.kind === 'what-if') {
    whatIf.holdFollower = e.data.holdFollower ?? false
    whatIf.maxBatchesPerRequest = e.data.maxBatchesPerRequest
    whatIf.wakeOnOnline = e.data.wakeOnOnline
    whatIf.boundedReads = e.data.boundedReads
    if (whatIf.holdFollower) followerHeld ??= new Promise((resolve) => (releaseFollower = resolve))
    else {
      releaseFollower?.()
      followerHeld = undefined
    }
    channel.postMessage({ kind: 'profile', profile: { whatIf } })
  }
  if (e.data?.kind === 'online' && whatIf.wakeOnOnline) for (const o of outboxes) o.wake()
  if (e.data?.kind === 'reset') {
    probes = {}
    startedAt = performance.now()
  }
  if (e.data?.kind === 'get' || e.data?.kind === 'reset') {
    channel.postMessage({ kind: 'profile', profile: { sinceMs: performance.now() - startedAt, probes } })
  }
}

serveLog()
