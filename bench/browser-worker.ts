/**
 * The browser benchmark's dedicated Web Worker: 100-byte records appended and read back
 * sequentially, side by side in one run:
 *   - naive: the store a browser developer would write with `idb`: one object per record
 *     ({ offset, timestamp, key, value }), one `put` per record, 1,000 per shared transaction;
 *     read back with `getAll` over 1,000-key ranges and with one cursor (the faster one counts);
 *   - edgelog: openLog over IndexedDBStorage in this worker (the LocalBroker the browser log
 *     runs), through the KafkaJS-shaped client: producer.send of 1,000 records at a time,
 *     consumer.run(eachBatch) (records decoded) — and the raw broker fetch of whole batches.
 * Each run uses fresh databases; the page posts { records, durability } and gets the figures.
 * The large read (issue 18, part 2) runs in steps the page posts one at a time ({ op }: write,
 * raw, consume, delete), with the page's own consumer through openBrowserLog in between.
 */
import { openDB } from 'idb'
import { openLog } from '../core/open-log.ts'
import { decodeRecords, encodeBatch } from '../core/codec/record-batch.ts'
import { IndexedDBStorage } from '../adapters/indexeddb/storage.ts'
import { timeConsumerRun, type ConsumerRun } from './consumer-run.ts'

interface Params { records: number; durability: 'relaxed' | 'strict'; perTx: number; heapOnly?: boolean; maxBytes?: number; rawWays?: string[]; readAhead?: { fetches?: number; getsInFlight?: number }; profile?: boolean }
type Row = { name: string; writeRecPerSec?: number; readRecPerSec?: number; note?: string }

const VALUE_BYTES = 100
/** The read-ahead settings of the large read's consumer, for the adapter-alone reference too. */
let adapterReadAhead: Params['readAhead']

function values(n: number): Uint8Array[] {
  const out: Uint8Array[] = []
  for (let i = 0; i < n; i++) {
    const v = new Uint8Array(VALUE_BYTES)
    crypto.getRandomValues(v)
    out.push(v)
  }
  return out
}

const rate = (n: number, ms: number) => Math.round((n / ms) * 1000)

async function naive(p: Params, vals: Uint8Array[]): Promise<Row[]> {
  const name = `naive-${Date.now()}-${Math.random()}`
  const db = await openDB(name, 1, { upgrade: (d) => { d.createObjectStore('records', { keyPath: 'offset' }) } })
  const t0 = performance.now()
  for (let base = 0; base < p.records; base += p.perTx) {
    const tx = db.transaction('records', 'readwrite', { durability: p.durability })
    const end = Math.min(p.records, base + p.perTx)
    for (let i = base; i < end; i++) void tx.store.put({ offset: i, timestamp: Date.now(), key: null, value: vals[i] })
    await tx.done
  }
  const writeMs = performance.now() - t0

  let t1 = performance.now()
  let n = 0
  let bytes = 0
  for (let base = 0; base < p.records; base += 1000) {
    const rows = await db.getAll('records', IDBKeyRange.bound(base, base + 999))
    for (const r of rows) { n++; bytes += r.value.byteLength }
  }
  const getAllMs = performance.now() - t1
  if (n !== p.records) throw new Error(`naive getAll read ${n}`)

  t1 = performance.now()
  n = 0
  let cursor = await db.transaction('records').store.openCursor()
  while (cursor) { n++; bytes += cursor.value.value.byteLength; cursor = await cursor.continue() }
  const cursorMs = performance.now() - t1
  if (n !== p.records) throw new Error(`naive cursor read ${n}`)
  db.close()
  await new Promise((r) => { const q = indexedDB.deleteDatabase(name); q.onsuccess = q.onerror = q.onblocked = r })
  const best = Math.min(getAllMs, cursorMs)
  return [{
    name: 'naive idb (1 object per record, 1,000 puts per transaction)',
    writeRecPerSec: rate(p.records, writeMs),
    readRecPerSec: rate(p.records, best),
    note: `read: getAll ${rate(p.records, getAllMs)}/s, cursor ${rate(p.records, cursorMs)}/s (best counts)`,
  }]
}

