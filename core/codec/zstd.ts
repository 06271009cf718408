/**
 * Kafka's zstd: plain Zstandard frames (RFC 8878), as zstd-jni writes them for Kafka.
 *
 * Encoding is edgelog's own, in pure TypeScript (every zstd encoder on npm is native or a
 * WebAssembly build, and workerd refuses to compile WebAssembly from bytes at run time): one
 * single-segment frame with its content size, blocks of at most 128 KiB; LZ77 matches found
 * greedily with a hash of 4 bytes over the whole frame, the last offset tried first (coded as
 * repeat offset 1); literals Huffman-coded (weights FSE-coded or direct) when that is smaller,
 * else RLE or raw; sequence codes with the predefined FSE tables or the block's own, whichever
 * the estimate says is smaller; a block that does not shrink is stored raw. Any conforming
 * decoder (libzstd, zstd-jni, KafkaJS's @kafkajs/zstd) reads it: test/codec checks it against
 * libzstd. Its output is within ~15 % of libzstd level 1 on Kafka batches of JSON.
 *
 * Decoding is fzstd (vendor/fzstd.ts), behind a walk over the frame headers that refuses, before
 * any allocation, a frame whose declared content or back-reference range is past the inflate limit, and stops
 * frames of unknown size as soon as their output passes it.
 */
import { EdgelogError } from '../errors.ts'
import { Decompress, decompress as fzstdDecompress } from './vendor/fzstd.ts'
import { corruptCodec, inflatedTooLarge } from './inflate-limit.ts'

const MAGIC = 0xfd2fb528
const BLOCK_MAX = 128 * 1024
const HASH_LOG = 16
const MIN_MATCH = 4
/** The predefined offset table codes offsets up to 2^29 - 1 (offset + 3). */
const MAX_OFFSET = 2 ** 28

// --- the predefined distributions and code tables (RFC 8878 3.1.1.3.2.2, 3.1.1.3.2.1.1) -------
const LL_NORM = [4, 3, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 2, 3, 2, 1, 1, 1, 1, 1, -1, -1, -1, -1]
const ML_NORM = [1, 4, 3, 2, 2, 2, 2, 2, 2, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, -1, -1, -1, -1, -1, -1, -1]
const OF_NORM = [1, 1, 1, 1, 1, 1, 2, 2, 2, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, -1, -1, -1, -1, -1]
const LL_BITS = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 3, 3, 4, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16]
const ML_BITS = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 3, 3, 4, 4, 5, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16]
const LL_BASE = cumulativeBases(LL_BITS, 0)
/** Match length bases minus 3 (the minimum match), as the codes count them. */
const ML_BASE = cumulativeBases(ML_BITS, 0)

function cumulativeBases(bits: number[], first: number): number[] {
  const out: number[] = []
  let base = first
  for (const b of bits) { out.push(base); base += 2 ** b }
  return out
}
function highbit(x: number): number { return 31 - Math.clz32(x) }
function codeTable(base: number[], size: number): Uint8Array {
  const t = new Uint8Array(size)
  for (let c = 0; c < base.length; c++) for (let v = base[c]; v < size && v < (base[c + 1] ?? Infinity); v++) t[v] = c
  return t
}
const LL_CODE = codeTable(LL_BASE, 64)
const ML_CODE = codeTable(ML_BASE, 128)
function llCode(ll: number): number { return ll < 64 ? LL_CODE[ll] : highbit(ll) + 19 }
function mlCode(mlBase: number): number { return mlBase < 128 ? ML_CODE[mlBase] : highbit(mlBase) + 36 }

// --- FSE encoding tables, as libzstd's FSE_buildCTable builds them --------------------------------
interface CTable { tableLog: number; states: Uint16Array; deltaNbBits: Int32Array; deltaFindState: Int32Array }

