import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  BATCH_HEADER_BYTES,
  decodeBatch,
  decodeRecords,
  encodeBatch,
  encodeBatchAsync,
  readBatchHeader,
  setBaseOffset,
  splitBatches,
  validateBatch,
  type EncodeOptions,
  type RecordInput,
} from '../../core/codec/index.ts'
import { compress, decompress } from '../../core/codec/compression.ts'
import { crc32c } from '../../core/codec/crc32c.ts'
import { EdgelogError } from '../../core/errors.ts'

const utf8 = (s: string) => new TextEncoder().encode(s)

async function codeOf(p: Promise<unknown> | (() => unknown)): Promise<string> {
  try {
    if (typeof p === 'function') p()
    else await p
  } catch (e) {
    if (!(e instanceof EdgelogError)) throw new Error(`expected an EdgelogError, got ${e}`, { cause: e })
    return e.code
  }
  return 'OK'
}

const bytesArb = fc.oneof(fc.constant(null), fc.uint8Array({ maxLength: 40 }), fc.uint8Array({ minLength: 100, maxLength: 300 }))
const headerArb = fc.record({ key: fc.string({ unit: 'grapheme', maxLength: 10 }), value: fc.oneof(fc.constant(null), fc.uint8Array({ maxLength: 20 })) })
const T0 = 1_700_000_000_000

/** A batch: records with strictly increasing offset deltas (gaps allowed) and options. */
const batchArb = fc
  .record({
    records: fc.array(
      fc.record({
        key: bytesArb,
        value: bytesArb,
        timestamp: fc.oneof(fc.integer({ min: T0 - 1e6, max: T0 + 1e6 }), fc.integer({ min: -1, max: 2 ** 52 })),
        headers: fc.option(fc.array(headerArb, { maxLength: 4 }), { nil: undefined }),
        gap: fc.oneof(fc.constant(0), fc.nat({ max: 300 })),
      }),
      { minLength: 1, maxLength: 30 },
    ),
    baseOffset: fc.oneof(fc.nat({ max: 1000 }), fc.integer({ min: 0, max: 2 ** 53 - 2 ** 32 })),
    producerId: fc.oneof(fc.constant(-1), fc.integer({ min: 0, max: 2 ** 53 - 1 })),
    producerEpoch: fc.integer({ min: -1, max: 32767 }),
    baseSequence: fc.integer({ min: -1, max: 2 ** 31 - 1 }),
    partitionLeaderEpoch: fc.integer({ min: -1, max: 2 ** 31 - 1 }),
    isTransactional: fc.boolean(),
    extraLastDelta: fc.oneof(fc.constant(0), fc.nat({ max: 5 })),
  })
  .map(b => {
    let delta = -1
    const records: RecordInput[] = b.records.map(r => {
      delta += 1 + r.gap
      return { key: r.key, value: r.value, timestamp: r.timestamp, headers: r.headers, offsetDelta: delta }
    })
    const options: EncodeOptions = {
      baseOffset: b.baseOffset,
      producerId: b.producerId,
      producerEpoch: b.producerEpoch,
      baseSequence: b.baseSequence,
      partitionLeaderEpoch: b.partitionLeaderEpoch,
      isTransactional: b.isTransactional,
      lastOffsetDelta: delta + b.extraLastDelta,
    }
    // keep every timestamp delta inside the safe range
    const ts = records.map(r => r.timestamp)
    if (Math.max(...ts) - Math.min(...ts) > 2 ** 52) for (const r of records) r.timestamp = T0
    return { records, options }
  })