async function edgelog(p: Params, vals: Uint8Array[]): Promise<Row[]> {
  const name = `edgelog-${Date.now()}-${Math.random()}`
  const storage = await IndexedDBStorage.open(name)
  const log = await openLog({ storage })
  await log.admin().createTopics({ topics: [{ topic: 'bench', numPartitions: 1 }] })
  const producer = log.producer()
  await producer.connect()
  const acks = p.durability === 'strict' ? -1 : 1
  const t0 = performance.now()
  for (let base = 0; base < p.records; base += p.perTx) {
    const messages = []
    for (let i = base; i < Math.min(p.records, base + p.perTx); i++) messages.push({ partition: 0, value: vals[i] })
    await producer.send({ topic: 'bench', acks, messages })
  }
  const writeMs = performance.now() - t0
  await producer.disconnect()

  // The consumer, as an application reads: records decoded, handed to eachBatch.
  // Profiled: time inside broker.fetch, and until the first batch (group join, first fetch).
  let firstBatchAt = 0
  const broker = log.broker as unknown as Record<string, (req: any) => Promise<any>>
  const realFetch = broker.fetch.bind(broker)
  let consumerFetchMs = 0
  broker.fetch = async (req) => {
    const tf = performance.now()
    try { return await realFetch(req) } finally { consumerFetchMs += performance.now() - tf }
  }
  // Where the start-up goes: time in each group and offset request until the first batch.
  const startup: Record<string, number> = {}
  const realCalls: Record<string, (req: any) => Promise<any>> = {}
  for (const name of ['groupHeartbeat', 'fetchOffsets', 'listOffsets', 'metadata', 'commitOffsets']) {
    const real = (realCalls[name] = broker[name].bind(broker))
    broker[name] = async (req) => {
      const tc = performance.now()
      try { return await real(req) } finally { if (firstBatchAt === 0) startup[name] = (startup[name] ?? 0) + performance.now() - tc }
    }
  }
  let t1 = performance.now()
  let n = 0
  const consumer = log.consumer({ groupId: 'bench', maxWaitTimeInMs: 0, maxBytesPerPartition: 4 << 20 })
  await consumer.connect()
  await consumer.subscribe({ topics: ['bench'], fromBeginning: true })
  await new Promise<void>((resolve) => {
    void consumer.run({
      autoCommit: false,
      eachBatch: async ({ batch }: any) => {
        if (firstBatchAt === 0) firstBatchAt = performance.now()
        for (const m of batch.messages) if (m.value.byteLength === VALUE_BYTES) n++
        if (n >= p.records) resolve()
      },
    })
  })
  const consumerMs = performance.now() - t1
  const startupMs = firstBatchAt - t1
  broker.fetch = realFetch
  Object.assign(broker, realCalls)
  await consumer.disconnect()

  // The raw fetch: whole stored batches, then decoded here.
  t1 = performance.now()
  let offset = 0
  let m = 0
  let inFetch = 0
  while (offset < p.records) {
    const tf = performance.now()
    const r = await log.broker.fetch({ topic: 'bench', partition: 0, offset, maxBytes: 4 << 20 })
    inFetch += performance.now() - tf
    for (const b of r.batches) for (const rec of decodeRecords(b)) if (rec.offset >= offset) { m++; offset = rec.offset + 1 }
  }
  const fetchMs = performance.now() - t1
  if (m !== p.records) throw new Error(`edgelog fetch read ${m}`)
  const segments = await log.admin().fetchTopicOffsets('bench')
  await log.close()
  // Cold start: the log opened again on the same database (worker already running), a new group
  // joined, until its first batch: what a person waits for on page load.
  const tc = performance.now()
  const storage2 = await IndexedDBStorage.open(name)
  const log2 = await openLog({ storage: storage2 })
  const opened = performance.now() - tc
  const consumer2 = log2.consumer({ groupId: 'cold', maxWaitTimeInMs: 0, maxBytesPerPartition: 4 << 20 })
  await consumer2.connect()
  await consumer2.subscribe({ topics: ['bench'], fromBeginning: true })
  // It reads on to the end: the second read of the same values (as the raw reads below are),
  // from joining the group to the last record.
  let coldFirst = 0
  let joinedAt = 0
  let read2 = 0
  await new Promise<void>((resolve) => {
    joinedAt = performance.now()
    void consumer2.run({
      autoCommit: false,
      eachBatch: async ({ batch }: any) => {
        if (coldFirst === 0) coldFirst = performance.now() - tc
        read2 += batch.messages.length
        if (read2 >= p.records) resolve()
      },
    })
  })
  const secondReadMs = performance.now() - joinedAt
  await consumer2.disconnect()
  await log2.close()
  const raw = await rawReads(name, p.records)
  await new Promise((r) => { const q = indexedDB.deleteDatabase(name); q.onsuccess = q.onerror = q.onblocked = r })
  return [{
    name: 'edgelog (IndexedDBStorage + LocalBroker, KafkaJS-shaped client)',
    writeRecPerSec: rate(p.records, writeMs),
    readRecPerSec: rate(p.records, consumerMs),
    note: `read: consumer.run(eachBatch) ${rate(p.records, consumerMs)}/s (${Math.round(consumerMs)} ms: ${Math.round(startupMs)} ms to the first batch ` +
      `(group join and the first fetch of up to 4 MiB), ${rate(p.records, consumerMs - startupMs)}/s after it; ` +
      `${Math.round(consumerFetchMs)} ms in broker.fetch; before the first batch: ${Object.entries(startup).map(([k, v]) => `${k} ${Math.round(v)} ms`).join(', ')}), broker.fetch + decode ${rate(p.records, fetchMs)}/s ` +
      `(of which broker.fetch ${Math.round(inFetch)} ms, decode ${Math.round(fetchMs - inFetch)} ms); high watermark ${segments[0]?.high}; ` +
      `cold start (open the log on the stored database, join a new group, first batch): ${Math.round(coldFirst)} ms (open ${Math.round(opened)} ms); ` +
      `that group reading on to the end (a second read of the values): ${rate(p.records, secondReadMs)}/s from run()`,
  }, { name: 'edgelog, second read: a new group on the reopened log, from run() to the last record', readRecPerSec: rate(p.records, secondReadMs) }, ...raw]
}