function buildCTable(norm: number[], tableLog: number): CTable {
  const size = 1 << tableLog
  const symbols = new Uint8Array(size)
  const cumul = new Int32Array(norm.length + 1)
  let high = size - 1
  for (let s = 0; s < norm.length; s++) {
    if (norm[s] === -1) { cumul[s + 1] = cumul[s] + 1; symbols[high--] = s } else cumul[s + 1] = cumul[s] + norm[s]
  }
  const step = (size >>> 1) + (size >>> 3) + 3
  let pos = 0
  for (let s = 0; s < norm.length; s++) {
    for (let i = 0; i < norm[s]; i++) {
      symbols[pos] = s
      do pos = (pos + step) & (size - 1); while (pos > high)
    }
  }
  const next = cumul.slice()
  const states = new Uint16Array(size)
  for (let u = 0; u < size; u++) states[next[symbols[u]]++] = size + u
  const deltaNbBits = new Int32Array(norm.length)
  const deltaFindState = new Int32Array(norm.length)
  let total = 0
  for (let s = 0; s < norm.length; s++) {
    const n = norm[s]
    if (n === -1 || n === 1) {
      deltaNbBits[s] = (tableLog << 16) - size
      deltaFindState[s] = total - 1
      total++
    } else if (n > 1) {
      const maxBitsOut = tableLog - highbit(n - 1)
      deltaNbBits[s] = (maxBitsOut << 16) - (n << maxBitsOut)
      deltaFindState[s] = total - n
      total += n
    }
  }
  return { tableLog, states, deltaNbBits, deltaFindState }
}

let tables: { ll: CTable; ml: CTable; of: CTable } | undefined
function predefined() {
  return (tables ??= { ll: buildCTable(LL_NORM, 6), ml: buildCTable(ML_NORM, 6), of: buildCTable(OF_NORM, 5) })
}

/** The backward bit stream of the sequences section: bits go in LSB first; the decoder reads from the end. */
class BitWriter {
  acc = 0
  n = 0
  constructor(public buf: Uint8Array, public pos: number) {}
  add(value: number, bits: number): void {
    if (bits > 16) { this.add(value & 0xffff, 16); this.add(value >>> 16, bits - 16); return }
    this.acc |= (value & ((1 << bits) - 1)) << this.n
    this.n += bits
    while (this.n >= 8) { this.buf[this.pos++] = this.acc & 0xff; this.acc >>>= 8; this.n -= 8 }
  }
  close(): number {
    this.add(1, 1)
    if (this.n > 0) { this.buf[this.pos++] = this.acc & 0xff; this.acc = 0; this.n = 0 }
    return this.pos
  }
}

function initState(t: CTable, symbol: number): number {
  const nbBitsOut = (t.deltaNbBits[symbol] + (1 << 15)) >> 16
  const value = (nbBitsOut << 16) - t.deltaNbBits[symbol]
  return t.states[(value >> nbBitsOut) + t.deltaFindState[symbol]]
}
function encodeSymbol(w: BitWriter, t: CTable, state: number, symbol: number): number {
  const nbBitsOut = (state + t.deltaNbBits[symbol]) >> 16
  w.add(state, nbBitsOut)
  return t.states[(state >> nbBitsOut) + t.deltaFindState[symbol]]
}

// --- the encoder ----------------------------------------------------------------------------------
function read32(b: Uint8Array, i: number): number { return (b[i] | (b[i + 1] << 8) | (b[i + 2] << 16) | (b[i + 3] << 24)) >>> 0 }
function hash(seq: number): number { return Math.imul(seq, 2654435761) >>> (32 - HASH_LOG) }

/** Per-call scratch of the block encoder. */
interface Scratch {
  table: Int32Array; lit: Int32Array; ml: Int32Array; off: Int32Array; literals: Uint8Array; seqOut: Uint8Array; huf: Uint8Array
  llc: Uint8Array; mlc: Uint8Array; ofc: Uint8Array
  /** The repeat offsets of the frame so far, as the decoder keeps them (RFC 8878 3.1.2.5). */
  rep: Int32Array
}

// --- literals: raw, RLE, or Huffman-coded (RFC 8878 3.1.1.3.1, 4.2) ----------------------------------
const HUF_MAX_BITS = 11

function writeRawLiterals(lits: Uint8Array, n: number, out: Uint8Array, o: number, type: 0 | 1): number {
  if (n < 32) out[o++] = type | (n << 3)
  else if (n < 4096) { out[o++] = type | (1 << 2) | ((n & 0xf) << 4); out[o++] = n >>> 4 } else {
    out[o++] = type | (3 << 2) | ((n & 0xf) << 4); out[o++] = n >>> 4; out[o++] = n >>> 12
  }
  if (type === 1) { out[o] = lits[0]; return o + 1 }
  out.set(lits.subarray(0, n), o)
  return o + n
}

