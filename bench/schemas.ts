/**
 * Issue 17's benchmark: produce and consume of Avro records through the wire-format serializer
 * (`log.producer({ serializers })`, `log.consumer({ deserializers })`, Confluent's wire format,
 * schemas from the log's own registry), as a ratio to the same objects sent as plain JSON
 * strings (`JSON.stringify` on the way in, `JSON.parse(value.toString())` on the way out), in
 * the same run. In process over MemoryStorage, 1 partition, 1,000 messages per send, acks=1;
 * one warm-up round, then rounds alternating the two paths; medians. Consumers read with the
 * default fetch size (1 MiB per partition) and with 64 KiB. Also counts the registry lookups
 * each path made (cached: one per subject and one per schema id, never per record).
 *   node bench/node.mjs bench/schemas.ts [--records N] [--rounds R]
 */
import { core, memory, schemas } from './built.ts'
import { median, report, table, numberOption } from './report.ts'

const { openLog } = core
const { MemoryStorage } = memory
const { SchemaRegistry, SchemaSerde } = schemas

const option = numberOption
const RECORDS = option('records', 200_000)
const ROUNDS = option('rounds', 5)
const PER_SEND = 1000

interface PageView { id: number; user: string; type: string; at: number; path: string; referrer: string | null }
const schema = {
  type: 'record', name: 'PageView', namespace: 'bench',
  fields: [
    { name: 'id', type: 'long' }, { name: 'user', type: 'string' },
    { name: 'type', type: { type: 'enum', name: 'Kind', symbols: ['page_view', 'click', 'scroll'] } },
    { name: 'at', type: 'long' }, { name: 'path', type: 'string' }, { name: 'referrer', type: ['null', 'string'], default: null },
  ],
}

/** The objects a user holds: built once, outside every timing (the same for both paths). */
const sends: Array<Array<{ key: string; value: PageView }>> = []
for (let i = 0; i < RECORDS; i += PER_SEND) {
  sends.push(Array.from({ length: Math.min(PER_SEND, RECORDS - i) }, (_, j) => {
    const n = i + j
    return { key: `user-${n % 10_000}`, value: { id: n, user: `user-${n % 10_000}`, type: n % 7 ? 'page_view' : 'click', at: 1764000000000 + n, path: `/products/${n % 5000}`, referrer: n % 3 ? null : 'https://example.com/' } }
  }))
}

const log = await openLog({ storage: new MemoryStorage(), settings: { 'log.retention.check.interval.ms': 0 } })
const registry = new SchemaRegistry(log.broker)
let lookups = 0
const counted = {
  schemaById: (id: number) => { lookups++; return registry.schemaById(id) },
  getVersion: (s: string, v: number | 'latest') => { lookups++; return registry.getVersion(s, v) },
}
let topics = 0
const newTopic = async (kind: string) => {
  const topic = `${kind}${topics++}`
  await log.admin().createTopics({ topics: [{ topic, numPartitions: 1 }] })
  // TopicNameStrategy: the serializer encodes with <topic>-value's latest schema.
  if (kind === 'avro') await registry.register(`${topic}-value`, { schema: JSON.stringify(schema) })
  return topic
}

async function produceJson(topic: string): Promise<number> {
  const producer = log.producer({ maxBatchBytes: 4 << 20 })
  await producer.connect()
  const start = performance.now()
  for (const batch of sends) await producer.send({ topic, acks: 1, messages: batch.map((m) => ({ key: m.key, value: JSON.stringify(m.value) })) })
  const ms = performance.now() - start
  await producer.disconnect()
  return ms
}

async function produceAvro(topic: string): Promise<number> {
  const producer = log.producer({ maxBatchBytes: 4 << 20, serializers: { value: new SchemaSerde(counted).serializer<PageView>() } })
  await producer.connect()
  const start = performance.now()
  for (const batch of sends) await producer.send({ topic, acks: 1, messages: batch })
  const ms = performance.now() - start
  await producer.disconnect()
  return ms
}