/**
 * IndexedDB itself reading the values edgelog stored (the `batches` store of the same
 * database, no edgelog code), several ways, each in its own transaction: the limit the
 * consumer's read is measured against. Counts the records in the stored batches' headers.
 */
async function rawReads(name: string, records: number, only?: string[], times = 2): Promise<Row[]> {
  const db = await new Promise<IDBDatabase>((resolve, reject) => {
    const q = indexedDB.open(name)
    q.onsuccess = () => resolve(q.result)
    q.onerror = () => reject(q.error)
  })
  const req = <T>(r: IDBRequest<T>) => new Promise<T>((resolve, reject) => { r.onsuccess = () => resolve(r.result); r.onerror = () => reject(r.error) })
  const countOf = (v: { bytes: Uint8Array }) => new DataView(v.bytes.buffer, v.bytes.byteOffset).getInt32(57)
  const all = IDBKeyRange.lowerBound([''])
  const ways: Record<string, () => Promise<number>> = {
    'one getAll of every value': async () => {
      const values = await req(db.transaction('batches').objectStore('batches').getAll(all))
      return values.reduce((n, v) => n + countOf(v), 0)
    },
    'getAll of 8 values at a time, one after another': async () => {
      const store = db.transaction('batches').objectStore('batches')
      let n = 0
      let range: IDBKeyRange = all
      for (;;) {
        const values = await req(store.getAll(range, 8))
        for (const v of values) n += countOf(v)
        if (values.length < 8) return n
        const last = values[values.length - 1]
        range = IDBKeyRange.lowerBound([keyStream(last), last.lastOffset], true)
      }
    },
    'one getAll per value (count 1), one after another': async () => {
      const store = db.transaction('batches').objectStore('batches')
      let n = 0
      let range: IDBKeyRange = all
      for (;;) {
        const [v] = await req(store.getAll(range, 1))
        if (!v) return n
        n += countOf(v)
        range = IDBKeyRange.lowerBound([keyStream(v), v.lastOffset], true)
      }
    },
    'getAllKeys, then one get per key, all in flight': async () => {
      const store = db.transaction('batches').objectStore('batches')
      const keys = await req(store.getAllKeys(all))
      const values = await Promise.all(keys.map((k) => req(store.get(k))))
      return values.reduce((n, v) => n + countOf(v), 0)
    },
    'getAllKeys, then gets 16 in flight': async () => {
      const store = db.transaction('batches').objectStore('batches')
      const keys = await req(store.getAllKeys(all))
      let n = 0
      for (let i = 0; i < keys.length; i += 16) {
        const values = await Promise.all(keys.slice(i, i + 16).map((k) => req(store.get(k))))
        for (const v of values) n += countOf(v)
      }
      return n
    },
    // A reference, not a raw read (bench/browser.ts leaves it out of "fastest raw"): the fastest
    // raw read plus the decoding every consumer does (decodeRecords of each batch).
    'getAllKeys, then gets 16 in flight, + decodeRecords': async () => {
      const store = db.transaction('batches').objectStore('batches')
      const keys = await req(store.getAllKeys(all))
      let n = 0
      for (let i = 0; i < keys.length; i += 16) {
        const values = await Promise.all(keys.slice(i, i + 16).map((k) => req(store.get(k))))
        for (const v of values) for (const r of decodeRecords(v.bytes)) if (r.value!.byteLength === VALUE_BYTES) n++
      }
      return n
    },
    // A reference too: edgelog's adapter alone (readBatches of 4 MiB from where the last ended, no decoding).
    'edgelog adapter alone: readBatches loop': async () => {
      const storage = await IndexedDBStorage.open(name, { readAhead: adapterReadAhead })
      let n = 0
      let from = 0
      for (;;) {
        const got = await storage.readBatches(firstKey[0], from, { maxBytes: 4 << 20 })
        if (got.length === 0) break
        for (const b of got) n += countOf(b)
        from = got[got.length - 1]!.lastOffset + 1
      }
      await storage.close()
      return n
    },
    'a cursor': async () => {
      const store = db.transaction('batches').objectStore('batches')
      let n = 0
      await new Promise<void>((resolve, reject) => {
        const c = store.openCursor(all)
        c.onsuccess = () => { const cur = c.result; if (!cur) return resolve(); n += countOf(cur.value); cur.continue() }
        c.onerror = () => reject(c.error)
      })
      return n
    },
  }
  // The stream of a stored batch is not in its value: every key of this database's batches is
  // in the one bench partition, so take it from the first key.
  const firstKey = (await req(db.transaction('batches').objectStore('batches').getAllKeys(all, 1)))[0] as [string, number]
  const keyStream = (_v: unknown) => firstKey[0]
  const rows: Row[] = []
  // Twice each (or `times`), alternating; the faster counts.
  const best: Record<string, number> = {}
  for (let round = 0; round < times; round++) {
    for (const [way, read] of Object.entries(ways)) {
      if (only && !only.includes(way)) continue
      const t = performance.now()
      const n = await read()
      const ms = performance.now() - t
      if (n < records) throw new Error(`${way} read ${n} records`)
      best[way] = Math.min(best[way] ?? Infinity, ms)
    }
  }
  db.close()
  for (const [way, ms] of Object.entries(best)) rows.push({ name: `raw IndexedDB: ${way}`, readRecPerSec: rate(records, ms) })
  return rows
}