/**
 * Huffman code lengths (at most 11 bits) for the symbols counted; 0 for absent ones. A code too
 * long for 11 bits: the counts are flattened (halved, kept above 0) and the tree built again.
 */
function huffmanLengths(counts: Uint32Array, maxSymbol: number): Uint8Array {
  const lengths = new Uint8Array(maxSymbol + 1)
  const c = Array.from(counts.subarray(0, maxSymbol + 1))
  for (;;) {
    const leaves = c.map((count, symbol) => ({ count, symbol })).filter((x) => x.count > 0).sort((a, b) => a.count - b.count || a.symbol - b.symbol)
    const n = leaves.length
    // Two-queue Huffman: leaves in order, internal nodes as made (already in order).
    const weight = new Float64Array(2 * n)
    const parent = new Int32Array(2 * n).fill(-1)
    for (let i = 0; i < n; i++) weight[i] = leaves[i].count
    let leaf = 0
    let node = n
    let next = n
    const take = () => (leaf < n && (node >= next || weight[leaf] <= weight[node]) ? leaf++ : node++)
    for (; next < 2 * n - 1; next++) {
      const a = take()
      const b = take()
      weight[next] = weight[a] + weight[b]
      parent[a] = parent[b] = next
    }
    const depth = new Uint8Array(2 * n)
    let longest = 0
    for (let i = 2 * n - 3; i >= 0; i--) depth[i] = depth[parent[i]] + 1
    for (let i = 0; i < n; i++) longest = Math.max(longest, depth[i])
    if (longest <= HUF_MAX_BITS) {
      for (let i = 0; i < n; i++) lengths[leaves[i].symbol] = depth[i]
      return lengths
    }
    for (let i = 0; i < c.length; i++) if (c[i] > 0) c[i] = Math.max(1, c[i] >>> 1)
  }
}

/** FSE's normalized counts: `1 << tableLog` in all, at least 1 for each symbol present. */
function normalize(counts: number[], tableLog: number): number[] {
  const total = counts.reduce((a, b) => a + b, 0)
  const size = 1 << tableLog
  const norm = counts.map((c) => (c > 0 ? Math.max(1, Math.floor((c * size) / total)) : 0))
  let diff = size - norm.reduce((a, b) => a + b, 0)
  while (diff !== 0) {
    let top = 0
    for (let i = 1; i < norm.length; i++) if (norm[i] > norm[top]) top = i
    const step = diff > 0 ? diff : Math.max(diff, 1 - norm[top])
    norm[top] += step
    diff -= step
  }
  return norm
}

/** An FSE table description (RFC 8878 4.1.1), as libzstd's FSE_writeNCount writes it; returns the end. */
function writeNCount(norm: number[], tableLog: number, out: Uint8Array, o: number): number {
  let bits = tableLog - 5
  let count = 4
  let remaining = (1 << tableLog) + 1
  let threshold = 1 << tableLog
  let nbBits = tableLog + 1
  let symbol = 0
  let previousIs0 = false
  const flush = () => { while (count >= 8) { out[o++] = bits & 0xff; bits >>>= 8; count -= 8 } }
  while (symbol < norm.length && remaining > 1) {
    if (previousIs0) {
      let start = symbol
      while (symbol < norm.length && norm[symbol] === 0) symbol++
      while (symbol >= start + 3) { start += 3; bits |= 3 << count; count += 2; flush() }
      bits |= (symbol - start) << count
      count += 2
      flush()
    }
    let c = norm[symbol++]
    const max = 2 * threshold - 1 - remaining
    remaining -= Math.abs(c)
    c++
    if (c >= threshold) c += max
    bits |= c << count
    count += nbBits - (c < max ? 1 : 0)
    previousIs0 = c === 1
    while (remaining < threshold) { nbBits--; threshold >>= 1 }
    flush()
  }
  if (count > 0) { out[o++] = bits & 0xff; count = 0 }
  return o
}

/**
 * The Huffman weights (symbols 0..n-1) FSE-coded with two interleaved states, as libzstd's
 * HUF_compressWeights: table description, then the backward bit stream. Returns the end, or -1
 * when it cannot be done (fewer than 3 weights, one weight value only, or 128 bytes or more).
 */
