/**
 * Interop with KafkaJS's own RecordBatch v2 encoder and decoder
 * (node_modules/kafkajs/src/protocol/recordBatch/v0): KafkaJS reads what edgelog writes, edgelog
 * reads what KafkaJS writes, and for the same input both write the same bytes.
 */
import fc from 'fast-check'
import { createRequire } from 'node:module'
import { describe, expect, it } from 'vitest'
import { decodeBatch, encodeBatch, encodeBatchAsync, validateBatch, type RecordInput } from '../../core/codec/index.ts'

const require = createRequire(import.meta.url)
const Decoder = require('kafkajs/src/protocol/decoder')
const { RecordBatch } = require('kafkajs/src/protocol/recordBatch/v0')
const decodeKafkaJSBatch = require('kafkajs/src/protocol/recordBatch/v0/decoder')
const KafkaJSRecord = require('kafkajs/src/protocol/recordBatch/record/v0')
const Long = require('kafkajs/src/utils/long')
const GZIP = 1

const toBuffer = (u: Uint8Array) => Buffer.from(u.buffer, u.byteOffset, u.byteLength)
const toU8 = (b: Buffer | null) => (b === null ? null : new Uint8Array(b.buffer, b.byteOffset, b.byteLength))
const arr = (u: Uint8Array | null | undefined) => (u == null ? null : Array.from(u))

type Headers = Record<string, Buffer | Buffer[]>
interface Generated {
  records: Array<{ key: Uint8Array | null; value: Uint8Array | null; timestampDelta: number; headers: Array<[string, Uint8Array]> }>
  baseOffset: number
  baseTimestamp: number
  producerId: number
  producerEpoch: number
  baseSequence: number
  partitionLeaderEpoch: number
  transactional: boolean
}

const bytesArb = fc.oneof(fc.constant(null), fc.uint8Array({ maxLength: 30 }), fc.uint8Array({ minLength: 100, maxLength: 200 }))
const genArb: fc.Arbitrary<Generated> = fc.record({
  records: fc.array(
    fc.record({
      key: bytesArb,
      value: bytesArb,
      timestampDelta: fc.oneof(fc.nat({ max: 100 }), fc.integer({ min: 0, max: 2 ** 40 })),
      // KafkaJS cannot encode null header values; keys are unique per record (it takes an object)
      headers: fc.uniqueArray(fc.tuple(fc.string({ unit: 'grapheme', minLength: 1, maxLength: 8 }).filter(k => !(k in {})) /* KafkaJS folds headers into a plain object */, fc.uint8Array({ maxLength: 10 })), { maxLength: 3, selector: h => h[0] }),
    }),
    { minLength: 1, maxLength: 20 },
  ),
  baseOffset: fc.oneof(fc.nat({ max: 1000 }), fc.integer({ min: 0, max: 2 ** 52 })),
  baseTimestamp: fc.integer({ min: 0, max: 2 ** 50 }),
  producerId: fc.oneof(fc.constant(-1), fc.integer({ min: 0, max: 2 ** 53 - 1 })),
  producerEpoch: fc.integer({ min: 0, max: 32767 }),
  baseSequence: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
  partitionLeaderEpoch: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
  transactional: fc.boolean(),
})

function edgelogInput(g: Generated): RecordInput[] {
  return g.records.map(r => ({
    key: r.key,
    value: r.value,
    timestamp: g.baseTimestamp + r.timestampDelta,
    // In the order KafkaJS writes them: it folds headers into a plain object, whose integer-like
    // keys come first ('0' before ' '), so byte-for-byte comparisons see the same order.
    headers: Object.entries(Object.fromEntries(r.headers)).map(([key, value]) => ({ key, value })),
  }))
}

function edgelogOptions(g: Generated) {
  return {
    baseOffset: g.baseOffset,
    baseTimestamp: g.baseTimestamp,
    producerId: g.producerId,
    producerEpoch: g.producerEpoch,
    baseSequence: g.baseSequence,
    partitionLeaderEpoch: g.partitionLeaderEpoch,
    isTransactional: g.transactional,
  }
}

async function kafkajsEncode(g: Generated, compression = 0): Promise<Uint8Array> {
  const records = g.records.map((r, i) =>
    KafkaJSRecord({
      offsetDelta: i,
      timestampDelta: Long.fromNumber(r.timestampDelta),
      key: r.key === null ? null : toBuffer(r.key),
      value: r.value === null ? null : toBuffer(r.value),
      headers: Object.fromEntries(r.headers.map(([k, v]) => [k, toBuffer(v)])) as Headers,
    }),
  )
  const encoder = await RecordBatch({
    compression,
    firstOffset: Long.fromNumber(g.baseOffset),
    firstTimestamp: g.baseTimestamp,
    maxTimestamp: g.baseTimestamp + Math.max(...g.records.map(r => r.timestampDelta)),
    partitionLeaderEpoch: g.partitionLeaderEpoch,
    lastOffsetDelta: g.records.length - 1,
    transactional: g.transactional,
    producerId: Long.fromNumber(g.producerId),
    producerEpoch: g.producerEpoch,
    firstSequence: g.baseSequence,
    records,
  })
  return new Uint8Array(encoder.buffer)
}