/** The adapter alone: batches encoded beforehand, one commit (batch + head) per batch. */
async function adapterOnly(p: Params, vals: Uint8Array[]): Promise<Row[]> {
  const name = `adapter-${Date.now()}-${Math.random()}`
  const storage = await IndexedDBStorage.open(name)
  const PER_BATCH = 540 // ~58 KB: under Chromium's 64 KiB inline-value limit
  const batches: Array<{ base: number; last: number; bytes: Uint8Array }> = []
  let te = performance.now()
  for (let base = 0; base < p.records; base += PER_BATCH) {
    const recs = []
    for (let i = base; i < Math.min(p.records, base + PER_BATCH); i++) recs.push({ key: null, value: vals[i], timestamp: Date.now() })
    batches.push({ base, last: base + recs.length - 1, bytes: encodeBatch(recs, { baseOffset: base }) })
  }
  const encodeMs = performance.now() - te
  const t0 = performance.now()
  for (const b of batches) {
    await storage.commit({
      batches: [{ stream: 's/0', batch: { baseOffset: b.base, lastOffset: b.last, maxTimestamp: Date.now(), bytes: b.bytes } }],
      meta: [{ key: 'head/s/0', value: { nextOffset: b.last + 1 } }],
      durability: p.durability,
    })
  }
  const writeMs = performance.now() - t0
  const t1 = performance.now()
  let n = 0
  let from = 0
  let inRead = 0
  while (from < p.records) {
    const tr = performance.now()
    const got = await storage.readBatches('s/0', from, { maxBytes: 4 << 20 })
    inRead += performance.now() - tr
    for (const b of got) { n += decodeRecords(b.bytes).length; from = b.lastOffset + 1 }
  }
  const readMs = performance.now() - t1
  if (n !== p.records) throw new Error(`adapter read ${n}`)
  await storage.close()
  await new Promise((r) => { const q = indexedDB.deleteDatabase(name); q.onsuccess = q.onerror = q.onblocked = r })
  return [{
    name: 'edgelog adapter alone (pre-encoded ~58 KB batches, one commit each)',
    writeRecPerSec: rate(p.records, writeMs),
    readRecPerSec: rate(p.records, readMs),
    note: `encoding beforehand ${rate(p.records, encodeMs)}/s (not counted); read = readBatches (${Math.round(inRead)} ms) + decodeRecords (${Math.round(readMs - inRead)} ms)`,
  }]
}

