/**
 * In-process benchmark of the core log with the memory adapter (issue 2):
 *   - the codec side by side with KafkaJS's own RecordBatch v2 encoder/decoder (what a Node
 *     user would otherwise run), as ratios;
 *   - produce and consume through the KafkaJS-shaped client, 100-byte values, batches of 1,000;
 *   - per-record append and read cost as the partition grows from 10 thousand to 10 million.
 * Run: npx tsx --expose-gc bench/core.ts [--quick]
 */
import { createRequire } from 'node:module'
import type { RecordInput } from '../core/codec/record-batch.ts'
import { core, memory } from './built.ts'
import { median, report, table } from './report.ts'

const { decodeRecords, encodeBatch, readBatchHeader, openLog, PartitionLog, TOPIC_CONFIG_DEFAULTS } = core
const { MemoryStorage } = memory

const require = createRequire(import.meta.url)
const quick = process.argv.includes('--quick')
const VALUE = new Uint8Array(100).fill(120)
const BATCH = 1000

function makeRecords(n: number): RecordInput[] {
  const now = Date.now()
  return Array.from({ length: n }, (_, i) => ({ key: null, value: VALUE, timestamp: now + i }))
}

function rate(records: number, ms: number): number {
  return Math.round(records / (ms / 1000))
}

async function timed(fn: () => Promise<void> | void): Promise<number> {
  const start = performance.now()
  await fn()
  return performance.now() - start
}

async function codecVersusKafkaJS(): Promise<void> {
  const { RecordBatch } = require('kafkajs/src/protocol/recordBatch/v0')
  const KafkaJSRecord = require('kafkajs/src/protocol/recordBatch/record/v0')
  const Decoder = require('kafkajs/src/protocol/decoder')
  const decodeKafkaJSBatch = require('kafkajs/src/protocol/recordBatch/v0/decoder')
  const batches = quick ? 100 : 300
  const records = makeRecords(BATCH)
  const valueBuffer = Buffer.from(VALUE)
  const kafkajsRecords = records.map((r, i) => KafkaJSRecord({ offsetDelta: i, timestampDelta: i, key: null, value: valueBuffer, headers: {} }))

  const runs = 5
  const ours: number[] = []
  const theirs: number[] = []
  let encoded: Uint8Array = new Uint8Array()
  let kafkajsEncoded: Buffer = Buffer.alloc(0)
  for (let run = 0; run < runs; run++) {
    ours.push(await timed(() => { for (let i = 0; i < batches; i++) encoded = encodeBatch(records) }))
    theirs.push(await timed(async () => {
      for (let i = 0; i < batches; i++) {
        const batch = await RecordBatch({ records: kafkajsRecords, lastOffsetDelta: BATCH - 1, firstTimestamp: records[0].timestamp, maxTimestamp: records[BATCH - 1].timestamp })
        kafkajsEncoded = batch.buffer
      }
    }))
  }
  const n = batches * BATCH
  const encodeOurs = rate(n, median(ours))
  const encodeTheirs = rate(n, median(theirs))

  const decodeOurs: number[] = []
  const decodeTheirs: number[] = []
  // Both encoders write the same bytes (test/codec/kafkajs-interop.test.ts); decode edgelog's with each.
  const kafkajsBatch = Buffer.from(encoded.buffer, encoded.byteOffset, encoded.byteLength)
  const check = await decodeKafkaJSBatch(new Decoder(kafkajsBatch))
  if (check.records.length !== BATCH) throw new Error(`KafkaJS decoded ${check.records.length} records, expected ${BATCH}`)
  if (kafkajsEncoded.length === 0) throw new Error('KafkaJS encoded nothing')
  for (let run = 0; run < runs; run++) {
    decodeOurs.push(await timed(() => { for (let i = 0; i < batches; i++) decodeRecords(encoded, readBatchHeader(encoded)) }))
    decodeTheirs.push(await timed(async () => { for (let i = 0; i < batches; i++) await decodeKafkaJSBatch(new Decoder(kafkajsBatch)) }))
  }
  const decOurs = rate(n, median(decodeOurs))
  const decTheirs = rate(n, median(decodeTheirs))
  table('Codec: Kafka RecordBatch v2, 100-byte values, 1,000 per batch (records/s, median of 5)', ['', 'edgelog', 'KafkaJS', 'ratio'], [
    ['encode (with CRC32C)', encodeOurs, encodeTheirs, `${(encodeOurs / encodeTheirs).toFixed(1)}x`],
    ['decode', decOurs, decTheirs, `${(decOurs / decTheirs).toFixed(1)}x`],
  ])
  report.codec = { encodeOurs, encodeTheirs, decodeOurs: decOurs, decodeTheirs: decTheirs }
}

