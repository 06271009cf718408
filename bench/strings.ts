/**
 * Messages as KafkaJS users send them (issue 18, part 1): string keys and `JSON.stringify`
 * values of ~90 characters, 1,000 per send, in process over MemoryStorage, side by side in one
 * run with the limit: a plain loop that writes the same strings straight into a reused batch
 * buffer with `TextEncoder.encodeInto` (with their varint lengths) and computes the CRC32C of it.
 *   - produce: producer.send of 1,000 string messages (acks=1), and of Uint8Array values (100 B)
 *   - consume: a group consumer with eachBatch reading every key and value as a string
 *     (`message.value.toString()`, what a KafkaJS user does before JSON.parse), and one that
 *     only touches the values
 * Rounds alternate between the paths; medians of wall time, and (Linux) each path's records per
 * second of main-thread CPU time over all rounds, which the machine's other load moves less. Run:
 *   node bench/node.mjs bench/strings.ts [--records N] [--rounds R]
 */
import { existsSync, readFileSync } from 'node:fs'
import { core, memory } from './built.ts'
import { median, report, table, numberOption } from './report.ts'

const { openLog, crc32c } = core
const { MemoryStorage } = memory

const option = numberOption
const RECORDS = option('records', 1_000_000)
const ROUNDS = option('rounds', 5)
const PER_SEND = 1000

/** The messages a KafkaJS user would send: built once, outside every timing. */
function makeMessages(n: number): Array<{ key: string; value: string }> {
  const out: Array<{ key: string; value: string }> = []
  for (let i = 0; i < n; i++) {
    out.push({
      key: `user-${i % 10_000}`,
      value: JSON.stringify({ id: i, user: `user-${i % 10_000}`, type: 'page_view', at: 1764000000000 + i, path: `/products/${i % 5000}` }),
    })
  }
  return out
}
const messages = makeMessages(RECORDS)
const sends: Array<Array<{ key: string; value: string }>> = []
for (let i = 0; i < RECORDS; i += PER_SEND) sends.push(messages.slice(i, i + PER_SEND))
const binaryValue = new Uint8Array(100).fill(120)
const binarySend = Array.from({ length: PER_SEND }, () => ({ value: binaryValue }))
const totalChars = messages.reduce((s, m) => s + m.key.length + m.value.length, 0)
const avgValue = messages.reduce((s, m) => s + m.value.length, 0) / messages.length
const avgKey = messages.reduce((s, m) => s + m.key.length, 0) / messages.length

const rate = (n: number, ms: number) => Math.round(n / (ms / 1000))

/**
 * The main thread's CPU time in ms (Linux: /proc/self/task/<pid>/stat, 10 ms ticks), or NaN
 * elsewhere. On a shared machine wall time also counts the time other processes, and this
 * process's own garbage-collector threads, took the cores; the main thread's CPU time does not.
 */
const statPath = `/proc/self/task/${process.pid}/stat`
const hasThreadStat = existsSync(statPath)
function mainThreadMs(): number {
  if (!hasThreadStat) return NaN
  const fields = readFileSync(statPath, 'utf8').split(') ')[1].split(' ')
  return (Number(fields[11]) + Number(fields[12])) * 10
}
/** Main-thread CPU ms per path and round, beside `times` (wall ms). */
const cpuTimes: Record<string, number[]> = {}
async function timed(name: string, round: number, run: () => number | Promise<number>): Promise<void> {
  const cpu0 = mainThreadMs()
  const ms = await run()
  const cpu = mainThreadMs() - cpu0
  if (round < 0) return
  times[name].push(ms)
  ;(cpuTimes[name] ??= []).push(cpu)
}

/** The limit: strings written straight into one reused buffer with encodeInto, then CRC32C. */
const encoder = new TextEncoder()
const loopBuffer = new Uint8Array(4 << 20)
let sink = 0
function plainLoop(): number {
  const start = performance.now()
  const buf = loopBuffer
  for (const batch of sends) {
    let pos = 61
    for (const m of batch) {
      // key: 1-byte length (short keys), value: 2-byte length; a record frame of 3 bytes
      pos += 3
      const k = encoder.encodeInto(m.key, buf.subarray(pos + 1))
      buf[pos] = k.written << 1
      pos += 1 + k.written
      const v = encoder.encodeInto(m.value, buf.subarray(pos + 2))
      buf[pos] = ((v.written << 1) & 0x7f) | 0x80
      buf[pos + 1] = v.written >>> 6
      pos += 2 + v.written + 1
    }
    sink ^= crc32c(buf, 21, pos)
  }
  return performance.now() - start
}

