/**
 * Kafka's four codecs (gzip, snappy, lz4, zstd): byte-compatible with the framing Kafka's clients
 * exchange, checked against independent implementations (snappyjs through KafkaJS's own
 * kafkajs-snappy, lz4_flex through lz4-napi, libzstd through zstd-codec); KafkaJS reads
 * edgelog's compressed batches and edgelog reads KafkaJS's, per codec; a decompression bomb is
 * refused typed; an unknown codec id is CORRUPT_MESSAGE and nothing is stored.
 */
import fc from 'fast-check'
import { createRequire } from 'node:module'
import { afterEach, beforeAll, describe, expect, it } from 'vitest'
import { compress, decompress, DEFAULT_MAX_INFLATED_BYTES } from '../../core/codec/compression.ts'
import { crc32c } from '../../core/codec/crc32c.ts'
import { lz4Compress } from '../../core/codec/lz4.ts'
import { snappyCompressRaw } from '../../core/codec/snappy.ts'
import { xxhash32 } from '../../core/codec/xxhash32.ts'
import { conformToTopicCompression } from '../../core/codec/topic-compression.ts'
import { decodeBatch, encodeBatch, encodeBatchAsync, readBatchHeader, validateBatch, type Compression } from '../../core/codec/record-batch.ts'
import { CompressionTypes, openLog, type EdgelogClient } from '../../core/index.ts'
import { MemoryStorage } from '../../adapters/memory/index.ts'

const require = createRequire(import.meta.url)
const kafkajs = require('kafkajs')
const Decoder = require('kafkajs/src/protocol/decoder')
const { RecordBatch } = require('kafkajs/src/protocol/recordBatch/v0')
const decodeKafkaJSBatch = require('kafkajs/src/protocol/recordBatch/v0/decoder')
const KafkaJSRecord = require('kafkajs/src/protocol/recordBatch/record/v0')
const Long = require('kafkajs/src/utils/long')
const SnappyCodec = require('kafkajs-snappy')
const snappyjs = require(require.resolve('snappyjs', { paths: [require.resolve('kafkajs-snappy')] }))
const lz4napi = require('lz4-napi')
const { ZstdCodec } = require('zstd-codec')

const CODECS = ['gzip', 'snappy', 'lz4', 'zstd'] as const
const toBuffer = (u: Uint8Array) => Buffer.from(u.buffer, u.byteOffset, u.byteLength)
const hex = (u: Uint8Array) => Buffer.from(u.buffer, u.byteOffset, u.byteLength).toString('hex')
const enc = new TextEncoder()

let zstd: { compress(b: Uint8Array, level: number): Uint8Array; decompress(b: Uint8Array): Uint8Array | null }

beforeAll(async () => {
  zstd = await new Promise((resolve) => ZstdCodec.run((z: any) => resolve(new z.Simple())))
  // KafkaJS's codec registry, filled as a KafkaJS user fills it: kafkajs-snappy for snappy; lz4 and
  // zstd through an LZ4-frame and a libzstd implementation (kafkajs-lz4 and @kafkajs/zstd wrap the
  // same formats but need a native build, which this machine cannot do).
  kafkajs.CompressionCodecs[kafkajs.CompressionTypes.Snappy] = SnappyCodec
  kafkajs.CompressionCodecs[kafkajs.CompressionTypes.LZ4] = () => ({
    compress: async (encoder: { buffer: Buffer }) => lz4napi.compressFrame(encoder.buffer),
    decompress: async (buffer: Buffer) => lz4napi.decompressFrame(buffer),
  })
  kafkajs.CompressionCodecs[kafkajs.CompressionTypes.ZSTD] = () => ({
    compress: async (encoder: { buffer: Buffer }) => Buffer.from(zstd.compress(encoder.buffer, 3)),
    decompress: async (buffer: Buffer) => Buffer.from(zstd.decompress(buffer) ?? new Uint8Array(0)),
  })
})