/**
 * For the heap figure (issue 18, part 4): `records` written, then read by a group consumer,
 * with `globalThis.__benchPhase` saying which ('write', 'read', 'done'); bench/browser.ts
 * samples the worker's heap from outside (DevTools protocol, after a collection) and keeps
 * the samples taken while reading: they must not grow with the records read.
 */
async function heapWhileReading(p: Params): Promise<Row[]> {
  const phase = (name: string) => { (globalThis as { __benchPhase?: string }).__benchPhase = name }
  const name = `heap-${Date.now()}-${Math.random()}`
  const storage = await IndexedDBStorage.open(name)
  const log = await openLog({ storage })
  await log.admin().createTopics({ topics: [{ topic: 'bench', numPartitions: 1 }] })
  const producer = log.producer()
  const value = new Uint8Array(VALUE_BYTES).fill(7)
  const messages = Array.from({ length: 1000 }, () => ({ partition: 0, value }))
  phase('write')
  for (let i = 0; i < p.records; i += 1000) await producer.send({ topic: 'bench', acks: 1, messages })
  await producer.disconnect()
  const consumer = log.consumer({ groupId: 'heap', maxWaitTimeInMs: 0, maxBytesPerPartition: 4 << 20 })
  await consumer.subscribe({ topics: ['bench'], fromBeginning: true })
  let n = 0
  phase('read')
  const t = performance.now()
  await new Promise<void>((resolve) => {
    void consumer.run({
      autoCommit: false,
      eachBatch: async ({ batch }: any) => {
        n += batch.messages.length
        // Give the sampler a turn now and then (the read would otherwise finish in one stretch).
        if (n % 50_000 < batch.messages.length) await new Promise((r) => setTimeout(r, 30))
        if (n >= p.records) resolve()
      },
    })
  })
  const ms = performance.now() - t
  phase('done')
  await consumer.disconnect()
  await log.close()
  await new Promise((r) => { const q = indexedDB.deleteDatabase(name); q.onsuccess = q.onerror = q.onblocked = r })
  return [{ name: 'group consumer reading them', readRecPerSec: rate(p.records, ms), note: 'includes 30 ms pauses every 50,000 records for the heap sampler' }]
}

