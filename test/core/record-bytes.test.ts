import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { RecordBytes, decodeUtf8, kafkaMessageOf, recordBytesView } from '../../core/client/messages.ts'
import { decodeBatch, decodeBatchInto, decodeRecords, decodeRecordsInto, encodeBatch, encodeBatchAsync, readBatchHeader, type RecordInput } from '../../core/codec/record-batch.ts'

const decoder = new TextDecoder()
const bytesOf = (b: Uint8Array) => new RecordBytes(b.buffer as ArrayBuffer, b.byteOffset, b.byteLength)

describe('RecordBytes.toString: UTF-8 as TextDecoder decodes it', () => {
  // Short ASCII takes a String.fromCharCode path; everything else TextDecoder.
  const anyBytes = fc.oneof(
    fc.uint8Array({ maxLength: 20 }), // any bytes: invalid sequences, lone continuation bytes, BOMs
    fc.uint8Array({ minLength: 14, maxLength: 18 }), // around the fast path's 16 bytes
    fc.array(fc.integer({ min: 0, max: 0x7f }), { maxLength: 24 }).map((a) => Uint8Array.from(a)), // ASCII
    fc.tuple(fc.array(fc.integer({ min: 0, max: 0x7f }), { maxLength: 16 }), fc.nat(), fc.integer({ min: 0x80, max: 0xff }))
      .map(([a, at, b]) => { const out = Uint8Array.from(a.length ? a : [0]); out[at % out.length] = b; return out }), // ASCII but one byte
    fc.string({ unit: 'binary', maxLength: 12 }).map((s) => new TextEncoder().encode(s)),
    fc.constant(Uint8Array.of(0xef, 0xbb, 0xbf, 0x61)), // a BOM: TextDecoder drops it
  )
  it('toString() and decodeUtf8 equal TextDecoder.decode, views at any offset included', () => {
    fc.assert(fc.property(anyBytes, fc.nat({ max: 7 }), (b, shift) => {
      const backing = new Uint8Array(b.length + shift)
      backing.set(b, shift)
      const view = new RecordBytes(backing.buffer, shift, b.length)
      const expected = decoder.decode(b)
      expect(view.toString()).toBe(expected)
      expect(decodeUtf8(view)).toBe(expected)
      expect(decodeUtf8(b)).toBe(expected)
      expect(JSON.stringify({ v: view })).toBe(JSON.stringify({ v: expected }))
    }), { numRuns: 2000 })
  })
  it('every length from 0 to 40, ASCII and not', () => {
    for (let n = 0; n <= 40; n++) {
      const ascii = Uint8Array.from({ length: n }, (_, i) => 32 + ((i * 7) % 95))
      expect(bytesOf(ascii).toString()).toBe(decoder.decode(ascii))
      for (const bad of [0x80, 0xc3, 0xff]) {
        if (n === 0) continue
        const b = ascii.slice()
        b[n - 1] = bad
        expect(bytesOf(b).toString()).toBe(decoder.decode(b))
      }
    }
    expect(bytesOf(Uint8Array.of(0x68, 0x69)).toString('hex')).toBe('6869')
    expect(bytesOf(Uint8Array.of(0x68, 0x69)).toString('base64')).toBe('aGk=')
  })
})