function expectKafkaJSDecoded(decoded: any, g: Generated): void {
  expect(decoded.firstOffset).toBe(String(g.baseOffset))
  expect(decoded.firstTimestamp).toBe(String(g.baseTimestamp))
  expect(decoded.maxTimestamp).toBe(String(g.baseTimestamp + Math.max(...g.records.map(r => r.timestampDelta))))
  expect(decoded.producerId).toBe(String(g.producerId))
  expect(decoded.producerEpoch).toBe(g.producerEpoch)
  expect(decoded.firstSequence).toBe(g.baseSequence)
  expect(decoded.partitionLeaderEpoch).toBe(g.partitionLeaderEpoch)
  expect(decoded.inTransaction).toBe(g.transactional)
  expect(decoded.lastOffsetDelta).toBe(g.records.length - 1)
  expect(decoded.records.length).toBe(g.records.length)
  decoded.records.forEach((r: any, i: number) => {
    const want = g.records[i]
    expect(r.offset).toBe(String(g.baseOffset + i))
    expect(r.timestamp).toBe(String(g.baseTimestamp + want.timestampDelta))
    expect(arr(toU8(r.key))).toEqual(arr(want.key))
    expect(arr(toU8(r.value))).toEqual(arr(want.value))
    const headers = Object.fromEntries(Object.entries(r.headers as Record<string, Buffer>).map(([k, v]) => [k, arr(toU8(v))]))
    expect(headers).toEqual(Object.fromEntries(want.headers.map(([k, v]) => [k, arr(v)])))
  })
}

async function expectEdgelogDecoded(bytes: Uint8Array, g: Generated, compression: 'none' | 'gzip'): Promise<void> {
  const header = await validateBatch(bytes)
  expect(header).toMatchObject({
    baseOffset: g.baseOffset, baseTimestamp: g.baseTimestamp, producerId: g.producerId, producerEpoch: g.producerEpoch,
    baseSequence: g.baseSequence, partitionLeaderEpoch: g.partitionLeaderEpoch, isTransactional: g.transactional,
    lastOffsetDelta: g.records.length - 1, recordCount: g.records.length, compression,
  })
  const { records } = await decodeBatch(bytes)
  expect(records.length).toBe(g.records.length)
  records.forEach((r, i) => {
    const want = g.records[i]
    expect(r.offset).toBe(g.baseOffset + i)
    expect(r.timestamp).toBe(g.baseTimestamp + want.timestampDelta)
    expect(arr(r.key)).toEqual(arr(want.key))
    expect(arr(r.value)).toEqual(arr(want.value))
    // KafkaJS writes headers in its object's key order (integer-like keys first)
    const got = Object.fromEntries(r.headers.map(h => [h.key, arr(h.value)]))
    expect(got).toEqual(Object.fromEntries(want.headers.map(([k, v]) => [k, arr(v)])))
  })
}

describe('KafkaJS interop', () => {
  it('KafkaJS decodes batches edgelog encodes (uncompressed)', async () => {
    await fc.assert(fc.asyncProperty(genArb, async g => {
      const bytes = encodeBatch(edgelogInput(g), edgelogOptions(g))
      expectKafkaJSDecoded(await decodeKafkaJSBatch(new Decoder(toBuffer(bytes))), g)
    }), { numRuns: 200 })
  })

  it('KafkaJS decodes batches edgelog encodes (gzip)', async () => {
    await fc.assert(fc.asyncProperty(genArb, async g => {
      const bytes = await encodeBatchAsync(edgelogInput(g), { ...edgelogOptions(g), compression: 'gzip' })
      const decoded = await decodeKafkaJSBatch(new Decoder(toBuffer(bytes)))
      expectKafkaJSDecoded(decoded, g)
    }), { numRuns: 50 })
  })

  it('edgelog decodes batches KafkaJS encodes (uncompressed and gzip)', async () => {
    await fc.assert(fc.asyncProperty(genArb, async g => {
      await expectEdgelogDecoded(await kafkajsEncode(g), g, 'none')
      await expectEdgelogDecoded(await kafkajsEncode(g, GZIP), g, 'gzip')
    }), { numRuns: 100 })
  })

  it('for the same input, edgelog and KafkaJS write identical bytes (uncompressed)', async () => {
    await fc.assert(fc.asyncProperty(genArb, async g => {
      const ours = encodeBatch(edgelogInput(g), edgelogOptions(g))
      const theirs = await kafkajsEncode(g)
      expect(Buffer.from(ours).toString('hex')).toBe(Buffer.from(theirs).toString('hex'))
    }), { numRuns: 200 })
  })

  it('a null header value and LogAppendTime read back in KafkaJS', async () => {
    const bytes = encodeBatch(
      [{ key: null, value: new TextEncoder().encode('v'), timestamp: 1000, headers: [{ key: 'a', value: null }, { key: 'a', value: new Uint8Array([1]) }] }],
      { timestampType: 'LogAppendTime' },
    )
    const decoded = await decodeKafkaJSBatch(new Decoder(toBuffer(bytes)))
    expect(decoded.timestampType).toBe(1)
    expect(decoded.records[0].headers.a).toEqual([null, Buffer.from([1])])
  })
})