function compressWeights(weights: Uint8Array, n: number, out: Uint8Array, o: number): number {
  if (n <= 2) return -1
  const counts = new Array<number>(HUF_MAX_BITS + 1).fill(0)
  let maxValue = 0
  for (let i = 0; i < n; i++) { counts[weights[i]]++; maxValue = Math.max(maxValue, weights[i]) }
  if (counts.some((c) => c === n)) return -1
  const tableLog = 6
  const norm = normalize(counts.slice(0, maxValue + 1), tableLog)
  const start = o
  o = writeNCount(norm, tableLog, out, o)
  const table = buildCTable(norm, tableLog)
  const w = new BitWriter(out, o)
  let i = n
  let s1: number
  let s2: number
  if (n & 1) {
    s1 = initState(table, weights[--i])
    s2 = initState(table, weights[--i])
    s1 = encodeSymbol(w, table, s1, weights[--i])
  } else {
    s2 = initState(table, weights[--i])
    s1 = initState(table, weights[--i])
  }
  while (i > 0) {
    s2 = encodeSymbol(w, table, s2, weights[--i])
    s1 = encodeSymbol(w, table, s1, weights[--i])
  }
  w.add(s2, tableLog)
  w.add(s1, tableLog)
  const end = w.close()
  return end - start >= 128 ? -1 : end
}

/** Encodes lits[from..to) backward (the decoder reads forward from the stream's end); returns the end. */
function huffmanStream(lits: Uint8Array, from: number, to: number, codes: Uint16Array, bits: Uint8Array, out: Uint8Array, o: number): number {
  const w = new BitWriter(out, o)
  for (let i = to - 1; i >= from; i--) w.add(codes[lits[i]], bits[lits[i]])
  return w.close()
}

function writeLiterals(lits: Uint8Array, n: number, out: Uint8Array, o: number, s: Scratch): number {
  if (n < 64) return writeRawLiterals(lits, n, out, o, 0)
  const counts = new Uint32Array(256)
  let maxSymbol = 0
  for (let i = 0; i < n; i++) counts[lits[i]]++
  let distinct = 0
  for (let v = 0; v < 256; v++) if (counts[v] > 0) { distinct++; maxSymbol = v }
  if (distinct === 1) return writeRawLiterals(lits, n, out, o, 1)
  const lengths = huffmanLengths(counts, maxSymbol)
  let tableLog = 0
  for (const l of lengths) tableLog = Math.max(tableLog, l)
  // Canonical codes as the decoder ranks them: by weight (longest codes first), then by symbol.
  const weights = new Uint8Array(maxSymbol + 1)
  const rankCount = new Uint32Array(tableLog + 2)
  for (let v = 0; v <= maxSymbol; v++) if (lengths[v]) { weights[v] = tableLog + 1 - lengths[v]; rankCount[weights[v]]++ }
  const rankStart = new Uint32Array(tableLog + 2)
  for (let w = 1, start = 0; w <= tableLog; w++) { rankStart[w] = start; start += rankCount[w] << (w - 1) }
  const codes = new Uint16Array(256)
  const bits = new Uint8Array(256)
  for (let v = 0; v <= maxSymbol; v++) {
    const w = weights[v]
    if (!w) continue
    codes[v] = rankStart[w] >>> (w - 1)
    bits[v] = lengths[v]
    rankStart[w] += 1 << (w - 1)
  }
  // Estimated size; not worth it unless clearly smaller than raw.
  let payload = 0
  for (let v = 0; v <= maxSymbol; v++) payload += counts[v] * lengths[v]
  const treeBytes = 1 + Math.ceil(maxSymbol / 2)
  if (treeBytes + (payload >>> 3) + 16 >= n - (n >>> 5)) return writeRawLiterals(lits, n, out, o, 0)

  // Tree description: the weights of symbols 0..maxSymbol-1 (the last one's is implied), FSE-coded
  // when that works and is smaller, else 4 bits each (up to 128 of them); then 1 stream (< 1 KiB)
  // or 4 with their jump table, into scratch.
  const huf = s.huf
  let h = 1
  const fseEnd = compressWeights(weights, maxSymbol, huf, 1)
  if (fseEnd > 0 && (fseEnd - 1 < Math.ceil(maxSymbol / 2) || maxSymbol > 128)) {
    huf[0] = fseEnd - 1
    h = fseEnd
  } else if (maxSymbol <= 128) {
    huf[0] = 127 + maxSymbol
    for (let v = 0; v < maxSymbol; v += 2) huf[h++] = (weights[v] << 4) | (v + 1 < maxSymbol ? weights[v + 1] : 0)
  } else {
    return writeRawLiterals(lits, n, out, o, 0)
  }
  const single = n < 1024
  if (single) {
    h = huffmanStream(lits, 0, n, codes, bits, huf, h)
  } else {
    const segment = Math.floor((n + 3) / 4)
    const jump = h
    h += 6
    let from = 0
    for (let k = 0; k < 4; k++) {
      const to = k === 3 ? n : from + segment
      const begin = h
      h = huffmanStream(lits, from, to, codes, bits, huf, h)
      if (k < 3) { huf[jump + 2 * k] = (h - begin) & 0xff; huf[jump + 2 * k + 1] = (h - begin) >>> 8 }
      from = to
    }
  }
  const compressed = h
  // Literals section header: Compressed_Literals_Block with the smallest size format that fits.
  const format = single ? 0 : n < 1024 && compressed < 1024 ? 1 : n < 16384 && compressed < 16384 ? 2 : 3
  const sizeBits = format <= 1 ? 10 : format === 2 ? 14 : 18
  const headerBytes = format <= 1 ? 3 : format === 2 ? 4 : 5
  if (headerBytes + compressed >= n) return writeRawLiterals(lits, n, out, o, 0)
  const value = 2 + format * 4 + n * 16 + compressed * 2 ** (4 + sizeBits)
  for (let i = 0; i < headerBytes; i++) out[o + i] = Math.floor(value / 2 ** (8 * i)) & 0xff
  o += headerBytes
  out.set(huf.subarray(0, compressed), o)
  return o + compressed
}