/**
 * What toString() costs alone: TextDecoder.decode of every key and value, from one buffer (the
 * views made as it goes, as the consumer makes them: two million kept views would weigh on
 * every other path's garbage collection).
 */
const decoder = new TextDecoder()
const decodeBuffer = new Uint8Array(totalChars * 3)
const decodeEnds = new Int32Array(RECORDS * 2)
{
  let pos = 0
  for (const [i, m] of messages.entries()) {
    pos += encoder.encodeInto(m.key, decodeBuffer.subarray(pos)).written
    decodeEnds[2 * i] = pos
    pos += encoder.encodeInto(m.value, decodeBuffer.subarray(pos)).written
    decodeEnds[2 * i + 1] = pos
  }
}
function decodeLoop(): number {
  const start = performance.now()
  let chars = 0
  let from = 0
  for (let i = 0; i < decodeEnds.length; i++) {
    const to = decodeEnds[i]
    chars += decoder.decode(decodeBuffer.subarray(from, to)).length
    from = to
  }
  if (chars !== totalChars) throw new Error(`decoded ${chars} characters`)
  return performance.now() - start
}

const log = await openLog({ storage: new MemoryStorage(), settings: { 'log.retention.check.interval.ms': 0 } })
let topicCounter = 0
async function newTopic(): Promise<string> {
  const topic = `t${topicCounter++}`
  await log.admin().createTopics({ topics: [{ topic, numPartitions: 1 }] })
  return topic
}

async function produceStrings(topic: string): Promise<number> {
  const producer = log.producer({ maxBatchBytes: 4 << 20 })
  await producer.connect()
  const start = performance.now()
  for (const batch of sends) await producer.send({ topic, messages: batch, acks: 1 })
  const ms = performance.now() - start
  await producer.disconnect()
  return ms
}

async function produceBinary(topic: string): Promise<number> {
  const producer = log.producer({ maxBatchBytes: 4 << 20 })
  await producer.connect()
  const start = performance.now()
  for (let i = 0; i < RECORDS; i += PER_SEND) await producer.send({ topic, messages: binarySend, acks: 1 })
  const ms = performance.now() - start
  await producer.disconnect()
  return ms
}

let groups = 0
async function consumeGroup(topic: string, decode: boolean): Promise<number> {
  const consumer = log.consumer({ groupId: `g${groups++}`, maxWaitTimeInMs: 10, heartbeatInterval: 3_000 })
  await consumer.subscribe({ topics: [topic], fromBeginning: true })
  let seen = 0
  let chars = 0
  let first = 0
  let resolveDone!: () => void
  const done = new Promise<void>((r) => { resolveDone = r })
  const start = performance.now()
  await consumer.run({
    eachBatch: async ({ batch }) => {
      if (first === 0) first = performance.now()
      if (decode) {
        for (const m of batch.messages) chars += m.key!.toString().length + m.value!.toString().length
      } else {
        for (const m of batch.messages) chars += m.value!.byteLength
      }
      seen += batch.messages.length
      if (seen >= RECORDS) resolveDone()
    },
  })
  await done
  const ms = performance.now() - start
  await consumer.disconnect()
  if (seen !== RECORDS) throw new Error(`consumed ${seen} of ${RECORDS}`)
  if (decode && chars !== totalChars) throw new Error(`decoded ${chars} characters`)
  firstBatch[decode ? 'consumeDecoded' : 'consumeRaw'].push(first - start)
  return ms
}

// Check once that what the producer stored reads back as the strings sent.
{
  const topic = await newTopic()
  const producer = log.producer()
  await producer.send({ topic, messages: sends[0], acks: 1 })
  const consumer = log.consumer({ groupId: 'check' })
  await consumer.subscribe({ topics: [topic], fromBeginning: true })
  await new Promise<void>((resolve, reject) => {
    void consumer.run({ eachBatch: async ({ batch }) => {
      for (const [i, m] of batch.messages.entries()) {
        if (m.key!.toString() !== sends[0][i].key || m.value!.toString() !== sends[0][i].value) reject(new Error(`message ${i} differs`))
      }
      resolve()
    } })
  })
  await consumer.disconnect()
  await producer.disconnect()
}