/** Samples: empty, tiny, incompressible, text, JSON records, long runs, over one block of each codec. */
function samples(): Uint8Array[] {
  let seed = 7
  const random = (n: number) => Uint8Array.from({ length: n }, () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) >>> 24))
  const json = enc.encode(JSON.stringify(Array.from({ length: 3000 }, (_, i) => ({ id: i, user: `user-${i % 97}`, email: `u${i}@example.com`, active: i % 3 === 0, score: (i * 7919) % 1000 }))))
  return [new Uint8Array(0), new Uint8Array([42]), enc.encode('hello hello hello hello'), random(1000), random(300_000), json, new Uint8Array(400_000), enc.encode('ab'.repeat(100_000))]
}

describe('each codec round-trips', () => {
  it.each(CODECS)('%s: the fixed samples', async (codec) => {
    for (const input of samples()) {
      const packed = await compress(codec, input)
      expect(hex(await decompress(codec, packed))).toBe(hex(input))
    }
  })

  it.each(CODECS)('%s: generated data (random and repetitive)', async (codec) => {
    const data = fc.oneof(
      fc.uint8Array({ maxLength: 5000 }),
      fc.array(fc.uint8Array({ minLength: 1, maxLength: 40 }), { maxLength: 200 }).chain((parts) =>
        fc.array(fc.nat({ max: Math.max(0, parts.length - 1) }), { maxLength: 400 }).map((picks) => {
          const chosen = parts.length ? picks.map((i) => parts[i]) : []
          const out = new Uint8Array(chosen.reduce((n, p) => n + p.length, 0))
          let at = 0
          for (const p of chosen) { out.set(p, at); at += p.length }
          return out
        })),
    )
    await fc.assert(fc.asyncProperty(data, async (input) => {
      expect(hex(await decompress(codec, await compress(codec, input)))).toBe(hex(input))
    }), { numRuns: codec === 'gzip' ? 50 : 200 })
  })

  it('the codecs shrink repetitive data', async () => {
    const json = samples()[5]
    for (const codec of CODECS) expect((await compress(codec, json)).length).toBeLessThan(json.length / 3)
  })
})

describe("Kafka's framing", () => {
  it('snappy: the xerial header, then big-endian block lengths over raw Snappy (32 KiB blocks)', async () => {
    const input = samples()[5]
    const packed = await compress('snappy', input)
    expect(hex(packed.subarray(0, 16))).toBe('82534e415050590000000001' + '00000001')
    const view = new DataView(packed.buffer, packed.byteOffset)
    let at = 16
    const parts: Buffer[] = []
    while (at < packed.length) {
      const size = view.getInt32(at)
      parts.push(snappyjs.uncompress(toBuffer(packed.subarray(at + 4, at + 4 + size))))
      at += 4 + size
    }
    expect(parts.length).toBe(Math.ceil(input.length / 32768))
    expect(hex(Buffer.concat(parts))).toBe(hex(input))
  })

  it('lz4: the LZ4 frame as Kafka writes it (FLG 0x60, BD 0x40, header checksum, end mark)', async () => {
    const packed = await compress('lz4', enc.encode('kafka'.repeat(100)))
    expect(hex(packed.subarray(0, 6))).toBe('04224d186040')
    expect(packed[6]).toBe((xxhash32(packed, 4, 6) >>> 8) & 0xff)
    expect(hex(packed.subarray(packed.length - 4))).toBe('00000000')
  })

  it('xxhash32 gives the reference values', () => {
    expect(xxhash32(new Uint8Array(0))).toBe(0x02cc5d05)
    expect(xxhash32(enc.encode('a'))).toBe(0x550d7456)
    expect(xxhash32(enc.encode('Nobody inspects the spammish repetition'))).toBe(0xe2293b2f)
  })

  it('zstd: one frame with its content size (magic 0xFD2FB528)', async () => {
    const packed = await compress('zstd', samples()[5])
    expect(hex(packed.subarray(0, 4))).toBe('28b52ffd')
    expect(packed[4] & 0x20).toBe(0x20)
  })
})