/** The large read's partition: `records` 100-byte records through the producer, 1,000 per send (relaxed); returns the database name. */
async function largeWrite(p: Params): Promise<string> {
  const name = `large-${Date.now()}-${Math.random()}`
  const storage = await IndexedDBStorage.open(name)
  const log = await openLog({ storage })
  await log.admin().createTopics({ topics: [{ topic: 'bench', numPartitions: 1 }] })
  const producer = log.producer()
  await producer.connect()
  const pool = new Uint8Array(VALUE_BYTES * 1000)
  for (let base = 0; base < p.records; base += 1000) {
    for (let at = 0; at < pool.length; at += 65536) crypto.getRandomValues(pool.subarray(at, at + 65536))
    const messages = []
    for (let i = 0; i < Math.min(1000, p.records - base); i++) messages.push({ partition: 0, value: pool.subarray(i * VALUE_BYTES, (i + 1) * VALUE_BYTES) })
    await producer.send({ topic: 'bench', acks: 1, messages })
  }
  await producer.disconnect()
  await log.close()
  return name
}

/** For a profiler attached from outside (bench/browser.ts --profile): the phase, and time to see it. */
async function phase(p: Params, name: string): Promise<void> {
  ;(globalThis as { __benchPhase?: string }).__benchPhase = name
  if (p.profile) await new Promise((r) => setTimeout(r, 300))
}

/**
 * Issue 18, part 2, at a size where the join does not dominate (bench/browser-page.ts runs the
 * rounds; this worker answers one step at a time): `records` written once through the producer
 * (relaxed, 1,000 per send); then per round the fastest raw IndexedDB reads of the stored values
 * (no edgelog code, `rawReads`), and a group consumer as a page load runs it (`consumeCold`).
 */
async function largeStep(p: LargeStep): Promise<unknown> {
  adapterReadAhead = p.readAhead
  switch (p.op) {
    case 'write': return largeWrite(p)
    case 'raw': {
      await phase(p, 'raw')
      const raw: Record<string, number> = {}
      for (const row of await rawReads(p.name!, p.records, p.rawWays, 1)) raw[row.name.replace('raw IndexedDB: ', '')] = row.readRecPerSec!
      await phase(p, 'rawed')
      return raw
    }
    case 'consume': {
      await phase(p, 'consume')
      const result = await consumeCold(p.name!, p.records, p.groupId!, p.maxBytes, p.readAhead)
      await phase(p, 'consumed')
      return result
    }
    case 'delete':
      await new Promise((r) => { const q = indexedDB.deleteDatabase(p.name!); q.onsuccess = q.onerror = q.onblocked = r })
      return undefined
  }
}

interface LargeStep extends Params { op: 'write' | 'raw' | 'consume' | 'delete'; name?: string; groupId?: string }


/** A group consumer on the stored database, as on page load: open, join, read to the end. */
async function consumeCold(name: string, records: number, groupId: string, maxBytes = 4 << 20, readAhead?: Params['readAhead']): Promise<ConsumerRun> {
  const t0 = performance.now()
  const storage = await IndexedDBStorage.open(name, { readAhead })
  const log = await openLog({ storage })
  const openMs = performance.now() - t0
  const broker = log.broker as unknown as Record<string, (req: any, o?: any) => Promise<any>>
  const realFetch = broker.fetch.bind(broker)
  let fetchMs = 0
  broker.fetch = async (req, o) => {
    const tf = performance.now()
    try { return await realFetch(req, o) } finally { fetchMs += performance.now() - tf }
  }
  const run = await timeConsumerRun(log, { records, valueBytes: VALUE_BYTES, groupId, maxBytes, t0, openMs, fetchMs: () => fetchMs })
  await log.close()
  return run
}

self.onmessage = async (event: MessageEvent<Params>) => {
  try {
    const p = event.data
    if ((p as LargeStep).op) {
      ;(self as unknown as Worker).postMessage({ ok: true, rows: await largeStep(p as LargeStep) })
      return
    }
    if (p.heapOnly) {
      ;(self as unknown as Worker).postMessage({ ok: true, rows: await heapWhileReading(p) })
      return
    }
    const vals = values(p.records)
    const rows = [...await naive(p, vals), ...await edgelog(p, vals), ...await adapterOnly(p, vals)]
    ;(self as unknown as Worker).postMessage({ ok: true, rows })
  } catch (e) {
    ;(self as unknown as Worker).postMessage({ ok: false, error: String((e as Error)?.stack ?? e) })
  }
}