/**
 * Writes src[start..end) as one compressed block's content (literals + sequences) at out[o..];
 * returns the end, or -1 when it would not be smaller than the raw block.
 */
function compressBlock(src: Uint8Array, start: number, end: number, out: Uint8Array, o: number, s: Scratch): number {
  let anchor = start
  let ip = start
  let nbSeq = 0
  let nbLit = 0
  let misses = 0
  // The repeat offsets as the decoder will have them (committed only if this block is kept).
  let rep0 = s.rep[0]
  let rep1 = s.rep[1]
  let rep2 = s.rep[2]
  const ipLimit = end - MIN_MATCH
  const literals = s.literals
  const emit = (literalsEnd: number, offBase: number, len: number) => {
    const n = literalsEnd - anchor
    if (n < 32) { for (let i = 0; i < n; i++) literals[nbLit + i] = src[anchor + i] } else literals.set(src.subarray(anchor, literalsEnd), nbLit)
    nbLit += n
    s.lit[nbSeq] = literalsEnd - anchor
    s.ml[nbSeq] = len
    s.off[nbSeq] = offBase
    nbSeq++
    anchor = literalsEnd + len
  }
  while (ip < ipLimit) {
    // The last offset again, one byte on (at least one literal: offBase 1 then means repeat offset 1).
    const p = ip + 1
    if (p < ipLimit && p - rep0 >= 0 && read32(src, p - rep0) === read32(src, p)) {
      let len = MIN_MATCH
      while (p + len < end && src[p + len] === src[p - rep0 + len]) len++
      s.table[hash(read32(src, ip))] = ip
      emit(p, 1, len)
      ip = anchor
      misses = 0
      if (ip < ipLimit) s.table[hash(read32(src, ip - 2))] = ip - 2
      continue
    }
    const seq = read32(src, ip)
    const h = hash(seq)
    let ref = s.table[h]
    s.table[h] = ip
    if (ref < 0 || ip - ref >= MAX_OFFSET || read32(src, ref) !== seq) {
      ip += 1 + (misses++ >> 6)
      continue
    }
    misses = 0
    while (ip > anchor && ref > 0 && src[ip - 1] === src[ref - 1]) { ip--; ref-- }
    let len = MIN_MATCH
    while (ip + len < end && src[ip + len] === src[ref + len]) len++
    const offset = ip - ref
    if (offset === rep0 && ip > anchor) {
      emit(ip, 1, len)
    } else {
      emit(ip, offset + 3, len)
      rep2 = rep1
      rep1 = rep0
      rep0 = offset
    }
    ip = anchor
    if (ip < ipLimit) s.table[hash(read32(src, ip - 2))] = ip - 2
  }
  if (nbSeq === 0) return -1
  s.literals.set(src.subarray(anchor, end), nbLit)
  nbLit += end - anchor

  // Literals section: Huffman-coded when that is smaller, one repeated byte as RLE, else raw.
  const budget = o + (end - start)
  if (o + nbLit / 8 >= budget) return -1
  o = writeLiterals(s.literals, nbLit, out, o, s)
  if (o >= budget) return -1

  // Sequences section header: the count, the modes, the tables chosen per block.
  if (nbSeq < 128) out[o++] = nbSeq
  else if (nbSeq < 0x7f00) { out[o++] = (nbSeq >>> 8) + 128; out[o++] = nbSeq & 0xff } else {
    out[o++] = 255; out[o++] = (nbSeq - 0x7f00) & 0xff; out[o++] = (nbSeq - 0x7f00) >>> 8
  }
  const llCounts = new Uint32Array(36)
  const mlCounts = new Uint32Array(53)
  const ofCounts = new Uint32Array(32)
  for (let i = 0; i < nbSeq; i++) {
    const llc = llCode(s.lit[i])
    const mlc = mlCode(s.ml[i] - 3)
    const ofc = highbit(s.off[i])
    s.llc[i] = llc; s.mlc[i] = mlc; s.ofc[i] = ofc
    llCounts[llc]++; mlCounts[mlc]++; ofCounts[ofc]++
  }
  const modes = o++
  const defaults = predefined()
  const ll = chooseTable(llCounts, nbSeq, LL_NORM, defaults.ll, 9, out, o)
  o = ll.end
  const of = chooseTable(ofCounts, nbSeq, OF_NORM, defaults.of, 8, out, o)
  o = of.end
  const ml = chooseTable(mlCounts, nbSeq, ML_NORM, defaults.ml, 9, out, o)
  o = ml.end
  out[modes] = (ll.mode << 6) | (of.mode << 4) | (ml.mode << 2)

  const w = new BitWriter(s.seqOut, 0)
  const last = nbSeq - 1
  let stateML = initState(ml.table, s.mlc[last])
  let stateOF = initState(of.table, s.ofc[last])
  let stateLL = initState(ll.table, s.llc[last])
  w.add(s.lit[last] - LL_BASE[s.llc[last]], LL_BITS[s.llc[last]])
  w.add(s.ml[last] - 3 - ML_BASE[s.mlc[last]], ML_BITS[s.mlc[last]])
  w.add(s.off[last] - (1 << s.ofc[last]), s.ofc[last])
  for (let i = nbSeq - 2; i >= 0; i--) {
    const llc = s.llc[i]
    const mlc = s.mlc[i]
    const ofc = s.ofc[i]
    stateOF = encodeSymbol(w, of.table, stateOF, ofc)
    stateML = encodeSymbol(w, ml.table, stateML, mlc)
    stateLL = encodeSymbol(w, ll.table, stateLL, llc)
    w.add(s.lit[i] - LL_BASE[llc], LL_BITS[llc])
    w.add(s.ml[i] - 3 - ML_BASE[mlc], ML_BITS[mlc])
    w.add(s.off[i] - (1 << ofc), ofc)
  }
  w.add(stateML, ml.table.tableLog)
  w.add(stateOF, of.table.tableLog)
  w.add(stateLL, ll.table.tableLog)
  const bits = w.close()
  if (o + bits >= budget) return -1
  out.set(s.seqOut.subarray(0, bits), o)
  s.rep[0] = rep0; s.rep[1] = rep1; s.rep[2] = rep2
  return o + bits
}