describe('independent implementations read ours, and we read theirs', () => {
  it.each(samples().map((s, i) => [i, s] as const))('sample %i', async (_i, input) => {
    // ours -> theirs
    expect(hex(lz4napi.decompressFrameSync(toBuffer(await compress('lz4', input))))).toBe(hex(input))
    expect(hex(zstd.decompress(await compress('zstd', input)) ?? new Uint8Array(0))).toBe(hex(input))
    expect(hex(await SnappyCodec().decompress(toBuffer(await compress('snappy', input))))).toBe(hex(input))
    expect(hex(snappyjs.uncompress(toBuffer(snappyCompressRaw(input))))).toBe(hex(input))
    // theirs -> ours
    expect(hex(await decompress('lz4', lz4napi.compressFrameSync(toBuffer(input))))).toBe(hex(input))
    expect(hex(await decompress('zstd', zstd.compress(input, 3)))).toBe(hex(input))
    expect(hex(await decompress('zstd', zstd.compress(input, 19)))).toBe(hex(input))
    expect(hex(await decompress('snappy', await SnappyCodec().compress({ buffer: toBuffer(input) })))).toBe(hex(input))
  })

  it('generated data: libzstd, lz4_flex and snappyjs decode what edgelog encodes', async () => {
    // Text-like bytes (Huffman-coded literals, matches) and arbitrary bytes (raw literals).
    const textish = fc.array(fc.constantFrom(...'{"id":12,"user":"u-7","ok":true}\n abcdefghij0123456789'.split('')), { maxLength: 6000 }).map((cs) => enc.encode(cs.join('')))
    // Record batches' records: varints (bytes over 0x7f), repeated JSON shapes, keys, headers.
    const batchRecords = fc.array(fc.record({ id: fc.nat(), user: fc.constantFrom('ann', 'bob', 'cy', 'dé'), n: fc.integer(), note: fc.string({ maxLength: 30 }) }), { minLength: 1, maxLength: 400 })
      .map((rs) => encodeBatch(rs.map((r, i) => ({ key: enc.encode(r.user), value: enc.encode(JSON.stringify(r)), timestamp: 1_700_000_000_000 + i * 7, headers: [{ key: 'h', value: enc.encode(r.user) }] }))).subarray(61))
    const data = fc.oneof(textish, batchRecords, fc.uint8Array({ maxLength: 3000 }), fc.tuple(textish, fc.uint8Array({ maxLength: 500 }), textish).map(([a, b, c]) => Uint8Array.from([...a, ...b, ...a, ...c])))
    await fc.assert(fc.asyncProperty(data, async (input) => {
      expect(hex(zstd.decompress(await compress('zstd', input)) ?? new Uint8Array(0))).toBe(hex(input))
      expect(hex(lz4napi.decompressFrameSync(toBuffer(await compress('lz4', input))))).toBe(hex(input))
      expect(hex(await SnappyCodec().decompress(toBuffer(await compress('snappy', input))))).toBe(hex(input))
    }), { numRuns: 300 })
  })

  it('lz4 frames with block and content checksums, linked blocks and a content size', async () => {
    const input = samples()[5]
    // lz4-napi writes linked (dependent) blocks; build a frame with every optional field by hand.
    const block = lz4Compress(input).subarray(7)
    const descriptor = [0x04, 0x22, 0x4d, 0x18, 0x40 | 0x20 | 0x10 | 0x08 | 0x04, 0x70]
    const size = new Uint8Array(8)
    new DataView(size.buffer).setUint32(0, input.length, true)
    const head = Uint8Array.from([...descriptor, ...size])
    const hc = (xxhash32(head, 4) >>> 8) & 0xff
    const parts: number[] = [...head, hc]
    let at = 0
    const view = new DataView(block.buffer, block.byteOffset)
    for (;;) {
      const word = view.getUint32(at, true)
      if (word === 0) break
      const data = block.subarray(at + 4, at + 4 + (word & 0x7fffffff))
      const sum = xxhash32(data)
      parts.push(...block.subarray(at, at + 4), ...data, sum & 0xff, (sum >>> 8) & 0xff, (sum >>> 16) & 0xff, sum >>> 24)
      at += 4 + data.length
    }
    const content = xxhash32(input)
    parts.push(0, 0, 0, 0, content & 0xff, (content >>> 8) & 0xff, (content >>> 16) & 0xff, content >>> 24)
    const frame = Uint8Array.from(parts)
    expect(hex(await decompress('lz4', frame))).toBe(hex(input))
    frame[frame.length - 1] ^= 1
    await expect(decompress('lz4', frame)).rejects.toMatchObject({ code: 'CORRUPT_MESSAGE' })
  })

  it('corrupt data is CORRUPT_MESSAGE, never a crash', async () => {
    const input = samples()[5]
    for (const codec of CODECS) {
      const packed = await compress(codec, input)
      for (const cut of [5, 17, packed.length >> 1, packed.length - 1]) {
        const result = await decompress(codec, packed.subarray(0, cut)).then((out) => out, (e) => e)
        if (result instanceof Uint8Array) expect(hex(result)).not.toBe(hex(input))
        else expect(result).toMatchObject({ code: 'CORRUPT_MESSAGE' })
      }
    }
    // Valid frames with bytes flipped: decoded (to something), or refused typed; never another error.
    const packedByCodec = Object.fromEntries(await Promise.all(['snappy', 'lz4', 'zstd'].map(async (c) => [c, await compress(c as Compression, samples()[5])])))
    await fc.assert(fc.asyncProperty(fc.constantFrom('snappy', 'lz4', 'zstd'), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 })), { minLength: 1, maxLength: 4 }), async (codec, flips) => {
      const bytes = packedByCodec[codec].slice()
      for (const [at, x] of flips) bytes[at % bytes.length] ^= x
      const result = await decompress(codec, bytes).then(() => 'ok', (e) => e.code)
      expect(['ok', 'CORRUPT_MESSAGE', 'MESSAGE_TOO_LARGE']).toContain(result)
    }), { numRuns: 600 })
    await fc.assert(fc.asyncProperty(fc.constantFrom('snappy', 'lz4', 'zstd'), fc.uint8Array({ maxLength: 300 }), async (codec, junk) => {
      const result = await decompress(codec, junk).then(() => 'ok', (e) => e.code)
      expect(['ok', 'CORRUPT_MESSAGE', 'MESSAGE_TOO_LARGE']).toContain(result)
    }), { numRuns: 500 })
  })
})

