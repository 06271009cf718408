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
 */
import { openDB } from 'idb'
import { openLog } from '../core/open-log.ts'
import { decodeRecords, encodeBatch } from '../core/codec/record-batch.ts'
import { IndexedDBStorage } from '../adapters/indexeddb/storage.ts'

interface Params { records: number; durability: 'relaxed' | 'strict'; perTx: number }
type Row = { name: string; writeRecPerSec?: number; readRecPerSec?: number; note?: string }

const VALUE_BYTES = 100

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
  await new Promise((r) => { const q = indexedDB.deleteDatabase(name); q.onsuccess = q.onerror = q.onblocked = r })
  return [{
    name: 'edgelog (IndexedDBStorage + LocalBroker, KafkaJS-shaped client)',
    writeRecPerSec: rate(p.records, writeMs),
    readRecPerSec: rate(p.records, consumerMs),
    note: `read: consumer.run(eachBatch) ${rate(p.records, consumerMs)}/s (${Math.round(consumerMs)} ms: ${Math.round(startupMs)} ms to the first batch ` +
      `(group join and the first fetch of up to 4 MiB), ${rate(p.records, consumerMs - startupMs)}/s after it; ` +
      `${Math.round(consumerFetchMs)} ms in broker.fetch; before the first batch: ${Object.entries(startup).map(([k, v]) => `${k} ${Math.round(v)} ms`).join(', ')}), broker.fetch + decode ${rate(p.records, fetchMs)}/s ` +
      `(of which broker.fetch ${Math.round(inFetch)} ms, decode ${Math.round(fetchMs - inFetch)} ms); high watermark ${segments[0]?.high}`,
  }]
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

self.onmessage = async (event: MessageEvent<Params>) => {
  try {
    const p = event.data
    const vals = values(p.records)
    const rows = [...await naive(p, vals), ...await edgelog(p, vals), ...await adapterOnly(p, vals)]
    ;(self as unknown as Worker).postMessage({ ok: true, rows })
  } catch (e) {
    ;(self as unknown as Worker).postMessage({ ok: false, error: String((e as Error)?.stack ?? e) })
  }
}
