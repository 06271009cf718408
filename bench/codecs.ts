/**
 * `npx tsx bench/codecs.ts [--quick]`: each of Kafka's codecs (snappy, lz4, zstd: edgelog's own,
 * in TypeScript) beside gzip (CompressionStream: the runtime's zlib), on what a record batch
 * holds: encode and decode rates in MB/s of uncompressed bytes, the compression ratio, and the
 * whole batch path (encodeBatchAsync / decodeBatch, records per second). Median of 5 runs.
 */
import { compress, decompress } from '../core/codec/compression.ts'
import { decodeBatch, encodeBatchAsync, type Compression, type RecordInput } from '../core/codec/record-batch.ts'
import { median, report, table } from './report.ts'

const quick = process.argv.includes('--quick')
const RUNS = 5
const BUDGET_MS = quick ? 100 : 400
const CODECS = ['gzip', 'snappy', 'lz4', 'zstd'] as const
const enc = new TextEncoder()

let seed = 42
const rand = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32)
const pick = <T>(xs: readonly T[]) => xs[Math.floor(rand() * xs.length)]

/** 1,000 JSON events of ~150 bytes, as a producer of clickstream or CDC data sends them. */
function jsonRecords(n = 1000): RecordInput[] {
  const actions = ['view', 'click', 'purchase', 'signup', 'logout'] as const
  const pages = ['/home', '/search', '/product/42', '/cart', '/checkout', '/account'] as const
  return Array.from({ length: n }, (_, i) => ({
    key: enc.encode(`user-${Math.floor(rand() * 5000)}`),
    value: enc.encode(JSON.stringify({
      id: 100000 + i, ts: 1_764_000_000_000 + i * 37, user: `user-${Math.floor(rand() * 5000)}`, action: pick(actions), page: pick(pages),
      session: Math.floor(rand() * 2 ** 31).toString(36), amount: Math.round(rand() * 10000) / 100, ok: rand() > 0.1,
    })),
    timestamp: 1_764_000_000_000 + i * 37,
    headers: [{ key: 'content-type', value: enc.encode('application/json') }],
  }))
}

/** Log lines: repetitive text. */
function logLines(n = 2000): Uint8Array {
  const levels = ['INFO', 'WARN', 'DEBUG', 'ERROR'] as const
  const lines = Array.from({ length: n }, (_, i) => `2026-11-26T08:${String(i % 60).padStart(2, '0')}:00.${String(i % 1000).padStart(3, '0')}Z ${pick(levels)} [worker-${i % 8}] request ${Math.floor(rand() * 1e9).toString(16)} GET /v1/topics/orders/partitions/${i % 12}/records?offset=${i * 13} 200 ${Math.floor(rand() * 900)}ms\n`)
  return enc.encode(lines.join(''))
}

function randomBytes(n = 256 * 1024): Uint8Array {
  return Uint8Array.from({ length: n }, () => Math.floor(rand() * 256))
}

/** Operations per second of `op`, over BUDGET_MS, median of RUNS. */
async function rate(op: () => Promise<unknown>): Promise<number> {
  await op()
  const results: number[] = []
  for (let r = 0; r < RUNS; r++) {
    let n = 0
    const start = performance.now()
    while (performance.now() - start < BUDGET_MS) { await op(); n++ }
    results.push(n / ((performance.now() - start) / 1000))
  }
  return median(results)
}

const mb = (bytesPerSecond: number) => Math.round(bytesPerSecond / 1e5) / 10

async function main(): Promise<void> {
  const records = jsonRecords()
  const rawBatch = await encodeBatchAsync(records)
  const payloads: Array<[string, Uint8Array]> = [
    ['JSON events (a 1,000-record batch\'s records)', rawBatch.subarray(61)],
    ['log lines', logLines()],
    ['random bytes (incompressible)', randomBytes()],
  ]
  const out: Record<string, unknown> = {}
  for (const [name, input] of payloads) {
    const rows: Array<Array<string | number>> = []
    const figures: Record<string, unknown> = {}
    let gzip = { encode: 0, decode: 0 }
    for (const codec of CODECS) {
      const packed = await compress(codec, input)
      const encode = (await rate(() => compress(codec, input))) * input.length
      const decode = (await rate(() => decompress(codec, packed))) * input.length
      if (codec === 'gzip') gzip = { encode, decode }
      const ratio = Math.round((input.length / packed.length) * 100) / 100
      figures[codec] = { encodeMBps: mb(encode), decodeMBps: mb(decode), ratio, compressedBytes: packed.length }
      rows.push([codec, mb(encode), `${(encode / gzip.encode).toFixed(1)}x`, mb(decode), `${(decode / gzip.decode).toFixed(1)}x`, ratio, packed.length])
    }
    table(`${name}: ${input.length.toLocaleString('en')} bytes`, ['codec', 'encode MB/s', 'vs gzip', 'decode MB/s', 'vs gzip', 'ratio', 'bytes'], rows)
    out[name] = { bytes: input.length, ...figures }
  }
  // The whole batch path a producer and a consumer take.
  const rows: Array<Array<string | number>> = []
  const batchFigures: Record<string, unknown> = {}
  for (const codec of ['none', ...CODECS] as Compression[]) {
    const batch = await encodeBatchAsync(records, { compression: codec })
    const encodeRps = (await rate(() => encodeBatchAsync(records, { compression: codec }))) * records.length
    const decodeRps = (await rate(() => decodeBatch(batch))) * records.length
    batchFigures[codec] = { encodeRecordsPerSecond: Math.round(encodeRps), decodeRecordsPerSecond: Math.round(decodeRps), batchBytes: batch.length }
    rows.push([codec, Math.round(encodeRps), Math.round(decodeRps), batch.length])
  }
  table('A 1,000-record JSON batch: encodeBatchAsync / decodeBatch', ['codec', 'encode records/s', 'decode records/s', 'batch bytes'], rows)
  out.batch = batchFigures
  report.codecs = out
  console.log(`\n${JSON.stringify({ codecs: out })}`)
}

await main()
