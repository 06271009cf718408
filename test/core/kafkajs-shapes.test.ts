/**
 * KafkaJS's exact shapes, method by method (node_modules/kafkajs/types/index.d.ts and a real
 * KafkaJS client object side by side): every method of KafkaJS's admin, producer and consumer is
 * there, the events have KafkaJS's names, and each shape that differed is checked on its own.
 * Where edgelog differs on purpose, docs/kafkajs.md says so.
 */
import { createRequire } from 'node:module'
import { afterEach, describe, expect, it } from 'vitest'
import { openLog, type EdgelogClient } from '../../core/index.ts'
import { MemoryStorage } from '../../adapters/memory/index.ts'

const require = createRequire(import.meta.url)
const { Kafka, logLevel } = require('kafkajs')

async function until(check: () => boolean | Promise<boolean>, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met')
    await new Promise((r) => setTimeout(r, 5))
  }
}

const FAST = { heartbeatInterval: 30, sessionTimeout: 1_000, rebalanceTimeout: 3_000, maxWaitTimeInMs: 50 }
/** What edgelog has on purpose not as KafkaJS has it (docs/kafkajs.md). */
const KNOWN = {} as Record<string, string[]>

let log: EdgelogClient | undefined
afterEach(async () => { await log?.close(); log = undefined })

async function fresh(topics: Record<string, number> = {}, records: Record<string, number> = {}): Promise<EdgelogClient> {
  log = await openLog({ storage: new MemoryStorage() })
  if (Object.keys(topics).length > 0) {
    await log.admin().createTopics({ topics: Object.entries(topics).map(([topic, numPartitions]) => ({ topic, numPartitions })) })
  }
  const producer = log.producer()
  for (const [topic, count] of Object.entries(records)) {
    for (let p = 0; p < topics[topic]; p++) {
      await producer.send({ topic, messages: Array.from({ length: count }, (_, i) => ({ partition: p, value: `m${i}` })) })
    }
  }
  return log
}

describe('every KafkaJS method is there', () => {
  const kafka = new Kafka({ brokers: ['127.0.0.1:1'], logLevel: logLevel.NOTHING })

  it.each(['admin', 'producer', 'consumer'] as const)('%s', async (kind) => {
    const l = await fresh()
    const theirs = kind === 'consumer' ? kafka.consumer({ groupId: 'g' }) : kafka[kind]()
    const ours = (kind === 'consumer' ? l.consumer({ groupId: 'g' }) : l[kind]()) as unknown as Record<string, unknown>
    const missing = Object.keys(theirs).filter((name) => typeof theirs[name] === 'function' && typeof ours[name] !== 'function')
    expect(missing).toEqual((KNOWN as Record<string, string[]>)[kind] ?? [])
  })

  it('admin and consumer events have KafkaJS names and values', async () => {
    const l = await fresh()
    expect(l.admin().events).toEqual(kafka.admin().events)
    expect(l.consumer({ groupId: 'g' }).events).toEqual(kafka.consumer({ groupId: 'g' }).events)
    expect(l.producer().events).toEqual(kafka.producer().events)
  })

  it('kafka.logger() and producer.logger() are KafkaJS Loggers', async () => {
    const l = await fresh()
    for (const logger of [l.logger(), l.producer().logger()]) {
      for (const m of ['info', 'warn', 'error', 'debug', 'namespace', 'setLogLevel'] as const) expect(typeof logger[m]).toBe('function')
    }
  })

  it('producer network events: REQUEST and REQUEST_QUEUE_SIZE per produce request, with KafkaJS payload fields', async () => {
    const l = await fresh({ t: 1 })
    const producer = l.producer()
    const requests: any[] = []
    const sizes: number[] = []
    producer.on(producer.events.REQUEST, (e: any) => requests.push(e.payload))
    producer.on(producer.events.REQUEST_QUEUE_SIZE, (e: any) => sizes.push(e.payload.queueSize))
    await producer.send({ topic: 't', messages: [{ value: 'a' }] })
    await producer.send({ topic: 't', messages: [{ value: 'b' }] })
    expect(requests).toHaveLength(2)
    expect(requests[0]).toMatchObject({ apiName: 'Produce', apiKey: 0, clientId: 'edgelog', correlationId: 0 })
    expect(requests[0].size).toBeGreaterThan(61)
    expect(typeof requests[0].duration).toBe('number')
    expect(sizes).toEqual([1, 0, 1, 0])
  })
})

