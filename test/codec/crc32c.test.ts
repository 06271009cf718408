import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { crc32c, crc32cUpdate } from '../../core/codec/crc32c.ts'

const ascii = (s: string) => new TextEncoder().encode(s)

/** Bit-at-a-time reference. */
function reference(bytes: Uint8Array): number {
  let c = 0xffffffff
  for (const b of bytes) {
    c ^= b
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1
  }
  return (c ^ 0xffffffff) >>> 0
}

describe('crc32c', () => {
  it('known vectors', () => {
    expect(crc32c(ascii('123456789'))).toBe(0xe3069283)
    expect(crc32c(new Uint8Array(0))).toBe(0)
    expect(crc32c(ascii('a'))).toBe(0xc1d04330)
    // RFC 3720 (iSCSI) B.4 test vectors
    expect(crc32c(new Uint8Array(32))).toBe(0x8a9136aa)
    expect(crc32c(new Uint8Array(32).fill(0xff))).toBe(0x62a8ab43)
    expect(crc32c(Uint8Array.from({ length: 32 }, (_, i) => i))).toBe(0x46dd794e)
    expect(crc32c(Uint8Array.from({ length: 32 }, (_, i) => 31 - i))).toBe(0x113fdb5c)
  })

  it('matches a bitwise reference, on ranges and incrementally', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), fc.nat(), fc.nat(), (bytes, x, y) => {
      const a = bytes.length ? x % (bytes.length + 1) : 0
      const b = bytes.length ? y % (bytes.length + 1) : 0
      const [s, e] = a <= b ? [a, b] : [b, a]
      expect(crc32c(bytes)).toBe(reference(bytes))
      expect(crc32c(bytes, s, e)).toBe(reference(bytes.subarray(s, e)))
      expect(crc32cUpdate(crc32c(bytes, 0, s), bytes, s, bytes.length)).toBe(reference(bytes))
    }))
  })

  it('rejects ranges outside the array', () => {
    expect(() => crc32c(new Uint8Array(4), 0, 5)).toThrow(RangeError)
  })
})