describe('decoding straight into messages', () => {
  const T0 = 1_764_000_000_000
  const recordArb = fc.record({
    key: fc.oneof(fc.constant(null), fc.string({ maxLength: 12 }), fc.uint8Array({ maxLength: 10 })),
    value: fc.oneof(fc.constant(null), fc.string({ maxLength: 40 })),
    headers: fc.option(fc.array(fc.record({ key: fc.constantFrom('a', 'b', 'c'), value: fc.oneof(fc.constant(null), fc.uint8Array({ maxLength: 4 })) }), { maxLength: 3 }), { nil: undefined }),
    ts: fc.integer({ min: 0, max: 3 }),
  })
  it('the messages KafkaJS would hand out for decodeBatch\'s records, from any offset, uncompressed and gzip', async () => {
    await fc.assert(fc.asyncProperty(fc.array(recordArb, { minLength: 1, maxLength: 20 }), fc.nat({ max: 30 }), fc.nat({ max: 100_000 }), async (recs, skip, baseOffset) => {
      const input: RecordInput[] = recs.map((r) => ({ key: r.key, value: r.value, headers: r.headers, timestamp: T0 + r.ts }))
      const from = baseOffset + skip
      for (const bytes of [encodeBatch(input, { baseOffset }), await encodeBatchAsync(input, { baseOffset, compression: 'gzip' })]) {
        const header = readBatchHeader(bytes)
        const expected = (await decodeBatch(bytes, recordBytesView)).records.filter((r) => r.offset >= from).map((r) => {
          const headers: Record<string, unknown> = {}
          for (const h of r.headers) {
            const v = h.value === null ? undefined : bytesOf(h.value)
            const existing = headers[h.key]
            headers[h.key] = existing === undefined || v === undefined ? v : Array.isArray(existing) ? [...existing, v] : [existing, v]
          }
          return { key: r.key, value: r.value, timestamp: String(r.timestamp), attributes: r.attributes, offset: String(r.offset), headers, size: undefined }
        })
        const got = header.compression === 'none'
          ? decodeRecordsInto(bytes, header, [], kafkaMessageOf, recordBytesView, from)
          : await decodeBatchInto(bytes, header, [], kafkaMessageOf, recordBytesView, from)
        expect(got).toEqual(expected)
        for (const m of got) {
          expect(Object.keys(m)).toEqual(['key', 'value', 'timestamp', 'attributes', 'offset', 'headers', 'size'])
          if (m.key !== null) expect(m.key).toBeInstanceOf(RecordBytes)
          if (m.value !== null) expect(m.value.toString()).toBe(decoder.decode(m.value))
          expect(Object.getPrototypeOf(m.headers)).toBe(Object.prototype)
        }
        // Each message has its own headers object (a user may add to it).
        if (got.length > 1) expect(got[0].headers).not.toBe(got[1].headers)
        for (const m of got) {
          expect(Object.getPrototypeOf(m)).toBe(Object.prototype)
          expect(m.constructor).toBe(Object)
          expect(JSON.parse(JSON.stringify(m))).toEqual(JSON.parse(JSON.stringify({ ...m })))
          expect(structuredClone({ ...m, key: null, value: null }).offset).toBe(m.offset)
        }
        if (got.length > 0) {
          const h = got[0].headers
          const before = Object.keys(h).length
          h['added'] = undefined
          h['x'] = got[0].value ?? undefined
          expect(Object.keys(h).length).toBe(before + 2)
          if (got.length > 1) expect(Object.keys(got[1].headers)).not.toContain('added')
        }
      }
    }), { numRuns: 200 })
  })
  it('records below `from` are still checked: a corrupt one before it is CORRUPT_MESSAGE', () => {
    const b = encodeBatch([{ key: null, value: 'aaaa', timestamp: T0 }, { key: null, value: 'bbbb', timestamp: T0 }])
    // The first record's value length (4, zigzag 8) claims more bytes than the record has.
    const at = b.indexOf(8, 61)
    b[at] = 40
    expect(() => decodeRecordsInto(b, undefined, [], kafkaMessageOf, recordBytesView, 1)).toThrow(expect.objectContaining({ code: 'CORRUPT_MESSAGE' }))
    expect(() => decodeRecords(b)).toThrow(expect.objectContaining({ code: 'CORRUPT_MESSAGE' }))
  })
  it('timestamps and offsets as decimal strings, consecutive equal timestamps and numbers past 10,000 included', () => {
    const input: RecordInput[] = Array.from({ length: 30 }, (_, i) => ({ key: null, value: `v${i}`, timestamp: i < 10 ? T0 : i < 20 ? 9_999 + i : 5 }))
    const got = decodeRecordsInto(encodeBatch(input, { baseOffset: 9_990 }), undefined, [], kafkaMessageOf, recordBytesView)
    expect(got.map((m) => m.timestamp)).toEqual(input.map((r) => String(r.timestamp)))
    expect(got.map((m) => m.offset)).toEqual(input.map((_, i) => String(9_990 + i)))
  })
})