const firstBatch: Record<string, number[]> = { consumeDecoded: [], consumeRaw: [] }
const times: Record<string, number[]> = { decodeLoop: [], loop: [], strings: [], binary: [], consumeDecoded: [], consumeRaw: [] }
// One warm-up round, then ROUNDS rounds, each path once per round in the same order.
for (let round = -1; round < ROUNDS; round++) {
  await timed('loop', round, plainLoop)
  await timed('decodeLoop', round, decodeLoop)
  const stringTopic = await newTopic()
  await timed('strings', round, () => produceStrings(stringTopic))
  const binaryTopic = await newTopic()
  await timed('binary', round, () => produceBinary(binaryTopic))
  await timed('consumeDecoded', round, () => consumeGroup(stringTopic, true))
  await timed('consumeRaw', round, () => consumeGroup(stringTopic, false))
  // Let go of the round's topics: keeps the heap (and the collector's work) the same each round.
  await log.admin().deleteTopics({ topics: [`t${topicCounter - 2}`, `t${topicCounter - 1}`] })
}
await log.close()

const loop = rate(RECORDS, median(times.loop))
/** Main-thread CPU over all rounds (mean, not median: single rounds are a few 10 ms ticks). */
const cpuRate = (key: string) => rate(RECORDS * cpuTimes[key].length, cpuTimes[key].reduce((a, b) => a + b, 0))
const loopCpu = hasThreadStat ? cpuRate('loop') : NaN
const rows: Array<Array<string | number>> = []
const result: Record<string, number> = {}
const resultCpu: Record<string, number> = {}
const add = (name: string, key: string, aim: string) => {
  const r = rate(RECORDS, median(times[key]))
  const c = hasThreadStat ? cpuRate(key) : NaN
  result[key] = r
  if (hasThreadStat) resultCpu[key] = c
  const first = firstBatch[key] ? `; first batch after ${median(firstBatch[key]).toFixed(1)} ms` : ''
  const cpuCells = hasThreadStat ? [c, key === 'loop' ? '1.00x' : `${(c / loopCpu).toFixed(2)}x`] : []
  rows.push([name + first, r, key === 'loop' ? '1.00x' : `${(r / loop).toFixed(2)}x`, ...cpuCells, aim])
}
add('plain loop: encodeInto into one buffer + CRC32C (the limit)', 'loop', '')
add('producer.send, string key + JSON string value, acks=1', 'strings', '≥ 0.5x')
add('producer.send, 100-byte Uint8Array value, acks=1', 'binary', '≥ 1.5 M/s')
add('group consumer, eachBatch, key and value toString()', 'consumeDecoded', '≥ 1x')
add('group consumer, eachBatch, values as bytes', 'consumeRaw', '')
add('plain loop: TextDecoder.decode of each key and value (what toString() alone costs)', 'decodeLoop', '')
table(
  `String messages (${RECORDS.toLocaleString('en')} records, keys ~${avgKey.toFixed(0)} chars, JSON values ~${avgValue.toFixed(0)} chars, ` +
    `1,000 per send, memory storage, 1 partition, median of ${ROUNDS}; records/s)`,
  ['path', 'records/s', 'vs loop', ...(hasThreadStat ? ['main-thread CPU, records/s', 'vs loop'] : []), 'aim'],
  rows,
)
if (hasThreadStat) {
  console.log('(main-thread CPU: records per second of the main thread\'s CPU time over all rounds; the garbage collector\'s helper threads and other processes left out)')
}
report.strings = { records: RECORDS, ...result }
if (hasThreadStat) report.stringsMainThreadCpu = { records: RECORDS, ...resultCpu }
console.log(`\n${JSON.stringify({ strings: report.strings })}${sink === 0.5 ? ' ' : ''}`)
if (hasThreadStat) console.log(JSON.stringify({ stringsMainThreadCpu: report.stringsMainThreadCpu }))
