/**
 * CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), as Kafka's RecordBatch v2 uses it.
 * Table driven, slicing-by-8.
 */

const POLY = 0x82f63b78

/** 8 tables of 256 entries, laid out contiguously: T[k * 256 + b]. */
const T = new Int32Array(8 * 256)
for (let n = 0; n < 256; n++) {
  let c = n
  for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ POLY : c >>> 1
  T[n] = c
}
for (let n = 0; n < 256; n++) {
  let c = T[n]
  for (let k = 1; k < 8; k++) {
    c = T[c & 0xff] ^ (c >>> 8)
    T[k * 256 + n] = c
  }
}

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1

/** Continues a CRC-32C (`crc` is a previous result, 0 to start) over `bytes[start, end)`. */
export function crc32cUpdate(crc: number, bytes: Uint8Array, start = 0, end = bytes.length): number {
  let c = ~crc
  let i = start
  if (LITTLE_ENDIAN && end - start >= 64) {
    // byte-wise up to a 4-byte aligned address, then two aligned 32-bit words per step
    while ((bytes.byteOffset + i) & 3) c = T[(c ^ bytes[i++]) & 0xff] ^ (c >>> 8)
    const words = new Int32Array(bytes.buffer, bytes.byteOffset + i, (end - i) >>> 2)
    const n = words.length & ~1
    for (let w = 0; w < n; w += 2) {
      const lo = c ^ words[w]
      const hi = words[w + 1]
      c =
        T[0x700 + (lo & 0xff)] ^
        T[0x600 + ((lo >>> 8) & 0xff)] ^
        T[0x500 + ((lo >>> 16) & 0xff)] ^
        T[0x400 + (lo >>> 24)] ^
        T[0x300 + (hi & 0xff)] ^
        T[0x200 + ((hi >>> 8) & 0xff)] ^
        T[0x100 + ((hi >>> 16) & 0xff)] ^
        T[hi >>> 24]
    }
    i += n * 4
  } else {
    const stop8 = end - 8
    while (i <= stop8) {
      const lo = c ^ (bytes[i] | (bytes[i + 1] << 8) | (bytes[i + 2] << 16) | (bytes[i + 3] << 24))
      c =
        T[0x700 + (lo & 0xff)] ^
        T[0x600 + ((lo >>> 8) & 0xff)] ^
        T[0x500 + ((lo >>> 16) & 0xff)] ^
        T[0x400 + (lo >>> 24)] ^
        T[0x300 + bytes[i + 4]] ^
        T[0x200 + bytes[i + 5]] ^
        T[0x100 + bytes[i + 6]] ^
        T[bytes[i + 7]]
      i += 8
    }
  }
  while (i < end) c = T[(c ^ bytes[i++]) & 0xff] ^ (c >>> 8)
  return ~c >>> 0
}

/** CRC-32C of `bytes[start, end)`, unsigned. */
export function crc32c(bytes: Uint8Array, start = 0, end = bytes.length): number {
  if (start < 0 || end > bytes.length || start > end) throw new RangeError(`crc32c range [${start}, ${end}) outside 0..${bytes.length}`)
  return crc32cUpdate(0, bytes, start, end)
}