/** libzstd's FSE_optimalTableLog: enough states for the symbols, no more than the data can fill. */
function optimalTableLog(maxLog: number, count: number, maxSymbol: number): number {
  const maxBitsSrc = highbit(count - 1) - 2
  const minBits = Math.min(highbit(count) + 1, highbit(maxSymbol) + 2)
  let log = maxLog
  if (maxBitsSrc < log) log = maxBitsSrc
  if (minBits > log) log = minBits
  return Math.max(5, Math.min(maxLog, log))
}

/**
 * A sequence code's table for this block: RLE (one symbol), the predefined distribution, or
 * its own FSE table (written at out[o..]) when the estimated bits say it pays for its header.
 */
function chooseTable(counts: Uint32Array, nbSeq: number, defaultNorm: number[], defaultTable: CTable, maxLog: number, out: Uint8Array, o: number): { mode: number; table: CTable; end: number } {
  let maxSymbol = 0
  let distinct = 0
  for (let v = 0; v < counts.length; v++) if (counts[v] > 0) { maxSymbol = v; distinct++ }
  if (distinct === 1) {
    out[o] = maxSymbol
    const norm = new Array<number>(maxSymbol + 1).fill(0)
    norm[maxSymbol] = 1
    return { mode: 1, table: buildCTable(norm, 0), end: o + 1 }
  }
  let predefinedBits = Infinity
  if (maxSymbol < defaultNorm.length) {
    predefinedBits = 0
    const size = 2 ** defaultTable.tableLog
    for (let v = 0; v <= maxSymbol; v++) if (counts[v]) predefinedBits += counts[v] * Math.log2(size / Math.abs(defaultNorm[v]))
  }
  if (nbSeq < 32 && predefinedBits < Infinity) return { mode: 0, table: defaultTable, end: o }
  const tableLog = optimalTableLog(maxLog, nbSeq, maxSymbol)
  const norm = normalize(Array.from(counts.subarray(0, maxSymbol + 1)), tableLog)
  const end = writeNCount(norm, tableLog, out, o)
  let customBits = (end - o) * 8
  for (let v = 0; v <= maxSymbol; v++) if (counts[v]) customBits += counts[v] * Math.log2(2 ** tableLog / norm[v])
  if (predefinedBits <= customBits) return { mode: 0, table: defaultTable, end: o }
  return { mode: 2, table: buildCTable(norm, tableLog), end }
}