function expectDecoded(records: RecordInput[], options: EncodeOptions, decoded: ReturnType<typeof decodeRecords>): void {
  expect(decoded.length).toBe(records.length)
  records.forEach((r, i) => {
    const d = decoded[i]
    expect(d.offset).toBe((options.baseOffset ?? 0) + (r.offsetDelta ?? i))
    expect(d.timestamp).toBe(r.timestamp)
    const bytesOf = (v: Uint8Array | string) => Array.from(typeof v === 'string' ? utf8(v) : v)
    expect(d.key === null ? null : Array.from(d.key)).toEqual(r.key === null ? null : bytesOf(r.key))
    expect(d.value === null ? null : Array.from(d.value)).toEqual(r.value === null ? null : bytesOf(r.value))
    expect(d.headers.map(h => ({ key: h.key, value: h.value && Array.from(h.value) }))).toEqual(
      (r.headers ?? []).map(h => ({ key: h.key, value: h.value && Array.from(h.value) })),
    )
    expect(d.attributes).toBe(0)
  })
}

describe('record batch v2: layout', () => {
  it('writes the 61-byte header exactly', () => {
    const b = encodeBatch(
      [
        { key: utf8('k'), value: utf8('v'), timestamp: T0 + 5 },
        { key: null, value: null, timestamp: T0, headers: [{ key: 'h', value: utf8('x') }] },
      ],
      { baseOffset: 42, producerId: 7, producerEpoch: 3, baseSequence: 11, partitionLeaderEpoch: 9 },
    )
    const v = new DataView(b.buffer, b.byteOffset, b.byteLength)
    expect(v.getBigInt64(0)).toBe(42n)
    expect(v.getInt32(8)).toBe(b.length - 12)
    expect(v.getInt32(12)).toBe(9)
    expect(v.getInt8(16)).toBe(2)
    expect(v.getUint32(17)).toBe(crc32c(b, 21))
    expect(v.getInt16(21)).toBe(0)
    expect(v.getInt32(23)).toBe(1)
    expect(v.getBigInt64(27)).toBe(BigInt(T0 + 5)) // first record's timestamp, as Kafka's producer
    expect(v.getBigInt64(35)).toBe(BigInt(T0 + 5))
    expect(v.getBigInt64(43)).toBe(7n)
    expect(v.getInt16(51)).toBe(3)
    expect(v.getInt32(53)).toBe(11)
    expect(v.getInt32(57)).toBe(2)
    // record 0: length 8 | attrs 0 | tsDelta 0 | offsetDelta 0 | key len 1 'k' | value len 1 'v' | 0 headers
    expect(Array.from(b.subarray(61, 61 + 9))).toEqual([16, 0, 0, 0, 2, 107, 2, 118, 0])
    // record 1: tsDelta -5 (zigzag 9), offsetDelta 1, null key, null value, 1 header 'h' = 'x'
    expect(Array.from(b.subarray(70))).toEqual([20, 0, 9, 2, 1, 1, 2, 2, 104, 2, 120])
    const h = readBatchHeader(b)
    expect(h).toMatchObject({
      baseOffset: 42, batchLength: b.length - 12, sizeBytes: b.length, partitionLeaderEpoch: 9, magic: 2,
      compression: 'none', timestampType: 'CreateTime', isTransactional: false, isControl: false,
      lastOffsetDelta: 1, baseTimestamp: T0 + 5, maxTimestamp: T0 + 5, producerId: 7, producerEpoch: 3, baseSequence: 11, recordCount: 2,
    })
  })

  it('defaults: producer fields -1, leader epoch -1, offsetDelta = index', () => {
    const b = encodeBatch([{ key: null, value: utf8('a'), timestamp: 5 }, { key: null, value: utf8('b'), timestamp: 3 }])
    expect(readBatchHeader(b)).toMatchObject({ baseOffset: 0, producerId: -1, producerEpoch: -1, baseSequence: -1, partitionLeaderEpoch: -1, lastOffsetDelta: 1, baseTimestamp: 5, maxTimestamp: 5 })
    expect(decodeRecords(b).map(r => [r.offset, r.timestamp])).toEqual([[0, 5], [1, 3]])
  })

  it('attributes: transactional, LogAppendTime (records take maxTimestamp), gzip', async () => {
    const recs = [{ key: null, value: utf8('a'), timestamp: 10 }, { key: null, value: utf8('b'), timestamp: 20 }]
    const t = encodeBatch(recs, { isTransactional: true, timestampType: 'LogAppendTime' })
    expect(readBatchHeader(t)).toMatchObject({ attributes: 0x18, isTransactional: true, timestampType: 'LogAppendTime' })
    expect(decodeRecords(t).map(r => r.timestamp)).toEqual([20, 20])
    const g = await encodeBatchAsync(recs, { compression: 'gzip' })
    expect(readBatchHeader(g)).toMatchObject({ attributes: 1, compression: 'gzip', recordCount: 2 })
    expect(g[61]).toBe(0x1f)
    expect(g[62]).toBe(0x8b)
  })

  it('encodeBatch refuses compression (encodeBatchAsync takes every codec); an unknown codec is UNSUPPORTED_FOR_MESSAGE_FORMAT', async () => {
    const recs = [{ key: null, value: utf8('a'), timestamp: 1 }]
    expect(await codeOf(() => encodeBatch(recs, { compression: 'gzip' }))).toBe('UNSUPPORTED_FOR_MESSAGE_FORMAT')
    expect(await codeOf(encodeBatchAsync(recs, { compression: 'brotli' as any }))).toBe('UNSUPPORTED_FOR_MESSAGE_FORMAT')
    expect(await codeOf(compress('brotli' as any, utf8('x')))).toBe('UNSUPPORTED_FOR_MESSAGE_FORMAT')
    for (const c of ['snappy', 'lz4', 'zstd'] as const) {
      expect(readBatchHeader(await encodeBatchAsync(recs, { compression: c })).compression).toBe(c)
      expect(await codeOf(decompress(c, utf8('x')))).toBe('CORRUPT_MESSAGE')
    }
    expect(await codeOf(decompress('gzip', utf8('definitely not gzip')))).toBe('CORRUPT_MESSAGE')
    const gz = await compress('gzip', new Uint8Array(1000).fill(3))
    expect(await codeOf(decompress('gzip', gz.subarray(0, gz.length - 5)))).toBe('CORRUPT_MESSAGE')
    expect(await decompress('gzip', gz)).toEqual(new Uint8Array(1000).fill(3))
  })

  it('encoding rejects out-of-order offset deltas and bad timestamps with INVALID_RECORD', async () => {
    const a = { key: null, value: null, timestamp: 1 }
    expect(await codeOf(() => encodeBatch([{ ...a, offsetDelta: 1 }, { ...a, offsetDelta: 1 }]))).toBe('INVALID_RECORD')
    expect(await codeOf(() => encodeBatch([{ ...a, offsetDelta: -1 }]))).toBe('INVALID_RECORD')
    expect(await codeOf(() => encodeBatch([{ ...a, timestamp: 1.5 }]))).toBe('INVALID_RECORD')
    expect(await codeOf(() => encodeBatch([a, a], { lastOffsetDelta: 0 }))).toBe('INVALID_RECORD')
  })

  it('keys and values decode as views into the batch (no copies)', () => {
    const b = encodeBatch([{ key: utf8('key'), value: utf8('value'), timestamp: 1 }])
    const [r] = decodeRecords(b)
    expect(r.key!.buffer).toBe(b.buffer)
    expect(r.value!.buffer).toBe(b.buffer)
    expect(new TextDecoder().decode(r.value!)).toBe('value')
  })

  it('offsets and timestamps up to 2^53', () => {
    const big = 2 ** 53 - 1
    const b = encodeBatch(
      [{ key: null, value: null, timestamp: big, offsetDelta: 0 }, { key: null, value: null, timestamp: 0, offsetDelta: 2 ** 31 - 1 }],
      { baseOffset: big - (2 ** 31 - 1), producerId: big },
    )
    const h = readBatchHeader(b)
    expect(h.producerId).toBe(big)
    expect(h.maxTimestamp).toBe(big)
    expect(decodeRecords(b).map(r => [r.offset, r.timestamp])).toEqual([[big - (2 ** 31 - 1), big], [big, 0]])
  })
})

