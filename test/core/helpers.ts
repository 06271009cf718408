/** Shared helpers for core tests: batches of simple records, and decoding what a log returns. */
import { decodeBatch, encodeBatch, type RecordInput } from '../../core/codec/record-batch.ts'
import type { StoredBatch } from '../../core/storage.ts'
import { PartitionLog } from '../../core/log/partition-log.ts'
import { TOPIC_CONFIG_DEFAULTS, type TopicConfig } from '../../core/config.ts'
import { MemoryStorage } from '../../adapters/memory/index.ts'

const encoder = new TextEncoder()
const decoder = new TextDecoder()

export function records(values: Array<string | null>, options: { keys?: Array<string | null>; timestamp?: number } = {}): RecordInput[] {
  return values.map((v, i) => ({
    key: options.keys?.[i] == null ? null : encoder.encode(options.keys[i]!),
    value: v === null ? null : encoder.encode(v),
    timestamp: options.timestamp ?? Date.now() + i,
  }))
}

export function batchOf(values: Array<string | null>, options: Parameters<typeof records>[1] & { producerId?: number; producerEpoch?: number; baseSequence?: number } = {}): Uint8Array {
  return encodeBatch(records(values, options), {
    producerId: options.producerId, producerEpoch: options.producerEpoch, baseSequence: options.baseSequence,
  })
}

export async function readAll(log: PartitionLog, from = log.logStartOffset): Promise<Array<{ offset: number; key: string | null; value: string | null; timestamp: number }>> {
  const out: Array<{ offset: number; key: string | null; value: string | null; timestamp: number }> = []
  let offset = from
  while (offset < log.highWatermark) {
    const { batches } = await log.read(offset, 64 * 1024)
    if (batches.length === 0) break
    for (const b of batches) {
      for (const r of (await decodeBatch(b.bytes)).records) {
        if (r.offset >= offset) out.push({ offset: r.offset, key: r.key && decoder.decode(r.key), value: r.value && decoder.decode(r.value), timestamp: r.timestamp })
      }
    }
    offset = batches[batches.length - 1].lastOffset + 1
  }
  return out
}

export function clock(start = 1_700_000_000_000) {
  let now = start
  return { now: () => now, advance: (ms: number) => { now += ms }, set: (t: number) => { now = t } }
}

export async function openPartition(config: Partial<TopicConfig> = {}, options: { storage?: MemoryStorage; now?: () => number } = {}) {
  const storage = options.storage ?? new MemoryStorage()
  const current: { config: TopicConfig } = { config: { ...TOPIC_CONFIG_DEFAULTS, ...config } }
  const log = await PartitionLog.open({ storage, stream: 't1/0', config: () => current.config, now: options.now })
  return { log, storage, current }
}

export function lastOffsets(batches: StoredBatch[]): number[] {
  return batches.map((b) => b.lastOffset)
}