async function produceConsume(): Promise<void> {
  const total = quick ? 200_000 : 1_000_000
  const log = await openLog({ storage: new MemoryStorage(), settings: { 'log.retention.check.interval.ms': 0 } })
  await log.admin().createTopics({ topics: [{ topic: 'warm', numPartitions: 1 }, { topic: 'bench', numPartitions: 1 }] })
  const messages = Array.from({ length: BATCH }, () => ({ value: VALUE }))
  const sendAll = async (producer: ReturnType<typeof log.producer>, topic: string, n: number, acks: -1 | 1) => {
    for (let i = 0; i < n / BATCH; i++) await producer.send({ topic, messages, acks })
  }
  const consumeAll = async (topic: string, n: number) => {
    const consumer = log.consumer({ maxWaitTimeInMs: 10 })
    await consumer.subscribe({ topics: [topic], fromBeginning: true })
    let seen = 0
    const ms = await timed(() => new Promise<void>((resolve) => {
      void consumer.run({ eachBatch: async ({ batch }) => {
        seen += batch.messages.length
        if (seen >= n) resolve()
      } })
    }))
    await consumer.stop()
    return ms
  }
  // Warm up the JIT on both paths before timing anything.
  const warm = log.producer({ maxBatchBytes: 4 << 20 })
  await sendAll(warm, 'warm', 200_000, 1)
  await consumeAll('warm', 200_000)

  const producer = log.producer({ maxBatchBytes: 4 << 20 })
  const produceMs = await timed(() => sendAll(producer, 'bench', total, 1))
  const idempotent = log.producer({ idempotent: true, maxBatchBytes: 4 << 20 })
  const idempotentMs = await timed(() => sendAll(idempotent, 'bench', total, -1))

  const end = total * 2
  const consumeRuns: number[] = []
  for (let run = 0; run < 3; run++) consumeRuns.push(await consumeAll('bench', end))

  // The broker's fetch without the client: what the consumer's decoding and dispatch add.
  const rawMs = await timed(async () => {
    let offset = 0
    while (offset < end) {
      const { batches } = await log.broker.fetch({ topic: 'bench', partition: 0, offset, maxBytes: 1 << 20 })
      for (const bytes of batches) offset = readBatchHeader(bytes).baseOffset + decodeRecords(bytes).length
    }
  })
  await log.close()
  const produce = rate(total, produceMs)
  const produceIdempotent = rate(total, idempotentMs)
  const consume = rate(end, median(consumeRuns))
  const raw = rate(end, rawMs)
  table(`Client over MemoryStorage: ${total.toLocaleString('en')} records of 100 bytes, 1,000 per send, after a warm-up (records/s)`, ['path', 'records/s', 'aim'], [
    ['producer.send, acks=1', produce, '≥ 1,500,000'],
    ['producer.send, idempotent, acks=-1', produceIdempotent, '≥ 1,500,000'],
    ['consumer.run eachBatch (no group), median of 3', consume, '≥ 5,000,000'],
    ['broker.fetch + decode (no client)', raw, ''],
  ])
  report.client = { produce, produceIdempotent, consume, raw }
}

/** Append and read windows of 100k records at growing partition sizes: the cost per record must stay flat. */
async function flatCost(): Promise<void> {
  const marks = quick ? [10_000, 100_000, 1_000_000] : [10_000, 100_000, 1_000_000, 10_000_000]
  const storage = new MemoryStorage()
  const log = await PartitionLog.open({ storage, stream: 'flat/0', config: () => TOPIC_CONFIG_DEFAULTS })
  const batch = encodeBatch(makeRecords(BATCH))
  const window = 100_000
  const rows: Array<Array<string | number>> = []
  const results: Array<{ size: number; appendNsPerRecord: number; readNsPerRecord: number }> = []
  for (const mark of marks) {
    while (log.highWatermark < mark) await log.append(batch)
    // Start each window from a collected heap, so that a major GC of the growing heap (1.1 GB at
    // 10 million records) lands in no particular window (run with --expose-gc: npm run bench does).
    ;(globalThis as { gc?: () => void }).gc?.()
    const appendMs = await timed(async () => { for (let i = 0; i < window / BATCH; i++) await log.append(batch) })
    ;(globalThis as { gc?: () => void }).gc?.()
    // Read a window from the middle of the partition: cost must not depend on where it is.
    const from = Math.floor((log.highWatermark - window) / 2)
    const readMs = await timed(async () => {
      let offset = from
      while (offset < from + window) {
        const { batches } = await log.read(offset, 1 << 20)
        offset = batches[batches.length - 1].lastOffset + 1
      }
    })
    const appendNs = (appendMs * 1e6) / window
    const readNs = (readMs * 1e6) / window
    results.push({ size: mark, appendNsPerRecord: Math.round(appendNs), readNsPerRecord: Math.round(readNs) })
    rows.push([mark.toLocaleString('en'), appendNs.toFixed(0), readNs.toFixed(1)])
  }
  table('Cost per record as the partition grows (PartitionLog over MemoryStorage, 100k-record windows)', ['records in partition', 'append ns/record', 'read ns/record'], rows)
  report.flat = results
}

await codecVersusKafkaJS()
await produceConsume()
await flatCost()