describe('record batch v2: string keys and values', () => {
  // Strings are written as UTF-8 straight into the batch: the bytes must be exactly those of the
  // same records with TextEncoder's bytes, whatever the lengths (varint widths) and characters.
  const stringArb = fc.oneof(
    fc.string({ maxLength: 40 }),
    fc.string({ unit: 'binary', maxLength: 80 }), // any code unit, lone surrogates included
    fc.string({ unit: 'grapheme', minLength: 20, maxLength: 70 }), // multi-byte, lengths around 64
    fc.string({ minLength: 60, maxLength: 70 }),
    fc.string({ unit: 'grapheme-composite', minLength: 2000, maxLength: 3000 }), // UTF-8 past 8191 bytes
    fc.constant(''),
  )
  const keyOrValue = fc.oneof(fc.constant(null), stringArb, fc.uint8Array({ maxLength: 50 }))
  const asBytes = (v: Uint8Array | string | null) => (typeof v === 'string' ? utf8(v) : v)

  it('encode the same bytes as their UTF-8 given as Uint8Array, with and without gzip', async () => {
    await fc.assert(fc.asyncProperty(
      fc.array(fc.record({ key: keyOrValue, value: keyOrValue, headers: fc.option(fc.array(headerArb, { maxLength: 2 }), { nil: undefined }), ts: fc.integer({ min: -1, max: 2 ** 52 }) }), { minLength: 1, maxLength: 20 }),
      async (recs) => {
        const strings: RecordInput[] = recs.map((r, i) => ({ key: r.key, value: r.value, headers: r.headers, timestamp: T0 + (r.ts % 1000) * (i % 2 ? -1 : 1) }))
        const bytes: RecordInput[] = strings.map(r => ({ ...r, key: asBytes(r.key), value: asBytes(r.value) }))
        const options = { baseOffset: 5, producerId: 3, producerEpoch: 1, baseSequence: 9 }
        const b = encodeBatch(strings, options)
        expect(b).toEqual(encodeBatch(bytes, options))
        await validateBatch(b)
        expectDecoded(strings, options, decodeRecords(b))
        const g = await encodeBatchAsync(strings, { ...options, compression: 'gzip' })
        expectDecoded(strings, options, (await decodeBatch(g)).records)
      },
    ), { numRuns: 200 })
  })

  it('a batch larger than the reused buffer, and one after it, encode whole', () => {
    const big = 'x'.repeat(100_000)
    const recs = Array.from({ length: 30 }, (_, i) => ({ key: `k${i}`, value: i % 2 ? big : 'é'.repeat(40_000), timestamp: T0 }))
    const b = encodeBatch(recs)
    const expected = encodeBatch(recs.map(r => ({ ...r, key: utf8(r.key), value: utf8(r.value) })))
    expect(b.length).toBe(expected.length)
    expect(b.every((x, i) => x === expected[i])).toBe(true)
    const small = encodeBatch([{ key: 'a', value: 'b', timestamp: T0 }])
    expect(decodeRecords(small).map(r => new TextDecoder().decode(r.value!))).toEqual(['b'])
    expect(decodeRecords(b)[1].value!.length).toBe(100_000)
  })

  it('ASCII and non-ASCII batches, in any order, encode as their UTF-8', () => {
    const long = 'a'.repeat(40) // past the short-string loop: TextEncoder.encodeInto
    const kinds = [
      () => [{ key: 'k', value: long, timestamp: T0 }, { key: 'key-2', value: 'short', timestamp: T0 }],
      () => [{ key: 'k', value: `${long}é`, timestamp: T0 }], // not ASCII at the end of a long string
      () => [{ key: 'ké', value: long, timestamp: T0 }], // nor in a short key
      () => [{ key: null, value: `\ud800${long}`, timestamp: T0 }], // a lone surrogate first
      () => [{ key: 'k', value: 'x'.repeat(200), timestamp: T0 }, { key: 'k', value: `${'y'.repeat(70)}\u00ff`, timestamp: T0 }],
      // around the staging buffer's 1,024 units (3 bytes each at most), written with and without it
      () => [1023, 1024, 1025].flatMap((n) => [{ key: '€'.repeat(n), value: 'z'.repeat(n), timestamp: T0 }, { key: 'k', value: '€'.repeat(n), timestamp: T0 }]),
    ]
    for (const order of [[0, 1, 0, 2, 0, 3, 4, 0, 5], [1, 1, 0, 5, 0, 4, 4, 3, 0]]) {
      for (const k of order) {
        const recs: RecordInput[] = kinds[k]()
        const b = encodeBatch(recs, { baseSequence: 1 })
        expect(b).toEqual(encodeBatch(recs.map(r => ({ ...r, key: asBytes(r.key), value: asBytes(r.value) })), { baseSequence: 1 }))
      }
    }
  })
})