let groups = 0
let check = 0
async function consume(topic: string, avro: boolean, maxBytesPerPartition?: number): Promise<number> {
  const config = { groupId: `g${groups++}`, maxWaitTimeInMs: 10, heartbeatInterval: 3_000, maxBytesPerPartition }
  const consumer = avro
    ? log.consumer({ ...config, deserializers: { value: new SchemaSerde(counted).deserializer<PageView>() } })
    : log.consumer(config)
  await consumer.subscribe({ topics: [topic], fromBeginning: true })
  let seen = 0
  let resolveDone!: () => void
  const done = new Promise<void>((r) => { resolveDone = r })
  const start = performance.now()
  await consumer.run({
    eachBatch: async ({ batch }) => {
      // Both paths hand the user an object: read one field of each, as a user would.
      if (avro) for (const m of batch.messages) check += (m.value as PageView).id
      else for (const m of batch.messages) check += (JSON.parse(m.value!.toString()) as PageView).id
      seen += batch.messages.length
      if (seen >= RECORDS) resolveDone()
    },
  })
  await done
  const ms = performance.now() - start
  await consumer.disconnect()
  if (seen !== RECORDS) throw new Error(`consumed ${seen} of ${RECORDS}`)
  return ms
}

const bytesOf = async (topic: string) => (await log.admin().fetchTopicOffsets(topic)).length && (await log.broker.fetch({ topic, partition: 0, offset: 0, maxBytes: 64 << 20, maxWaitMs: 0, minBytes: 1 })).batches.reduce((n, b) => n + b.byteLength, 0)

const times: Record<string, number[]> = { jsonProduce: [], avroProduce: [], jsonConsume: [], avroConsume: [], jsonConsumeSmall: [], avroConsumeSmall: [] }
/** The consumer's default fetch (1 MiB per partition) holds twice as many Avro records as JSON ones: also measured at 64 KiB. */
const SMALL_FETCH = 64 << 10
const lookupsPerRound: number[] = []
let sizes = { json: 0, avro: 0, sample: 0 }
for (let round = -1; round < ROUNDS; round++) {
  const keep = (name: string, ms: number) => { if (round >= 0) times[name].push(ms) }
  const jsonTopic = await newTopic('json')
  const avroTopic = await newTopic('avro')
  const before = lookups
  // Alternate which path goes first, so neither always runs on a fresher heap.
  const order = round % 2 ? ['avro', 'json'] : ['json', 'avro']
  for (const path of order) {
    if (path === 'json') keep('jsonProduce', await produceJson(jsonTopic))
    else keep('avroProduce', await produceAvro(avroTopic))
  }
  for (const path of order) {
    if (path === 'json') keep('jsonConsume', await consume(jsonTopic, false))
    else keep('avroConsume', await consume(avroTopic, true))
  }
  for (const path of order) {
    if (path === 'json') keep('jsonConsumeSmall', await consume(jsonTopic, false, SMALL_FETCH))
    else keep('avroConsumeSmall', await consume(avroTopic, true, SMALL_FETCH))
  }
  lookupsPerRound.push(lookups - before)
  if (round === ROUNDS - 1) sizes = { json: await bytesOf(jsonTopic), avro: await bytesOf(avroTopic), sample: 0 }
  await log.admin().deleteTopics({ topics: [jsonTopic, avroTopic] })
}
await log.close()