/** A batch like the generated ones of kafkajs-interop.test.ts, smaller. */
const batchArb = fc.record({
  records: fc.array(fc.record({
    key: fc.oneof(fc.constant(null), fc.uint8Array({ maxLength: 20 })),
    value: fc.oneof(fc.constant(null), fc.uint8Array({ maxLength: 50 }), fc.constantFrom(enc.encode('{"user":"u1","action":"click"}'.repeat(20)))),
    timestampDelta: fc.nat({ max: 10_000 }),
    headers: fc.uniqueArray(fc.tuple(fc.constantFrom('h1', 'trace', 'x'), fc.uint8Array({ maxLength: 8 })), { maxLength: 2, selector: (h) => h[0] }),
  }), { minLength: 1, maxLength: 30 }),
  baseTimestamp: fc.integer({ min: 0, max: 2 ** 45 }),
  producerId: fc.integer({ min: 0, max: 2 ** 40 }),
  producerEpoch: fc.integer({ min: 0, max: 100 }),
  baseSequence: fc.integer({ min: 0, max: 2 ** 30 }),
})
type Gen = typeof batchArb extends fc.Arbitrary<infer T> ? T : never

async function kafkajsEncode(g: Gen, compression: number): Promise<Uint8Array> {
  const encoder = await RecordBatch({
    compression,
    firstOffset: Long.fromNumber(0),
    firstTimestamp: g.baseTimestamp,
    maxTimestamp: g.baseTimestamp + Math.max(...g.records.map((r) => r.timestampDelta)),
    lastOffsetDelta: g.records.length - 1,
    producerId: Long.fromNumber(g.producerId),
    producerEpoch: g.producerEpoch,
    firstSequence: g.baseSequence,
    records: g.records.map((r, i) => KafkaJSRecord({
      offsetDelta: i, timestampDelta: Long.fromNumber(r.timestampDelta),
      key: r.key && toBuffer(r.key), value: r.value && toBuffer(r.value),
      headers: Object.fromEntries(r.headers.map(([k, v]) => [k, toBuffer(v)])),
    })),
  })
  return new Uint8Array(encoder.buffer)
}