describe('admin.deleteTopicRecords (Kafka DeleteRecords)', () => {
  it('moves the low watermark; the records before it are gone; fetchTopicOffsets shows it', async () => {
    const l = await fresh({ t: 2 }, { t: 10 })
    const admin = l.admin()
    await admin.deleteTopicRecords({ topic: 't', partitions: [{ partition: 0, offset: '4' }] })
    expect(await admin.fetchTopicOffsets('t')).toEqual([
      { partition: 0, offset: '10', high: '10', low: '4' },
      { partition: 1, offset: '10', high: '10', low: '0' },
    ])
    const consumer = l.consumer({ groupId: 'g', ...FAST })
    await consumer.subscribe({ topics: ['t'], fromBeginning: true })
    const seen: Array<[number, string]> = []
    await consumer.run({ eachMessage: async ({ partition, message }) => { seen.push([partition, message.offset]) } })
    await until(() => seen.length === 16)
    await consumer.disconnect()
    expect(seen.filter(([p]) => p === 0).map(([, o]) => o)).toEqual(['4', '5', '6', '7', '8', '9'])
    await expect(l.broker.fetch({ topic: 't', partition: 0, offset: 2, maxBytes: 1000 })).rejects.toMatchObject({ code: 'OFFSET_OUT_OF_RANGE' })
  })

  it("offset '-1' is the high watermark: everything so far", async () => {
    const l = await fresh({ t: 1 }, { t: 7 })
    await l.admin().deleteTopicRecords({ topic: 't', partitions: [{ partition: 0, offset: '-1' }] })
    expect((await l.admin().fetchTopicOffsets('t'))[0]).toMatchObject({ high: '7', low: '7' })
    await l.producer().send({ topic: 't', messages: [{ value: 'after' }] })
    const [p] = await l.admin().describePartitions('t')
    expect(p).toMatchObject({ logStartOffset: 7, highWatermark: 8 })
  })

  it('an offset below the low watermark deletes nothing (no error, as Kafka)', async () => {
    const l = await fresh({ t: 1 }, { t: 5 })
    await l.admin().deleteTopicRecords({ topic: 't', partitions: [{ partition: 0, offset: '3' }] })
    await l.admin().deleteTopicRecords({ topic: 't', partitions: [{ partition: 0, offset: '1' }] })
    expect((await l.admin().fetchTopicOffsets('t'))[0].low).toBe('3')
  })

  it('past the high watermark: OFFSET_OUT_OF_RANGE with the failed partitions; the others are done', async () => {
    const l = await fresh({ t: 2 }, { t: 5 })
    const error = await l.admin().deleteTopicRecords({ topic: 't', partitions: [{ partition: 0, offset: '2' }, { partition: 1, offset: '6' }] }).catch((e) => e)
    expect(error).toMatchObject({ code: 'OFFSET_OUT_OF_RANGE', topic: 't', partitions: [{ partition: 1, offset: '6' }] })
    expect(error.partitions[0].error).toMatchObject({ code: 'OFFSET_OUT_OF_RANGE' })
    expect((await l.admin().fetchTopicOffsets('t')).map((o) => o.low)).toEqual(['2', '0'])
  })

  it('bad input is typed and changes nothing', async () => {
    const l = await fresh({ t: 1, c: 1 }, { t: 3 })
    const admin = l.admin()
    await admin.alterConfigs({ validateOnly: false, resources: [{ type: 2, name: 'c', configEntries: [{ name: 'cleanup.policy', value: 'compact' }] }] })
    await expect(admin.deleteTopicRecords({ topic: 'c', partitions: [{ partition: 0, offset: '0' }] })).rejects.toMatchObject({ code: 'POLICY_VIOLATION' })
    await expect(admin.deleteTopicRecords({ topic: 'nope', partitions: [{ partition: 0, offset: '0' }] })).rejects.toMatchObject({ code: 'UNKNOWN_TOPIC_OR_PARTITION' })
    await expect(admin.deleteTopicRecords({ topic: 't', partitions: [{ partition: 3, offset: '0' }] })).rejects.toMatchObject({ code: 'UNKNOWN_TOPIC_OR_PARTITION' })
    await expect(admin.deleteTopicRecords({ topic: 't', partitions: [] })).rejects.toMatchObject({ code: 'INVALID_REQUEST' })
    await expect(admin.deleteTopicRecords({ topic: 't', partitions: [{ partition: 0, offset: 'x' }] })).rejects.toMatchObject({ code: 'OFFSET_OUT_OF_RANGE' })
    await expect(admin.deleteTopicRecords({ topic: 't', partitions: [{ partition: 0, offset: '-2' }] })).rejects.toMatchObject({ code: 'OFFSET_OUT_OF_RANGE' })
    await expect(admin.deleteTopicRecords({ topic: '' as string, partitions: [{ partition: 0, offset: '0' }] })).rejects.toMatchObject({ code: 'INVALID_TOPIC_EXCEPTION' })
    expect((await admin.fetchTopicOffsets('t'))[0]).toMatchObject({ low: '0', high: '3' })
  })
})