function writeBlockHeader(out: Uint8Array, o: number, last: boolean, type: number, size: number): void {
  const v = (last ? 1 : 0) | (type << 1) | (size << 3)
  out[o] = v & 0xff
  out[o + 1] = (v >>> 8) & 0xff
  out[o + 2] = (v >>> 16) & 0xff
}

/** Encodes `input` as one Zstandard frame. */
export function zstdCompress(input: Uint8Array): Uint8Array {
  const n = input.length
  if (n >= 2 ** 32) throw new EdgelogError('MESSAGE_TOO_LARGE', 'zstd: input over 4 GiB')
  const blocks = Math.max(1, Math.ceil(n / BLOCK_MAX))
  const out = new Uint8Array(4 + 1 + 4 + blocks * 3 + n)
  out[0] = 0x28; out[1] = 0xb5; out[2] = 0x2f; out[3] = 0xfd
  let o = 4
  // Frame header: single segment (the back-reference range is the content), content size in 1, 2 or 4 bytes.
  if (n < 256) { out[o++] = 0x20; out[o++] = n } else if (n < 65536 + 256) {
    out[o++] = 0x60; out[o++] = (n - 256) & 0xff; out[o++] = (n - 256) >>> 8
  } else {
    out[o++] = 0xa0; out[o++] = n & 0xff; out[o++] = (n >>> 8) & 0xff; out[o++] = (n >>> 16) & 0xff; out[o++] = n >>> 24
  }
  if (n === 0) { writeBlockHeader(out, o, true, 0, 0); return out.subarray(0, o + 3) }
  const blockCap = Math.min(BLOCK_MAX, n)
  const scratch: Scratch = {
    table: new Int32Array(1 << HASH_LOG).fill(-1),
    lit: new Int32Array((blockCap >>> 2) + 1), ml: new Int32Array((blockCap >>> 2) + 1), off: new Int32Array((blockCap >>> 2) + 1),
    literals: new Uint8Array(blockCap),
    seqOut: new Uint8Array(3 * blockCap + 64),
    huf: new Uint8Array(2 * blockCap + 256),
    llc: new Uint8Array((blockCap >>> 2) + 1), mlc: new Uint8Array((blockCap >>> 2) + 1), ofc: new Uint8Array((blockCap >>> 2) + 1),
    rep: Int32Array.from([1, 4, 8]),
  }
  for (let start = 0; start < n; start += BLOCK_MAX) {
    const end = Math.min(n, start + BLOCK_MAX)
    const last = end === n
    const blockEnd = compressBlock(input, start, end, out, o + 3, scratch)
    if (blockEnd < 0) {
      writeBlockHeader(out, o, last, 0, end - start)
      out.set(input.subarray(start, end), o + 3)
      o += 3 + end - start
    } else {
      writeBlockHeader(out, o, last, 2, blockEnd - o - 3)
      o = blockEnd
    }
  }
  return out.subarray(0, o)
}

