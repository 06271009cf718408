import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { ByteReader, ByteWriter, sizeOfUnsignedVarint, sizeOfVarint, sizeOfVarlong, utf8Length, writeUtf8, readUtf8 } from '../../core/codec/bytes.ts'
import { EdgelogError } from '../../core/errors.ts'

function expectCorrupt(f: () => unknown): void {
  try {
    f()
  } catch (e) {
    expect(e).toBeInstanceOf(EdgelogError)
    expect((e as EdgelogError).code).toBe('CORRUPT_MESSAGE')
    return
  }
  throw new Error('expected CORRUPT_MESSAGE')
}

describe('ByteWriter / ByteReader', () => {
  it('round-trips fixed-width integers, big-endian', () => {
    const w = new ByteWriter(4)
    w.int8(-5).int16(-300).int32(-70000).uint32(0xfffffffe).int64(-1).int64(2 ** 53 - 1).int64(-(2 ** 53 - 1)).int64(1234567890123)
    const b = w.finish()
    expect(Array.from(b.subarray(0, 3))).toEqual([0xfb, 0xfe, 0xd4])
    expect(Array.from(b.subarray(11, 19))).toEqual([255, 255, 255, 255, 255, 255, 255, 255])
    const r = new ByteReader(b)
    expect(r.int8()).toBe(-5)
    expect(r.int16()).toBe(-300)
    expect(r.int32()).toBe(-70000)
    expect(r.uint32()).toBe(0xfffffffe)
    expect(r.int64()).toBe(-1)
    expect(r.int64()).toBe(2 ** 53 - 1)
    expect(r.int64()).toBe(-(2 ** 53 - 1))
    expect(r.int64()).toBe(1234567890123)
    expect(r.remaining).toBe(0)
    expectCorrupt(() => r.int8())
  })

  it('int64 matches DataView.setBigInt64 for safe integers', () => {
    fc.assert(fc.property(fc.maxSafeInteger(), n => {
      const w = new ByteWriter().int64(n)
      const ref = new Uint8Array(8)
      new DataView(ref.buffer).setBigInt64(0, BigInt(n))
      expect(w.toBytes()).toEqual(ref)
      expect(new ByteReader(ref).int64()).toBe(n)
    }))
  })

  it('writes varints as Kafka does (known bytes)', () => {
    const hex = (f: (w: ByteWriter) => void) => { const w = new ByteWriter(); f(w); return Buffer.from(w.finish()).toString('hex') }
    expect(hex(w => w.varint(0))).toBe('00')
    expect(hex(w => w.varint(-1))).toBe('01')
    expect(hex(w => w.varint(1))).toBe('02')
    expect(hex(w => w.varint(63))).toBe('7e')
    expect(hex(w => w.varint(64))).toBe('8001')
    expect(hex(w => w.varint(-65))).toBe('8101')
    expect(hex(w => w.varint(2147483647))).toBe('feffffff0f')
    expect(hex(w => w.varint(-2147483648))).toBe('ffffffff0f')
    expect(hex(w => w.unsignedVarint(300))).toBe('ac02')
    expect(hex(w => w.unsignedVarint(0xffffffff))).toBe('ffffffff0f')
    expect(hex(w => w.varlong(2 ** 31))).toBe('8080808010')
    expect(hex(w => w.varlong(-(2 ** 53 - 1)))).toBe('fdffffffffffff1f')
    expect(hex(w => w.varlong(2 ** 53 - 1))).toBe('feffffffffffff1f')
  })

  it('varint / varlong / unsigned varint round trips, sizes agree', () => {
    fc.assert(fc.property(fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), fc.maxSafeInteger(), fc.nat({ max: 0xffffffff }), (a, b, c) => {
      const w = new ByteWriter(1)
      w.varint(a); const s1 = w.length
      w.varlong(b); const s2 = w.length - s1
      w.unsignedVarint(c); const s3 = w.length - s1 - s2
      expect(s1).toBe(sizeOfVarint(a))
      expect(s2).toBe(sizeOfVarlong(b))
      expect(s3).toBe(sizeOfUnsignedVarint(c))
      const r = new ByteReader(w.finish())
      expect(r.varint()).toBe(a)
      expect(r.varlong()).toBe(b)
      expect(r.unsignedVarint()).toBe(c)
      expect(r.remaining).toBe(0)
    }))
  })

  it('varlong agrees with a BigInt zigzag reference', () => {
    fc.assert(fc.property(fc.maxSafeInteger(), n => {
      let z = (BigInt(n) << 1n) ^ (BigInt(n) >> 63n)
      z = BigInt.asUintN(64, z)
      const ref: number[] = []
      while (z >= 0x80n) { ref.push(Number(z & 0x7fn) | 0x80); z >>= 7n }
      ref.push(Number(z))
      expect(Array.from(new ByteWriter().varlong(n).finish())).toEqual(ref)
    }))
  })

  it('rejects bad varints and reads past the end with CORRUPT_MESSAGE', () => {
    expectCorrupt(() => new ByteReader(new Uint8Array([0x80, 0x80, 0x80, 0x80, 0x80, 0x01])).varint())
    expectCorrupt(() => new ByteReader(new Uint8Array([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01])).varlong())
    expectCorrupt(() => new ByteReader(new Uint8Array([0x80, 0x80])).varint())
    expectCorrupt(() => new ByteReader(new Uint8Array([0x80])).varlong())
    expectCorrupt(() => new ByteReader(new Uint8Array([])).unsignedVarint())
    expectCorrupt(() => new ByteReader(new Uint8Array([0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01])).varlong()) // > 2^53
    expectCorrupt(() => new ByteReader(new Uint8Array([0x04, 1])).varintBytes()) // length 2, one byte left
    expectCorrupt(() => new ByteReader(new Uint8Array([0x03])).varintBytes()) // length -2
    expectCorrupt(() => new ByteReader(new Uint8Array(7)).int64())
    expect(new ByteReader(new Uint8Array([0x01])).varintBytes()).toBeNull()
  })

  it('random bytes read as varints never throw anything but EdgelogError', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 24 }), bytes => {
      for (const m of ['varint', 'varlong', 'unsignedVarint', 'varintBytes', 'varintString', 'int64'] as const) {
        const r = new ByteReader(bytes)
        try { while (r.remaining > 0) r[m]() } catch (e) { expect(e).toBeInstanceOf(EdgelogError) }
      }
    }))
  })

  it('the writer grows and is reusable', () => {
    const w = new ByteWriter(16)
    for (let i = 0; i < 1000; i++) w.int32(i)
    expect(w.length).toBe(4000)
    const r = new ByteReader(w.toBytes())
    for (let i = 0; i < 1000; i++) expect(r.int32()).toBe(i)
    w.reset().varintString('héllo ✓ 😀')
    const r2 = new ByteReader(w.finish())
    expect(r2.varintString()).toBe('héllo ✓ 😀')
    w.reset().varintBytes(null).varintBytes(new Uint8Array([1, 2]))
    expect(Array.from(w.finish())).toEqual([1, 4, 1, 2])
  })

  it('utf8 helpers agree with TextEncoder/TextDecoder, lone surrogates included', () => {
    fc.assert(fc.property(fc.oneof(fc.string({ unit: 'grapheme' }), fc.string({ unit: 'binary' }), fc.string()), s => {
      const ref = new TextEncoder().encode(s)
      expect(utf8Length(s)).toBe(ref.length)
      const out = new Uint8Array(ref.length)
      expect(writeUtf8(out, 0, s)).toBe(ref.length)
      expect(out).toEqual(ref)
      expect(readUtf8(out, 0, out.length)).toBe(new TextDecoder().decode(ref))
    }))
  })
})