// The codecs alone, without the log: what the serializer and deserializer cost per record.
const parsed = schemas.parseSchema({ schema: JSON.stringify(schema) }, () => { throw new Error('no references') })
const flat = sends.flat().map((m) => m.value)
const utf8 = new TextEncoder()
const text = new TextDecoder()
const jsonBytes = flat.map((v) => utf8.encode(JSON.stringify(v)))
const avroBytes = flat.map((v) => schemas.encodeWith(parsed, v, 1))
const codecTimes: Record<string, number[]> = { jsonEncode: [], avroEncode: [], jsonDecode: [], avroDecode: [] }
const deserialize = new SchemaSerde({ schemaById: async () => ({ schema: JSON.stringify(schema) }), getVersion: async () => { throw new Error('unused') } })
await deserialize.schema(1)
const fromWire = deserialize.deserializer<PageView>()
for (let round = -1; round < ROUNDS; round++) {
  const time = (name: string, f: (i: number) => unknown) => {
    const start = performance.now()
    for (let i = 0; i < flat.length; i++) if (f(i) === undefined) check++
    if (round >= 0) codecTimes[name].push(performance.now() - start)
  }
  time('jsonEncode', (i) => utf8.encode(JSON.stringify(flat[i])))
  time('avroEncode', (i) => schemas.encodeWith(parsed, flat[i], 1))
  time('jsonDecode', (i) => JSON.parse(text.decode(jsonBytes[i])))
  time('avroDecode', (i) => fromWire(avroBytes[i] as never, undefined as never))
}

const rate = (ms: number[]) => Math.round(RECORDS / (median(ms) / 1000))
const result = {
  records: RECORDS,
  jsonProduce: rate(times.jsonProduce), avroProduce: rate(times.avroProduce),
  jsonConsume: rate(times.jsonConsume), avroConsume: rate(times.avroConsume),
  jsonConsumeSmall: rate(times.jsonConsumeSmall), avroConsumeSmall: rate(times.avroConsumeSmall),
  lookupsPerRound: Math.max(...lookupsPerRound),
  jsonEncode: rate(codecTimes.jsonEncode), avroEncode: rate(codecTimes.avroEncode), jsonDecode: rate(codecTimes.jsonDecode), avroDecode: rate(codecTimes.avroDecode),
  bytesPerRecordJson: Math.round(sizes.json / RECORDS), bytesPerRecordAvro: Math.round(sizes.avro / RECORDS),
}
table(
  `Avro through the wire-format serializer vs JSON strings (${RECORDS.toLocaleString('en')} records, 1,000 per send, acks=1, memory storage, 1 partition, median of ${ROUNDS}; records/s)`,
  ['path', 'JSON strings', 'Avro (wire format)', 'Avro / JSON'],
  [
    ['produce: producer.send of objects (JSON.stringify vs serializers.value)', result.jsonProduce, result.avroProduce, `${(result.avroProduce / result.jsonProduce).toFixed(2)}x`],
    ['consume: group consumer, eachBatch, objects (JSON.parse vs deserializers.value)', result.jsonConsume, result.avroConsume, `${(result.avroConsume / result.jsonConsume).toFixed(2)}x`],
    ['consume, the same with maxBytesPerPartition 64 KiB', result.jsonConsumeSmall, result.avroConsumeSmall, `${(result.avroConsumeSmall / result.jsonConsumeSmall).toFixed(2)}x`],
    ['codec alone: JSON.stringify + TextEncoder vs the serializer (wire format)', result.jsonEncode, result.avroEncode, `${(result.avroEncode / result.jsonEncode).toFixed(2)}x`],
    ['codec alone: TextDecoder + JSON.parse vs the deserializer (wire format)', result.jsonDecode, result.avroDecode, `${(result.avroDecode / result.jsonDecode).toFixed(2)}x`],
    ['stored bytes per record (batches, uncompressed)', result.bytesPerRecordJson, result.bytesPerRecordAvro, `${(result.bytesPerRecordAvro / result.bytesPerRecordJson).toFixed(2)}x`],
  ],
)
console.log(`\nregistry lookups per round (one Avro producer and two Avro consumers, ${RECORDS.toLocaleString('en')} records each): ${result.lookupsPerRound}`)
report.schemas = result
console.log(`\n${JSON.stringify({ schemas: report.schemas })}${check === 0.5 ? ' ' : ''}`)