// --- the decoder ----------------------------------------------------------------------------------
/** Walks the frames' headers and blocks: what they declare, checked before fzstd allocates. */
function scanFrames(input: Uint8Array, limit: number): { unknownSize: boolean } {
  let at = 0
  let declared = 0
  let unknownSize = false
  while (at < input.length) {
    if (input.length - at < 4) throw corruptCodec('zstd', 'truncated frame')
    const magic = read32(input, at)
    if ((magic & 0xfffffff0) === 0x184d2a50) {
      if (input.length - at < 8) throw corruptCodec('zstd', 'truncated skippable frame')
      at += 8 + read32(input, at + 4)
      if (at > input.length) throw corruptCodec('zstd', 'truncated skippable frame')
      continue
    }
    if (magic !== MAGIC) throw corruptCodec('zstd', `bad frame magic 0x${magic.toString(16)}`)
    let p = at + 4
    if (p >= input.length) throw corruptCodec('zstd', 'truncated frame header')
    const fhd = input[p++]
    if (fhd & 0x08) throw corruptCodec('zstd', 'reserved frame header bit set')
    const single = (fhd & 0x20) !== 0
    const fcsFlag = fhd >>> 6
    const dictBytes = [0, 1, 2, 4][fhd & 3]
    let windowSize = 0
    if (!single) {
      if (p >= input.length) throw corruptCodec('zstd', 'truncated frame header')
      const wd = input[p++]
      const base = 2 ** (10 + (wd >>> 3))
      windowSize = base + (base / 8) * (wd & 7)
    }
    if (dictBytes) throw corruptCodec('zstd', 'frames with a dictionary id are not supported')
    const fcsBytes = fcsFlag === 0 ? (single ? 1 : 0) : [0, 2, 4, 8][fcsFlag]
    if (p + fcsBytes > input.length) throw corruptCodec('zstd', 'truncated frame header')
    if (fcsBytes) {
      let size = 0
      for (let i = 0; i < fcsBytes; i++) size += input[p + i] * 2 ** (8 * i)
      if (fcsFlag === 1) size += 256
      declared += size
      if (declared > limit) throw inflatedTooLarge('zstd', limit)
    } else {
      unknownSize = true
    }
    if (windowSize > limit) throw inflatedTooLarge('zstd', limit)
    p += fcsBytes
    for (;;) {
      if (p + 3 > input.length) throw corruptCodec('zstd', 'truncated block header')
      const bh = input[p] | (input[p + 1] << 8) | (input[p + 2] << 16)
      const type = (bh >>> 1) & 3
      if (type === 3) throw corruptCodec('zstd', 'reserved block type')
      p += 3 + (type === 1 ? 1 : bh >>> 3)
      if (p > input.length) throw corruptCodec('zstd', 'truncated block')
      if (bh & 1) break
    }
    if (fhd & 0x04) p += 4
    if (p > input.length) throw corruptCodec('zstd', 'truncated content checksum')
    at = p
  }
  return { unknownSize }
}

/** Decodes one or more Zstandard frames; at most `limit` bytes of output. */
export function zstdDecompress(input: Uint8Array, limit: number): Uint8Array {
  const { unknownSize } = scanFrames(input, limit)
  try {
    if (!unknownSize) return fzstdDecompress(input)
    // Some frame does not say its size: stream it, and stop once the output passes the limit.
    const chunks: Uint8Array[] = []
    let total = 0
    const stream = new Decompress((chunk: Uint8Array) => {
      total += chunk.length
      if (total > limit) throw inflatedTooLarge('zstd', limit)
      chunks.push(chunk)
    })
    stream.push(input, true)
    const out = new Uint8Array(total)
    let at = 0
    for (const c of chunks) { out.set(c, at); at += c.length }
    return out
  } catch (e) {
    if (e instanceof EdgelogError) throw e
    throw corruptCodec('zstd', (e as Error)?.message ?? String(e))
  }
}
