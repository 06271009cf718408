import { describe, expect, it } from 'vitest'
import { MemoryStorage } from '../../adapters/memory/index.ts'
import { LocalBroker } from '../../core/log/local-broker.ts'
import { createClient } from '../../core/client/client.ts'
import { encodeBatch } from '../../core/codec/record-batch.ts'
import { txnKey, type TxnMetadata } from '../../core/txn/state.ts'
import { readPartition, values } from './helpers.ts'
import { clock } from '../core/helpers.ts'

async function setup(options: { storage?: MemoryStorage; now?: () => number; partitions?: number } = {}) {
  const storage = options.storage ?? new MemoryStorage()
  const broker = new LocalBroker({ storage, now: options.now, transactionCleanupIntervalMs: 0 })
  const log = createClient(broker)
  await broker.createTopics({ topics: [{ topic: 'in', numPartitions: options.partitions ?? 1 }, { topic: 'out', numPartitions: options.partitions ?? 1 }] })
  return { storage, broker, log }
}

describe('transactions (KIP-98) in process', () => {
  it('a committed transaction is read by read_committed; an aborted one only by read_uncommitted', async () => {
    const { broker, log } = await setup()
    const producer = log.producer({ transactionalId: 'tx', idempotent: true, maxInFlightRequests: 1 })
    const t1 = await producer.transaction()
    expect(t1.isActive()).toBe(true)
    await t1.send({ topic: 'out', messages: [{ value: 'a' }, { value: 'b' }] })
    await t1.commit()
    expect(t1.isActive()).toBe(false)
    const t2 = await producer.transaction()
    await t2.sendBatch({ topicMessages: [{ topic: 'out', messages: [{ value: 'x' }] }] })
    await t2.abort()
    const t3 = await producer.transaction()
    await t3.send({ topic: 'out', messages: [{ value: 'c' }] })
    await t3.commit()

    const committed = await readPartition(broker, 'out', 0, 'read_committed')
    expect(values(committed.records)).toEqual(['a', 'b', 'c'])
    const all = await readPartition(broker, 'out', 0, 'read_uncommitted')
    expect(values(all.records)).toEqual(['a', 'b', 'x', 'c'])
    // 4 records + 3 markers.
    expect((await broker.describePartitions({ topic: 'out' }))[0].highWatermark).toBe(7)
  })

  it('read_committed stops at the last stable offset while a transaction is open', async () => {
    const { broker, log } = await setup()
    const plain = log.producer({ idempotent: true })
    await plain.send({ topic: 'out', messages: [{ value: 'before' }] })
    const producer = log.producer({ transactionalId: 'tx' })
    const txn = await producer.transaction()
    await txn.send({ topic: 'out', messages: [{ value: 'open' }] })
    await plain.send({ topic: 'out', messages: [{ value: 'after' }] })
    const result = await broker.fetch({ topic: 'out', partition: 0, offset: 0, maxBytes: 1 << 20, isolationLevel: 1 })
    expect(result.lastStableOffset).toBe(1)
    expect(result.highWatermark).toBe(3)
    expect(values((await readPartition(broker, 'out', 0, 'read_committed')).records)).toEqual(['before'])
    // A parked read_committed fetch wakes when the commit moves the LSO.
    const parked = broker.fetch({ topic: 'out', partition: 0, offset: 1, maxBytes: 1 << 20, maxWaitMs: 5000, isolationLevel: 1 })
    await txn.commit()
    const woke = await parked
    expect(woke.batches.length).toBeGreaterThan(0)
    expect(woke.lastStableOffset).toBe(4)
    expect(values((await readPartition(broker, 'out', 0, 'read_committed')).records)).toEqual(['before', 'open', 'after'])
  })

  it('a second producer with the same transactional id fences the first and aborts its transaction', async () => {
    const { broker, log } = await setup()
    const first = log.producer({ transactionalId: 'tx' })
    const t1 = await first.transaction()
    await t1.send({ topic: 'out', messages: [{ value: 'zombie' }] })
    const second = log.producer({ transactionalId: 'tx' })
    const t2 = await second.transaction()
    await t2.send({ topic: 'out', messages: [{ value: 'live' }] })
    await expect(t1.send({ topic: 'out', messages: [{ value: 'late' }] })).rejects.toMatchObject({ code: 'INVALID_PRODUCER_EPOCH' })
    await expect(t1.commit()).rejects.toMatchObject({ code: 'INVALID_TXN_STATE' })
    await expect(t1.abort()).rejects.toMatchObject({ code: 'PRODUCER_FENCED' })
    await t2.commit()
    expect(values((await readPartition(broker, 'out', 0, 'read_committed')).records)).toEqual(['live'])
    expect(values((await readPartition(broker, 'out', 0, 'read_uncommitted')).records)).toEqual(['zombie', 'live'])
  })

  it('sendOffsets moves the group offsets only when the transaction commits', async () => {
    const { broker, log } = await setup()
    const producer = log.producer({ transactionalId: 'tx' })
    const offsets = async () => (await broker.fetchOffsets({ groupId: 'g', topics: ['in'] }))[0].offset
    const t1 = await producer.transaction()
    await t1.send({ topic: 'out', messages: [{ value: 'r1' }] })
    await t1.sendOffsets({ consumerGroupId: 'g', topics: [{ topic: 'in', partitions: [{ partition: 0, offset: '5' }] }] })
    expect(await offsets()).toBe(-1)
    await t1.abort()
    expect(await offsets()).toBe(-1)
    const t2 = await producer.transaction()
    await t2.sendOffsets({ consumerGroupId: 'g', topics: [{ topic: 'in', partitions: [{ partition: 0, offset: '7' }] }] })
    expect(await offsets()).toBe(-1)
    await t2.commit()
    expect(await offsets()).toBe(7)
  })

  it('an abandoned transaction is aborted after its timeout, fencing its producer', async () => {
    const time = clock()
    const { broker, log } = await setup({ now: time.now })
    const producer = log.producer({ transactionalId: 'tx', transactionTimeout: 1000 })
    const txn = await producer.transaction()
    await txn.send({ topic: 'out', messages: [{ value: 'abandoned' }] })
    time.advance(500)
    await broker.runMaintenance({})
    expect((await broker.fetch({ topic: 'out', partition: 0, offset: 0, maxBytes: 1 << 20, isolationLevel: 1 })).lastStableOffset).toBe(0)
    time.advance(600)
    await broker.runMaintenance({})
    const after = await broker.fetch({ topic: 'out', partition: 0, offset: 0, maxBytes: 1 << 20, isolationLevel: 1 })
    expect(after.lastStableOffset).toBe(2)
    expect(values((await readPartition(broker, 'out', 0, 'read_committed')).records)).toEqual([])
    await expect(txn.commit()).rejects.toMatchObject({ code: 'PRODUCER_FENCED' })
    const state = await broker.storage.getMeta<TxnMetadata>(txnKey('tx'))
    expect(state).toMatchObject({ state: 'CompleteAbort', producerEpoch: 1 })
  })

  it('a transaction left in PrepareCommit by a crash is finished on the next access, and the markers are written once', async () => {
    const storage = new MemoryStorage()
    const { broker, log } = await setup({ storage })
    const producer = log.producer({ transactionalId: 'tx' })
    const txn = await producer.transaction()
    await txn.send({ topic: 'out', messages: [{ value: 'v' }] })
    await txn.sendOffsets({ consumerGroupId: 'g', topics: [{ topic: 'in', partitions: [{ partition: 0, offset: 3 }] }] })
    // The crash: PrepareCommit persisted, no marker written.
    const state = (await storage.getMeta<TxnMetadata>(txnKey('tx')))!
    await storage.commit({ meta: [{ key: txnKey('tx'), value: { ...state, state: 'PrepareCommit' } }] })
    // A new broker over the same store (the old one is left alone, as after a crash).
    void broker
    const storage2 = storage
    const again = new LocalBroker({ storage: storage2, transactionCleanupIntervalMs: 0 })
    expect(values((await readPartition(again, 'out', 0, 'read_committed')).records)).toEqual([])
    await again.runMaintenance({})
    expect(values((await readPartition(again, 'out', 0, 'read_committed')).records)).toEqual(['v'])
    expect((await again.fetchOffsets({ groupId: 'g', topics: ['in'] }))[0].offset).toBe(3)
    // Finishing it again (a second recovery) writes no second marker.
    await storage2.commit({ meta: [{ key: txnKey('tx'), value: { ...state, state: 'PrepareCommit' } }] })
    const third = new LocalBroker({ storage: storage2, transactionCleanupIntervalMs: 0 })
    await third.runMaintenance({})
    expect((await third.describePartitions({ topic: 'out' }))[0].highWatermark).toBe(2)
    expect((await storage2.getMeta<TxnMetadata>(txnKey('tx')))!.state).toBe('CompleteCommit')
  })

  it('bad input is refused typed and stores nothing', async () => {
    const { broker, log } = await setup()
    const producer = log.producer({ transactionalId: 'tx' })
    await expect(producer.send({ topic: 'out', messages: [{ value: 'x' }] })).rejects.toMatchObject({ code: 'INVALID_TXN_STATE' })
    await expect(log.producer({ idempotent: true }).transaction()).rejects.toMatchObject({ code: 'INVALID_REQUEST' })
    const txn = await producer.transaction()
    await expect(producer.transaction()).rejects.toMatchObject({ code: 'INVALID_TXN_STATE' })
    await txn.send({ topic: 'out', messages: [{ value: 'x' }] })
    await txn.abort()
    await expect(txn.commit()).rejects.toMatchObject({ code: 'INVALID_TXN_STATE' })
    await expect(txn.send({ topic: 'out', messages: [{ value: 'y' }] })).rejects.toMatchObject({ code: 'INVALID_TXN_STATE' })
    const hw = (await broker.describePartitions({ topic: 'out' }))[0].highWatermark
    // A transactional batch for a partition not added to the transaction (KIP-890's check).
    const { producerId, producerEpoch } = await broker.initProducerId({ transactionalId: 'other' })
    const batch = encodeBatch([{ key: null, value: 'z', timestamp: Date.now() }], { producerId, producerEpoch, baseSequence: 0, isTransactional: true })
    const [refused] = await broker.produce({ acks: -1, entries: [{ topic: 'out', partition: 0, batch }] })
    expect(refused.error?.code).toBe('INVALID_TXN_STATE')
    // A control batch from a producer.
    const control = encodeBatch([{ key: Uint8Array.of(0, 0, 0, 1), value: new Uint8Array(6), timestamp: Date.now() }], { producerId, producerEpoch, isTransactional: true, isControl: true })
    const [forged] = await broker.produce({ acks: -1, entries: [{ topic: 'out', partition: 0, batch: control }] })
    expect(forged.error?.code).toBe('INVALID_RECORD')
    await expect(broker.addPartitionsToTxn({ transactionalId: 'other', producerId, producerEpoch, topics: [{ topic: 'out', partitions: [0, 9] }] })).rejects.toMatchObject({ code: 'UNKNOWN_TOPIC_OR_PARTITION' })
    await expect(broker.endTxn({ transactionalId: 'other', producerId, producerEpoch, committed: true })).rejects.toMatchObject({ code: 'INVALID_TXN_STATE' })
    await expect(broker.endTxn({ transactionalId: 'other', producerId: producerId + 100, producerEpoch, committed: true })).rejects.toMatchObject({ code: 'INVALID_PRODUCER_ID_MAPPING' })
    await expect(broker.initProducerId({ transactionalId: 'other', transactionTimeoutMs: 10_000_000 })).rejects.toMatchObject({ code: 'INVALID_TRANSACTION_TIMEOUT' })
    expect((await broker.describePartitions({ topic: 'out' }))[0].highWatermark).toBe(hw)
  })

  it('compaction drops aborted records, keeps markers, never passes an open transaction', async () => {
    const { broker, log } = await setup()
    await broker.createTopics({ topics: [{ topic: 'c', numPartitions: 1, configEntries: [{ name: 'cleanup.policy', value: 'compact' }, { name: 'segment.bytes', value: '200' }] }] })
    const producer = log.producer({ transactionalId: 'tx' })
    const txn = async (key: string, value: string, commit: boolean) => {
      const t = await producer.transaction()
      await t.send({ topic: 'c', messages: [{ key, value }] })
      await (commit ? t.commit() : t.abort())
    }
    await txn('k', 'v1', true)
    await txn('k', 'aborted', false) // an aborted record must not count as k's latest value
    await txn('j', 'j1', true)
    const open = await producer.transaction()
    await open.send({ topic: 'c', messages: [{ key: 'j', value: 'j-open' }] })
    await log.producer({ idempotent: true }).send({ topic: 'c', messages: [{ key: 'z', value: 'z1' }] })
    await log.producer({ idempotent: true }).send({ topic: 'c', messages: [{ key: 'z', value: 'z2' }] })
    await broker.runMaintenance({ topic: 'c' })
    expect(values((await readPartition(broker, 'c', 0, 'read_committed')).records)).toEqual(['v1', 'j1'])
    // The aborted record is gone; the open transaction's and everything after it are untouched.
    expect(values((await readPartition(broker, 'c', 0, 'read_uncommitted')).records)).toEqual(['v1', 'j1', 'j-open', 'z1', 'z2'])
    await open.commit()
    await broker.runMaintenance({ topic: 'c' })
    // j1 goes now that j-open committed (z1 stays: z2 is in the active segment, which is never cleaned).
    expect(values((await readPartition(broker, 'c', 0, 'read_committed')).records)).toEqual(['v1', 'j-open', 'z1', 'z2'])
  })

  it('retention drops aborted-index entries below the new log start, in the same commit', async () => {
    const time = clock(Date.now()) // records carry the producer's wall-clock timestamps
    const { broker, log, storage } = await setup({ now: time.now })
    await broker.createTopics({ topics: [{ topic: 'r', numPartitions: 1, configEntries: [{ name: 'segment.bytes', value: '150' }, { name: 'retention.ms', value: '1000' }] }] })
    const producer = log.producer({ transactionalId: 'tx' })
    for (const value of ['a1', 'a2', 'a3']) {
      const t = await producer.transaction()
      await t.send({ topic: 'r', messages: [{ value }] })
      await t.abort()
    }
    const abortedKeys = async () => (await storage.listMeta('abrt/')).length
    expect(await abortedKeys()).toBe(3)
    time.advance(5000)
    const t = await producer.transaction()
    await t.send({ topic: 'r', messages: [{ value: 'kept' }] })
    await t.commit()
    await broker.runMaintenance({})
    const [state] = await broker.describePartitions({ topic: 'r' })
    expect(state.logStartOffset).toBeGreaterThan(0)
    const left = (await storage.listMeta<{ lastOffset: number }>('abrt/')).map((e) => e.value.lastOffset)
    expect(left.every((last) => last >= state.logStartOffset)).toBe(true)
    expect(left.length).toBeLessThan(3)
    expect(values((await readPartition(broker, 'r', 0, 'read_committed', state.logStartOffset)).records)).toEqual(['kept'])
  })

  it('a read_committed consumer starting at the end starts at the last stable offset', async () => {
    const { broker, log } = await setup()
    const producer = log.producer({ transactionalId: 'tx' })
    const t = await producer.transaction()
    await t.send({ topic: 'out', messages: [{ value: 'open' }] })
    const [latest] = await broker.listOffsets({ topic: 'out', partitions: [0], spec: 'latest', isolationLevel: 1 })
    expect(latest.offset).toBe(0)
    expect((await broker.listOffsets({ topic: 'out', partitions: [0], spec: 'latest' }))[0].offset).toBe(1)
  })

  it('a transactional append racing its own EndTxn never leaves a transaction open behind the marker', async () => {
    for (let delay = 0; delay < 20; delay++) {
      const { broker } = await setup()
      const { producerId, producerEpoch } = await broker.initProducerId({ transactionalId: 'r' })
      await broker.addPartitionsToTxn({ transactionalId: 'r', producerId, producerEpoch, topics: [{ topic: 'out', partitions: [0] }] })
      const batch = (seq: number) => encodeBatch([{ key: null, value: `s${seq}`, timestamp: Date.now() }], { producerId, producerEpoch, baseSequence: seq, isTransactional: true })
      await broker.produce({ acks: -1, entries: [{ topic: 'out', partition: 0, batch: batch(0) }] })
      const ending = broker.endTxn({ transactionalId: 'r', producerId, producerEpoch, committed: true })
      for (let i = 0; i < delay; i++) await Promise.resolve()
      const [late] = await broker.produce({ acks: -1, entries: [{ topic: 'out', partition: 0, batch: batch(1) }] })
      await ending
      const result = await broker.fetch({ topic: 'out', partition: 0, offset: 0, maxBytes: 1 << 20, isolationLevel: 1 })
      expect(result.lastStableOffset).toBe(result.highWatermark)
      // Either it made it into the transaction (before the marker) or it was refused, typed.
      if (late.errorCode !== 0) expect(late.error?.code).toBe('INVALID_TXN_STATE')
      else expect(values((await readPartition(broker, 'out', 0, 'read_committed')).records)).toEqual(['s0', 's1'])
    }
  })

  it('the transaction object has KafkaJS\'s methods', async () => {
    const { log } = await setup()
    const t = await log.producer({ transactionalId: 'tx' }).transaction()
    for (const name of ['send', 'sendBatch', 'sendOffsets', 'commit', 'abort', 'isActive']) expect(typeof (t as unknown as Record<string, unknown>)[name]).toBe('function')
    await t.abort()
  })

  it('a fetch of only markers and aborted records still moves the group offset (KafkaJS\'s isEmptyDueToFiltering)', async () => {
    const { broker, log } = await setup()
    const producer = log.producer({ transactionalId: 'tx' })
    const seen: string[] = []
    const consumer = log.consumer({ groupId: 'tail', maxWaitTimeInMs: 20 })
    await consumer.connect()
    await consumer.subscribe({ topics: ['out'], fromBeginning: true })
    await consumer.run({ eachMessage: async ({ message }) => { seen.push(message.value!.toString()) } })
    const committed = async () => (await broker.fetchOffsets({ groupId: 'tail', topics: ['out'] }))[0].offset
    const until = async (ok: () => Promise<boolean>) => {
      const deadline = Date.now() + 5000
      while (!(await ok()) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10))
    }
    const t1 = await producer.transaction()
    await t1.send({ topic: 'out', messages: [{ value: 'x' }] })
    await t1.commit()
    await until(async () => seen.length === 1 && (await committed()) === 1)
    const t2 = await producer.transaction()
    await t2.send({ topic: 'out', messages: [{ value: 'y' }] })
    await t2.abort()
    await until(async () => (await committed()) === 4)
    await consumer.disconnect()
    expect(seen).toEqual(['x'])
    expect(await committed()).toBe(4)
  })

  it('consumers: read_committed (the default) skips aborted records and markers; readUncommitted sees aborted ones', async () => {
    const { log } = await setup()
    const producer = log.producer({ transactionalId: 'tx' })
    for (const [value, commit] of [['a', true], ['b', false], ['c', true]] as const) {
      const txn = await producer.transaction()
      await txn.send({ topic: 'out', messages: [{ value }] })
      await (commit ? txn.commit() : txn.abort())
    }
    const consume = async (readUncommitted: boolean) => {
      const seen: Array<{ value: string; offset: string }> = []
      const consumer = log.consumer({ groupId: `g-${readUncommitted}`, readUncommitted, maxWaitTimeInMs: 50 })
      await consumer.connect()
      await consumer.subscribe({ topics: ['out'], fromBeginning: true })
      await consumer.run({ eachMessage: async ({ message }) => { seen.push({ value: message.value!.toString(), offset: message.offset }) } })
      const deadline = Date.now() + 5000
      while (seen.length < (readUncommitted ? 3 : 2) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20))
      await new Promise((r) => setTimeout(r, 100))
      await consumer.disconnect()
      return seen
    }
    expect(await consume(false)).toEqual([{ value: 'a', offset: '0' }, { value: 'c', offset: '4' }])
    // After the last message (the marker behind it came in the same fetch, as in KafkaJS).
    expect((await log.broker.fetchOffsets({ groupId: 'g-false', topics: ['out'] }))[0].offset).toBe(5)
    expect((await consume(true)).map((m) => m.value)).toEqual(['a', 'b', 'c'])
  })
})