function expectSameRecords(got: Array<{ key: unknown; value: unknown; timestamp: unknown; headers: unknown }>, g: Gen) {
  expect(got.length).toBe(g.records.length)
  got.forEach((r, i) => {
    const want = g.records[i]
    expect(Number(r.timestamp)).toBe(g.baseTimestamp + want.timestampDelta)
    expect(r.key == null ? null : hex(r.key as Uint8Array)).toBe(want.key === null ? null : hex(want.key))
    expect(r.value == null ? null : hex(r.value as Uint8Array)).toBe(want.value === null ? null : hex(want.value))
  })
}

describe('KafkaJS interop, per codec, both ways', () => {
  const ids: Record<(typeof CODECS)[number], number> = { gzip: 1, snappy: 2, lz4: 3, zstd: 4 }

  it.each(CODECS)('KafkaJS decodes the %s batches edgelog encodes', async (codec) => {
    await fc.assert(fc.asyncProperty(batchArb, async (g) => {
      const bytes = await encodeBatchAsync(
        g.records.map((r) => ({ key: r.key, value: r.value, timestamp: g.baseTimestamp + r.timestampDelta, headers: r.headers.map(([key, value]) => ({ key, value })) })),
        { baseTimestamp: g.baseTimestamp, producerId: g.producerId, producerEpoch: g.producerEpoch, baseSequence: g.baseSequence, compression: codec },
      )
      expect(readBatchHeader(bytes).compression).toBe(codec)
      const decoded = await decodeKafkaJSBatch(new Decoder(toBuffer(bytes)))
      expect(decoded.producerId).toBe(String(g.producerId))
      expect(decoded.firstSequence).toBe(g.baseSequence)
      expectSameRecords(decoded.records, g)
      decoded.records.forEach((r: any, i: number) => {
        expect(Object.fromEntries(Object.entries(r.headers).map(([k, v]) => [k, hex(v as Buffer)])))
          .toEqual(Object.fromEntries(g.records[i].headers.map(([k, v]) => [k, hex(v)])))
      })
    }), { numRuns: codec === 'gzip' ? 30 : 80 })
  })

  it.each(CODECS)('edgelog validates and decodes the %s batches KafkaJS encodes', async (codec) => {
    await fc.assert(fc.asyncProperty(batchArb, async (g) => {
      const bytes = await kafkajsEncode(g, ids[codec])
      const header = await validateBatch(bytes)
      expect(header.compression).toBe(codec)
      expect(header.producerId).toBe(g.producerId)
      const { records } = await decodeBatch(bytes)
      expectSameRecords(records, g)
    }), { numRuns: codec === 'gzip' ? 30 : 80 })
  })
})

describe("the producer's compression option", () => {
  let log: EdgelogClient | undefined
  afterEach(async () => { await log?.close(); log = undefined })

  it("KafkaJS's CompressionTypes has Kafka's ids", () => {
    expect(CompressionTypes).toEqual({ None: 0, GZIP: 1, Snappy: 2, LZ4: 3, ZSTD: 4 })
    expect(CompressionTypes).toEqual(kafkajs.CompressionTypes)
  })

  it.each([
    ['None', 'none'], ['GZIP', 'gzip'], ['Snappy', 'snappy'], ['LZ4', 'lz4'], ['ZSTD', 'zstd'],
  ] as const)('send({ compression: CompressionTypes.%s }) stores %s batches a consumer reads back', async (name, codec) => {
    log = await openLog({ storage: new MemoryStorage() })
    await log.admin().createTopics({ topics: [{ topic: 't' }] })
    const producer = log.producer()
    await producer.connect()
    const messages = Array.from({ length: 50 }, (_, i) => ({ key: `k${i}`, value: JSON.stringify({ i, text: 'the same words again and again' }), headers: { h: 'v' } }))
    await producer.send({ topic: 't', compression: CompressionTypes[name], messages })
    await producer.sendBatch({ compression: codec as Compression, topicMessages: [{ topic: 't', messages: messages.slice(0, 5) }] })
    const fetched = await log.broker.fetch({ topic: 't', partition: 0, offset: 0, maxBytes: 1 << 20 })
    expect(fetched.batches.map((b) => readBatchHeader(b).compression)).toEqual([codec, codec])
    const consumer = log.consumer({ groupId: 'g' })
    await consumer.connect()
    await consumer.subscribe({ topics: ['t'], fromBeginning: true })
    const seen: string[] = []
    await new Promise<void>((resolve) => {
      void consumer.run({ eachMessage: async ({ message }) => { seen.push(new TextDecoder().decode(message.value!)); if (seen.length === 55) resolve() } })
    })
    await consumer.disconnect()
    expect(seen.slice(0, 50)).toEqual(messages.map((m) => m.value))
  })

  it('an unknown compression is refused before anything is sent', async () => {
    log = await openLog({ storage: new MemoryStorage() })
    await log.admin().createTopics({ topics: [{ topic: 't' }] })
    const producer = log.producer()
    await expect(producer.send({ topic: 't', compression: 7 as any, messages: [{ value: 'x' }] })).rejects.toMatchObject({ code: 'UNSUPPORTED_FOR_MESSAGE_FORMAT' })
    expect((await log.admin().fetchTopicOffsets('t'))[0].high).toBe('0')
  })
})

