/**
 * Memory (issue 18, part 4): what the memory adapter keeps resident for 1 million stored
 * records, against the bytes stored (the record batches) and the records' values; and the
 * heap while a consumer reads them all (it must not grow with the records read).
 * Run: node --expose-gc bench/node.mjs bench/memory.ts [records]
 */
import { core, memory } from './built.ts'
import { table } from './report.ts'

const { openLog } = core
const { MemoryStorage } = memory
const RECORDS = Number(process.argv[2] ?? 1_000_000)
const gc = (globalThis as { gc?: () => void }).gc
if (!gc) throw new Error('run with --expose-gc')
const settle = async () => { for (let i = 0; i < 3; i++) { gc(); await new Promise((r) => setTimeout(r, 20)) } }
const usage = () => { const u = process.memoryUsage(); return { rss: u.rss, heap: u.heapUsed, buffers: u.arrayBuffers } }
const MB = (n: number) => `${(n / 1e6).toFixed(1)} MB`

const value = new Uint8Array(100).fill(120)
const messages = Array.from({ length: 1000 }, () => ({ value }))
const storage = new MemoryStorage()
const log = await openLog({ storage, settings: { 'log.retention.check.interval.ms': 0 } })
await log.admin().createTopics({ topics: [{ topic: 'm', numPartitions: 1 }] })
const producer = log.producer({ maxBatchBytes: 4 << 20 })
await producer.send({ topic: 'm', messages: messages.slice(0, 10), acks: 1 }) // set-up paid before the baseline
await settle()
const before = usage()
for (let i = 0; i < RECORDS; i += 1000) await producer.send({ topic: 'm', messages, acks: 1 })
await settle()
const after = usage()
// What is stored: the batches' bytes, read back through the broker (zero-copy from the store).
let stored = 0
let batches = 0
for (let offset = 10; offset < RECORDS + 10;) {
  const r = await log.broker.fetch({ topic: 'm', partition: 0, offset, maxBytes: 64 << 20 })
  for (const b of r.batches) { stored += b.byteLength; batches++; offset = core.lastOffsetOf(b) + 1 }
}
const valueBytes = RECORDS * value.byteLength
const grew = { rss: after.rss - before.rss, heap: after.heap - before.heap, buffers: after.buffers - before.buffers }

// A consumer reading all of them: heap sampled every 5 eachBatch calls, after a collection.
await settle()
const samples: number[] = []
const consumer = log.consumer({ groupId: 'mem', maxWaitTimeInMs: 10 })
await consumer.subscribe({ topics: ['m'], fromBeginning: true })
let seen = 0
let handled = 0
await new Promise<void>((resolve) => {
  void consumer.run({
    eachBatch: async ({ batch }) => {
      seen += batch.messages.length
      if (++handled % 5 === 0) { gc(); samples.push(process.memoryUsage().heapUsed) }
      if (seen >= RECORDS + 10) resolve()
    },
  })
})
await consumer.disconnect()
await log.close()

table(`Memory adapter, ${RECORDS.toLocaleString('en')} records of 100 bytes in ${batches.toLocaleString('en')} batches (after a full collection)`, ['what', 'size', 'per stored byte'], [
  ['record batches stored (their bytes)', MB(stored), '1.00'],
  ['the records\' values alone', MB(valueBytes), (valueBytes / stored).toFixed(2)],
  ['resident (RSS) growth', MB(grew.rss), (grew.rss / stored).toFixed(2)],
  ['ArrayBuffer growth (batches, slabs)', MB(grew.buffers), (grew.buffers / stored).toFixed(2)],
  ['JS heap growth', MB(grew.heap), (grew.heap / stored).toFixed(3)],
])
const first = samples[0] ?? 0
const last = samples[samples.length - 1] ?? 0
table('Heap while a group consumer reads them all (after a collection every 5 eachBatch calls)', ['samples', 'first', 'last', 'max', 'last − first'], [
  [samples.length, MB(first), MB(last), MB(Math.max(...samples)), MB(last - first)],
])
console.log(JSON.stringify({ memory: { records: RECORDS, stored, valueBytes, grew, heapSamples: samples.length, heapFirst: first, heapLast: last } }))