describe('record batch v2: round trips', () => {
  it('encode → decode (and validate) returns the records, uncompressed', async () => {
    await fc.assert(fc.asyncProperty(batchArb, async ({ records, options }) => {
      const b = encodeBatch(records, options)
      const h = await validateBatch(b)
      expect(h).toMatchObject({
        baseOffset: options.baseOffset, producerId: options.producerId, producerEpoch: options.producerEpoch,
        baseSequence: options.baseSequence, partitionLeaderEpoch: options.partitionLeaderEpoch,
        isTransactional: options.isTransactional, lastOffsetDelta: options.lastOffsetDelta, recordCount: records.length,
        maxTimestamp: Math.max(...records.map(r => r.timestamp)), sizeBytes: b.length,
      })
      expectDecoded(records, options, decodeRecords(b))
      expectDecoded(records, options, (await decodeBatch(b)).records)
    }), { numRuns: 300 })
  })

  it('encode → decode returns the records, gzip', async () => {
    await fc.assert(fc.asyncProperty(batchArb, async ({ records, options }) => {
      const b = await encodeBatchAsync(records, { ...options, compression: 'gzip' })
      const h = await validateBatch(b)
      expect(h.compression).toBe('gzip')
      expectDecoded(records, options, (await decodeBatch(b)).records)
      expect(await codeOf(() => decodeRecords(b))).toBe('UNSUPPORTED_FOR_MESSAGE_FORMAT')
    }), { numRuns: 60 })
  })

  it('splitBatches returns each batch; setBaseOffset patches without breaking the CRC', async () => {
    await fc.assert(fc.asyncProperty(fc.array(batchArb, { minLength: 0, maxLength: 5 }), fc.nat({ max: 2 ** 40 }), async (batches, newBase) => {
      const encoded = batches.map(b => encodeBatch(b.records, b.options))
      const all = new Uint8Array(encoded.reduce((n, b) => n + b.length, 0))
      let at = 0
      for (const b of encoded) { all.set(b, at); at += b.length }
      const parts = splitBatches(all)
      expect(parts.length).toBe(encoded.length)
      parts.forEach((p, i) => {
        expect(p).toEqual(encoded[i])
        expect(p.buffer).toBe(all.buffer)
      })
      for (const p of parts) {
        setBaseOffset(p, newBase)
        expect((await validateBatch(p)).baseOffset).toBe(newBase)
        expect(decodeRecords(p)[0].offset).toBe(newBase + (decodeRecords(p)[0].offset - newBase))
      }
      if (all.length > 0) {
        for (const cut of [1, 13, BATCH_HEADER_BYTES, all.length - 1]) {
          if (cut >= all.length) continue
          expect(await codeOf(() => splitBatches(all.subarray(0, all.length - cut)))).toBe('CORRUPT_MESSAGE')
        }
      }
    }), { numRuns: 100 })
  })
})