/** Sets the codec bits of a batch to `id` and fixes its CRC: an intact batch naming that codec. */
function withCodecId(batch: Uint8Array, id: number): Uint8Array {
  const out = batch.slice()
  const view = new DataView(out.buffer)
  view.setInt16(21, (view.getInt16(21) & ~7) | id)
  view.setUint32(17, crc32c(out, 21, out.length))
  return out
}

describe('bad compressed input is refused typed, and nothing is stored', () => {
  let log: EdgelogClient | undefined
  afterEach(async () => { await log?.close(); log = undefined })

  it.each([5, 6, 7])('an unknown codec id %i is CORRUPT_MESSAGE', async (id) => {
    log = await openLog({ storage: new MemoryStorage() })
    await log.admin().createTopics({ topics: [{ topic: 't' }] })
    const batch = withCodecId(encodeBatch([{ key: null, value: enc.encode('x'), timestamp: 1 }]), id)
    await expect(validateBatch(batch)).rejects.toMatchObject({ code: 'CORRUPT_MESSAGE' })
    const [result] = await log.broker.produce({ acks: -1, entries: [{ topic: 't', partition: 0, batch }] }).then((r) => r, (e) => [{ error: e }])
    expect((result as any).error?.code).toBe('CORRUPT_MESSAGE')
    expect((await log.admin().fetchTopicOffsets('t'))[0].high).toBe('0')
  })

  it('records that claim a codec they are not in are CORRUPT_MESSAGE', async () => {
    for (const id of [2, 3, 4]) {
      const batch = withCodecId(encodeBatch([{ key: null, value: enc.encode('not compressed at all'), timestamp: 1 }]), id)
      await expect(validateBatch(batch)).rejects.toMatchObject({ code: 'CORRUPT_MESSAGE' })
    }
  })
})