describe('admin shapes', () => {
  it('on / events / logger: CONNECT and DISCONNECT events, a KafkaJS Logger', async () => {
    const admin = (await fresh()).admin()
    const seen: string[] = []
    const off = admin.on(admin.events.CONNECT, (e) => seen.push(e.type))
    admin.on(admin.events.DISCONNECT, (e) => seen.push(e.type))
    await admin.connect()
    off()
    await admin.connect()
    await admin.disconnect()
    expect(seen).toEqual(['admin.connect', 'admin.disconnect'])
    const logger = admin.logger()
    for (const m of ['info', 'warn', 'error', 'debug', 'namespace', 'setLogLevel'] as const) expect(typeof logger[m]).toBe('function')
    logger.setLogLevel(logLevel.NOTHING)
    logger.error('not printed')
  })

  it('describeConfigs: isDefault and configSource as Kafka reports them; compression.type is a topic config', async () => {
    const l = await fresh()
    const admin = l.admin()
    await admin.createTopics({ topics: [{ topic: 't', configEntries: [{ name: 'compression.type', value: 'zstd' }] }] })
    const { resources: [r] } = await admin.describeConfigs({ includeSynonyms: false, resources: [{ type: 2, name: 't', configNames: ['compression.type', 'retention.ms'] }] })
    expect(r.configEntries).toEqual([
      expect.objectContaining({ configName: 'retention.ms', configValue: '604800000', isDefault: true, configSource: 5 }),
      expect.objectContaining({ configName: 'compression.type', configValue: 'zstd', isDefault: false, configSource: 1 }),
    ])
    await expect(admin.createTopics({ topics: [{ topic: 'u', configEntries: [{ name: 'compression.type', value: 'brotli' }] }] })).rejects.toMatchObject({ code: 'INVALID_CONFIG' })
  })

  it('ACLs: a typed refusal (no authorizer); partition reassignments: none in progress, only onto broker 0', async () => {
    const admin = (await fresh({ t: 1 })).admin()
    await expect(admin.describeAcls({})).rejects.toMatchObject({ code: 'SECURITY_DISABLED' })
    await expect(admin.createAcls({ acl: [] })).rejects.toMatchObject({ code: 'SECURITY_DISABLED' })
    await expect(admin.deleteAcls({ filters: [] })).rejects.toMatchObject({ code: 'SECURITY_DISABLED' })
    expect(await admin.listPartitionReassignments({})).toEqual({ topics: [] })
    await admin.alterPartitionReassignments({ topics: [{ topic: 't', partitionAssignment: [{ partition: 0, replicas: [0] }] }] })
    await expect(admin.alterPartitionReassignments({ topics: [{ topic: 't', partitionAssignment: [{ partition: 0, replicas: [1, 2] }] }] })).rejects.toMatchObject({ code: 'INVALID_REPLICATION_FACTOR' })
  })
})