describe('record batch v2: corruption', () => {
  const sample = () => encodeBatch(
    [
      { key: utf8('k1'), value: utf8('value one'), timestamp: T0, headers: [{ key: 'trace', value: utf8('abc') }, { key: 'ø', value: null }] },
      { key: null, value: utf8('value two'), timestamp: T0 + 1000 },
      { key: utf8(''), value: null, timestamp: T0 - 5, headers: [] },
    ],
    { baseOffset: 100, producerId: 5, producerEpoch: 1, baseSequence: 0 },
  )

  it('flipping any bit of any byte in the CRC-covered region (or of the CRC) is CORRUPT_MESSAGE', async () => {
    const good = sample()
    expect((await validateBatch(good)).recordCount).toBe(3)
    for (let i = 17; i < good.length; i++) {
      for (const bit of [0x01, 0x80, 0xff]) {
        const bad = good.slice()
        bad[i] ^= bit
        expect(await codeOf(validateBatch(bad))).toBe('CORRUPT_MESSAGE')
      }
    }
  })

  it('any flipped header byte before the CRC is caught, or harmless (baseOffset, leader epoch)', async () => {
    const good = sample()
    for (let i = 0; i < 17; i++) {
      const bad = good.slice()
      bad[i] ^= 0x40
      const code = await codeOf(validateBatch(bad))
      if (i < 8 || (i >= 12 && i < 16)) expect(code).toBe('OK')
      else expect(code).toBe('CORRUPT_MESSAGE')
    }
  })

  it('truncating anywhere, or trailing bytes, is CORRUPT_MESSAGE', async () => {
    const good = sample()
    for (let n = 0; n < good.length; n++) {
      expect(await codeOf(validateBatch(good.subarray(0, n)))).toBe('CORRUPT_MESSAGE')
      expect(await codeOf(() => readBatchHeader(good.subarray(0, n)))).toBe(n < good.length ? 'CORRUPT_MESSAGE' : 'OK')
      expect(await codeOf(() => decodeRecords(good.subarray(0, n)))).toBe('CORRUPT_MESSAGE')
      expect(await codeOf(decodeBatch(good.subarray(0, n)))).toBe('CORRUPT_MESSAGE')
    }
    const longer = new Uint8Array(good.length + 1)
    longer.set(good)
    expect(await codeOf(validateBatch(longer))).toBe('CORRUPT_MESSAGE')
  })

  /** Builds a batch around hand-written record bytes, with a correct CRC. */
  function withRecords(records: number[], count: number, lastOffsetDelta = 0): Uint8Array {
    const b = new Uint8Array(61 + records.length)
    const v = new DataView(b.buffer)
    v.setInt32(8, b.length - 12)
    v.setInt8(16, 2)
    v.setInt32(23, lastOffsetDelta)
    v.setInt32(57, count)
    b.set(records, 61)
    v.setUint32(17, crc32c(b, 21))
    return b
  }

  it('malformed records with a correct CRC are CORRUPT_MESSAGE or INVALID_RECORD', async () => {
    const ok = [12, 0, 0, 0, 1, 1, 0] // length 6: attrs, ts 0, delta 0, null key, null value, 0 headers
    expect(await codeOf(validateBatch(withRecords(ok, 1)))).toBe('OK')
    const cases: Array<[string, number[], number, number?, string?]> = [
      ['count too high', ok, 2],
      ['count too low (trailing bytes)', [...ok, ...ok], 1, 1],
      ['no records', [], 0, 0, 'INVALID_RECORD'],
      ['bad varint length', [0x80, 0x80, 0x80, 0x80, 0x80, 0x01, 0, 0, 0, 1, 1, 0], 1],
      ['record length past the end', [40, 0, 0, 0, 1, 1, 0], 1],
      ['record length too small', [10, 0, 0, 0, 1, 1, 0], 1],
      ['key length past the record', [12, 0, 0, 0, 20, 1, 0], 1],
      ['key length < -1', [12, 0, 0, 0, 3, 1, 0], 1],
      ['value length past the record', [12, 0, 0, 0, 1, 8, 0], 1],
      ['negative header count', [12, 0, 0, 0, 1, 1, 1], 1],
      ['header count past the record', [12, 0, 0, 0, 1, 1, 8], 1],
      ['header key length past the record', [18, 0, 0, 0, 1, 1, 2, 10, 1], 1],
      ['negative header key length', [18, 0, 0, 0, 1, 1, 2, 1, 1], 1],
      ['bad varlong timestamp', [32, 0, ...Array(11).fill(0xff), 0, 1, 1, 0], 1],
      ['bytes left inside the record', [14, 0, 0, 0, 1, 1, 0, 0], 1],
      ['offsetDelta past lastOffsetDelta', [12, 0, 0, 2, 1, 1, 0], 1, 0, 'INVALID_RECORD'],
      ['offsetDeltas not increasing', [...ok, ...ok], 2, 1, 'INVALID_RECORD'],
    ]
    for (const [name, bytes, count, last, code] of cases) {
      expect(`${name}: ${await codeOf(validateBatch(withRecords(bytes, count, last)))}`).toBe(`${name}: ${code ?? 'CORRUPT_MESSAGE'}`)
    }
  })

  it('magic other than 2, unknown codecs, negative or huge counts are CORRUPT_MESSAGE', async () => {
    for (const patch of [(v: DataView) => v.setInt8(16, 1), (v: DataView) => v.setInt8(16, 0), (v: DataView) => v.setInt16(21, 5), (v: DataView) => v.setInt32(57, -1), (v: DataView) => v.setInt32(57, 2 ** 31 - 1), (v: DataView) => v.setInt32(8, 10)]) {
      const b = sample()
      const v = new DataView(b.buffer)
      patch(v)
      v.setUint32(17, crc32c(b, 21))
      expect(await codeOf(validateBatch(b))).toBe('CORRUPT_MESSAGE')
      expect(await codeOf(decodeBatch(b))).toBe('CORRUPT_MESSAGE')
    }
  })

  it('gzip batches: corrupt compressed bytes with a correct CRC are CORRUPT_MESSAGE', async () => {
    const b = await encodeBatchAsync([{ key: null, value: utf8('x'.repeat(100)), timestamp: 1 }], { compression: 'gzip' })
    for (const i of [61, 62, 75, b.length - 3]) { // gzip magic, deflate data, gzip trailer
      const bad = b.slice()
      bad[i] ^= 0x55
      new DataView(bad.buffer).setUint32(17, crc32c(bad, 21))
      expect(await codeOf(validateBatch(bad))).toBe('CORRUPT_MESSAGE')
    }
    // gzip of garbage records
    const junk = await compress('gzip', new Uint8Array([0x80, 0x80, 0x80, 0x80, 0x80, 0x80]))
    const g = new Uint8Array(61 + junk.length)
    g.set(b.subarray(0, 61))
    g.set(junk, 61)
    const v = new DataView(g.buffer)
    v.setInt32(8, g.length - 12)
    v.setUint32(17, crc32c(g, 21))
    expect(await codeOf(validateBatch(g))).toBe('CORRUPT_MESSAGE')
    expect(await codeOf(decodeBatch(g))).toBe('CORRUPT_MESSAGE')
  })

  it('random bytes, and random mutations of real batches, only ever throw EdgelogError', async () => {
    const good = sample()
    const check = async (b: Uint8Array) => {
      const codes = [await codeOf(validateBatch(b)), await codeOf(decodeBatch(b)), await codeOf(() => decodeRecords(b)), await codeOf(() => splitBatches(b))]
      // validateBatch: CORRUPT_MESSAGE or INVALID_RECORD, or UNSUPPORTED_FOR_MESSAGE_FORMAT for an
      // intact batch whose codec is snappy/lz4/zstd; the others: EdgelogError (codeOf checks that)
      const codec = b.length > 22 ? b[22] & 7 : 0
      const allowed = ['OK', 'CORRUPT_MESSAGE', 'INVALID_RECORD', ...(codec >= 2 && codec <= 4 ? ['UNSUPPORTED_FOR_MESSAGE_FORMAT'] : [])]
      expect(allowed).toContain(codes[0])
    }
    await fc.assert(fc.asyncProperty(fc.uint8Array({ maxLength: 200 }), check), { numRuns: 300 })
    await fc.assert(
      fc.asyncProperty(fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }), fc.boolean(), async (muts, fixCrc) => {
        const b = good.slice()
        for (const [i, x] of muts) b[i % b.length] = x
        if (fixCrc) new DataView(b.buffer).setUint32(17, crc32c(b, 21))
        await check(b)
      }),
      { numRuns: 500 },
    )
  })
})