describe('decompression bombs are refused, typed, before the memory is spent', () => {
  const limit = DEFAULT_MAX_INFLATED_BYTES

  it('the limit is 32 × the default max.message.bytes', () => {
    expect(limit).toBe(32 * (1024 * 1024 + 12))
  })

  it('gzip: 64 MiB of zeros in ~64 KiB stops at the limit', async () => {
    const bomb = await compress('gzip', new Uint8Array(64 * 1024 * 1024))
    expect(bomb.length).toBeLessThan(100_000)
    await expect(decompress('gzip', bomb)).rejects.toMatchObject({ code: 'MESSAGE_TOO_LARGE' })
    await expect(decompress('gzip', bomb, 1 << 20)).rejects.toMatchObject({ code: 'MESSAGE_TOO_LARGE' })
  })

  it('zstd: a frame declaring 4 GiB is refused from its header', async () => {
    // magic, FHD: single segment + 4-byte content size, 0xFFFFFFFF, one empty raw block
    const frame = Uint8Array.from([0x28, 0xb5, 0x2f, 0xfd, 0xa0, 0xff, 0xff, 0xff, 0xff, 0x01, 0x00, 0x00])
    await expect(decompress('zstd', frame)).rejects.toMatchObject({ code: 'MESSAGE_TOO_LARGE' })
  })

  it('zstd: a frame of unknown size made of RLE blocks stops at the limit', async () => {
    // window 128 KiB, no content size; each RLE block is 4 bytes for 128 KiB of output
    const blocks = 300
    const frame = new Uint8Array(6 + blocks * 4)
    frame.set([0x28, 0xb5, 0x2f, 0xfd, 0x00, 0x38])
    for (let i = 0; i < blocks; i++) {
      const v = (i === blocks - 1 ? 1 : 0) | (1 << 1) | (131072 << 3)
      frame.set([v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, 0x61], 6 + i * 4)
    }
    await expect(decompress('zstd', frame)).rejects.toMatchObject({ code: 'MESSAGE_TOO_LARGE' })
    expect((await decompress('zstd', frame, blocks * 131072)).length).toBe(blocks * 131072)
  })

  it('snappy: a length of 4 GiB is refused from the varint, xerial or not', async () => {
    const raw = Uint8Array.from([0xff, 0xff, 0xff, 0xff, 0x0f, 0x00])
    await expect(decompress('snappy', raw)).rejects.toMatchObject({ code: 'MESSAGE_TOO_LARGE' })
    const xerial = Uint8Array.from([0x82, 0x53, 0x4e, 0x41, 0x50, 0x50, 0x59, 0x00, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 6, ...raw])
    await expect(decompress('snappy', xerial)).rejects.toMatchObject({ code: 'MESSAGE_TOO_LARGE' })
  })

  it('lz4: 48 MiB of zeros stops at the limit', async () => {
    const bomb = lz4Compress(new Uint8Array(48 * 1024 * 1024))
    await expect(decompress('lz4', bomb)).rejects.toMatchObject({ code: 'MESSAGE_TOO_LARGE' })
  })

  it('a bomb produced to a topic is MESSAGE_TOO_LARGE and nothing is stored', async () => {
    const log = await openLog({ storage: new MemoryStorage() })
    try {
      await log.admin().createTopics({ topics: [{ topic: 't' }] })
      const value = new Uint8Array(40 * 1024 * 1024)
      const batch = await encodeBatchAsync([{ key: null, value, timestamp: 1 }], { compression: 'zstd' })
      expect(batch.length).toBeLessThan(1024 * 1024)
      const [result] = await log.broker.produce({ acks: -1, entries: [{ topic: 't', partition: 0, batch }] }).then((r) => r, (e) => [{ error: e }])
      expect((result as any).error?.code).toBe('MESSAGE_TOO_LARGE')
      expect((await log.admin().fetchTopicOffsets('t'))[0].high).toBe('0')
    } finally {
      await log.close()
    }
  })
})

describe("the topic's compression.type", () => {
  const records = Array.from({ length: 20 }, (_, i) => ({ key: enc.encode(`k${i}`), value: enc.encode(`value ${i} `.repeat(10)), timestamp: 1000 + i, headers: [{ key: 'h', value: enc.encode('v') }] }))

  it('producer (the default) keeps the batch as sent', async () => {
    const batch = await encodeBatchAsync(records, { compression: 'lz4' })
    const out = await conformToTopicCompression(batch, 'producer')
    expect(out.recompressed).toBe(false)
    expect(out.bytes).toBe(batch)
  })

  it.each([['uncompressed', 'none'], ['gzip', 'gzip'], ['snappy', 'snappy'], ['lz4', 'lz4'], ['zstd', 'zstd']] as const)(
    '%s recompresses other codecs, keeping producer id, sequence, offsets, timestamps and headers',
    async (type, codec) => {
      for (const from of ['none', ...CODECS] as const) {
        const batch = await encodeBatchAsync(records, { compression: from, producerId: 77, producerEpoch: 3, baseSequence: 40 })
        const out = await conformToTopicCompression(batch, type)
        expect(out.recompressed).toBe(from !== codec)
        const header = await validateBatch(out.bytes)
        expect(header).toMatchObject({ compression: codec, producerId: 77, producerEpoch: 3, baseSequence: 40, recordCount: 20, lastOffsetDelta: 19 })
        const decoded = await decodeBatch(out.bytes)
        expect(decoded.records.map((r) => [r.offset, r.timestamp, hex(r.key!), hex(r.value!), r.headers[0].key]))
          .toEqual(records.map((r, i) => [i, r.timestamp, hex(r.key), hex(r.value), 'h']))
      }
    },
  )
})