describe('consumer shapes', () => {
  it('eachBatch: uncommittedOffsets() has numeric partitions, and commitOffsetsIfNecessary takes it', async () => {
    const l = await fresh({ t: 2 }, { t: 3 })
    const consumer = l.consumer({ groupId: 'g', ...FAST })
    await consumer.subscribe({ topics: ['t'], fromBeginning: true })
    const uncommitted: unknown[] = []
    await consumer.run({
      autoCommit: false,
      eachBatch: async ({ batch, resolveOffset, uncommittedOffsets, commitOffsetsIfNecessary }) => {
        for (const m of batch.messages) resolveOffset(m.offset)
        const offsets = uncommittedOffsets()
        uncommitted.push(offsets)
        await commitOffsetsIfNecessary(offsets)
      },
    })
    await until(async () => (await l.admin().fetchOffsets({ groupId: 'g', topics: ['t'] }))[0].partitions.every((p) => p.offset === '3'))
    await consumer.disconnect()
    expect(uncommitted).toContainEqual({ topics: [{ topic: 't', partitions: [{ partition: 0, offset: '3' }] }] })
    for (const o of uncommitted as Array<{ topics: Array<{ partitions: Array<{ partition: unknown }> }> }>) {
      for (const t of o.topics) for (const p of t.partitions) expect(typeof p.partition).toBe('number')
    }
  })

  it('commitOffsetsIfNecessary refuses a malformed argument, typed', async () => {
    const l = await fresh({ t: 1 }, { t: 1 })
    const consumer = l.consumer({ groupId: 'g', ...FAST })
    await consumer.subscribe({ topics: ['t'], fromBeginning: true })
    const errors: unknown[] = []
    await consumer.run({
      autoCommit: false,
      eachBatch: async ({ commitOffsetsIfNecessary }) => {
        errors.push(await commitOffsetsIfNecessary({ topic: 't' } as any).catch((e) => e))
      },
    })
    await until(() => errors.length > 0)
    await consumer.disconnect()
    expect(errors[0]).toMatchObject({ code: 'INVALID_REQUEST' })
  })

  it('the COMMIT_OFFSETS event carries TopicOffsets (numeric partitions); FETCH carries nodeId', async () => {
    const l = await fresh({ t: 1 }, { t: 2 })
    const consumer = l.consumer({ groupId: 'g', ...FAST })
    const commits: any[] = []
    const fetches: any[] = []
    consumer.on(consumer.events.COMMIT_OFFSETS, (e) => commits.push(e.payload))
    consumer.on(consumer.events.FETCH, (e) => fetches.push(e.payload))
    await consumer.subscribe({ topics: ['t'], fromBeginning: true })
    await consumer.run({ eachMessage: async () => {} })
    await until(() => commits.length > 0)
    await consumer.disconnect()
    expect(commits[0]).toMatchObject({ groupId: 'g', topics: [{ topic: 't', partitions: [{ partition: 0, offset: '2' }] }] })
    expect(fetches[0]).toMatchObject({ nodeId: 0, numberOfBatches: expect.any(Number), duration: expect.any(Number) })
  })

  it('commitOffsets past the high watermark is stored, as Kafka does; a consumer there resets by its policy', async () => {
    const l = await fresh({ t: 1 }, { t: 3 })
    const first = l.consumer({ groupId: 'g', ...FAST })
    await first.commitOffsets([{ topic: 't', partition: 0, offset: '100' }])
    expect(await l.admin().fetchOffsets({ groupId: 'g', topics: ['t'] })).toEqual([{ topic: 't', partitions: [{ partition: 0, offset: '100', metadata: null }] }])
    const consumer = l.consumer({ groupId: 'g', ...FAST })
    await consumer.subscribe({ topics: ['t'], fromBeginning: true })
    const seen: string[] = []
    await consumer.run({ eachMessage: async ({ message }) => { seen.push(message.offset) } })
    await until(() => seen.length === 3)
    await consumer.disconnect()
    expect(seen).toEqual(['0', '1', '2'])
  })

  it("describeGroup() has KafkaJS's GroupDescription shape, as admin.describeGroups", async () => {
    const l = await fresh({ t: 2 })
    const consumer = l.consumer({ groupId: 'g', ...FAST })
    await consumer.subscribe({ topics: ['t'] })
    await consumer.run({ eachMessage: async () => {} })
    await until(async () => (await consumer.describeGroup()).state === 'Stable')
    const group = await consumer.describeGroup()
    await consumer.disconnect()
    expect(group).toMatchObject({ groupId: 'g', errorCode: 0, protocolType: expect.any(String), protocol: expect.any(String) })
    expect(group.members[0]).toMatchObject({ memberId: expect.any(String), clientId: expect.any(String), clientHost: expect.any(String), memberAssignment: { t: [0, 1] } })
  })

  it('logger() is a KafkaJS Logger', async () => {
    const consumer = (await fresh()).consumer({ groupId: 'g' })
    const logger = consumer.logger()
    expect(logger).toBe(consumer.logger())
    const child = logger.namespace('child', logLevel.NOTHING)
    child.info('silent')
    for (const m of ['info', 'warn', 'error', 'debug', 'namespace', 'setLogLevel'] as const) expect(typeof child[m]).toBe('function')
  })
})
