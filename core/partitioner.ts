/**
 * Partitioning as Apache Kafka's Java client does it, in KafkaJS's partitioner shape.
 *
 * - keyed: toPositive(murmur2(keyBytes)) % numPartitions (all partitions, as Kafka)
 * - keyless: sticky (Kafka's uniform sticky partitioner, KIP-480/794): the same partition until
 *   the producer calls `partitioner.onNewBatch(topic)` after a send, then the next available one
 * - `message.partition` set: that partition
 */

import { EdgelogError } from './errors.ts'

const encoder = new TextEncoder()

/** A key as bytes: strings as UTF-8. */
export function keyBytes(key: Uint8Array | string): Uint8Array {
  return typeof key === 'string' ? encoder.encode(key) : key
}

/** org.apache.kafka.common.utils.Utils.murmur2: seed 0x9747b28c, a signed int32. */
export function murmur2(data: Uint8Array): number {
  const length = data.length
  const m = 0x5bd1e995
  let h = 0x9747b28c ^ length
  const length4 = length >> 2
  for (let i = 0; i < length4; i++) {
    const i4 = i * 4
    let k = data[i4] | (data[i4 + 1] << 8) | (data[i4 + 2] << 16) | (data[i4 + 3] << 24)
    k = Math.imul(k, m)
    k ^= k >>> 24
    k = Math.imul(k, m)
    h = Math.imul(h, m) ^ k
  }
  const rest = length & 3
  const tail = length & ~3
  if (rest === 3) h ^= data[tail + 2] << 16
  if (rest >= 2) h ^= data[tail + 1] << 8
  if (rest >= 1) {
    h ^= data[tail]
    h = Math.imul(h, m)
  }
  h ^= h >>> 13
  h = Math.imul(h, m)
  h ^= h >>> 15
  return h | 0
}

/** Kafka's Utils.toPositive: n & 0x7fffffff (not Math.abs). */
export function toPositive(n: number): number {
  return n & 0x7fffffff
}

/**
 * KafkaJS 1.x's "legacy" murmur2 (JS floating point arithmetic: it differs from Java's for most
 * keys). Kept bit for bit so data partitioned by old KafkaJS producers keeps its partitions.
 */
export function legacyMurmur2(key: Uint8Array | string): number {
  const data = keyBytes(key)
  const length = data.length
  const M = 0x5bd1e995
  let h = 0x9747b28c ^ length
  const length4 = length / 4
  for (let i = 0; i < length4; i++) {
    const i4 = i * 4
    let k = ((data[i4] ?? 0) & 0xff) + (((data[i4 + 1] ?? 0) & 0xff) << 8) + (((data[i4 + 2] ?? 0) & 0xff) << 16) + (((data[i4 + 3] ?? 0) & 0xff) << 24)
    k *= M
    k ^= k >>> 24
    k *= M
    h *= M
    h ^= k
  }
  const rest = length % 4
  if (rest === 3) h ^= (data[(length & ~3) + 2] & 0xff) << 16
  if (rest >= 2) h ^= (data[(length & ~3) + 1] & 0xff) << 8
  if (rest >= 1) {
    h ^= data[length & ~3] & 0xff
    h *= M
  }
  h ^= h >>> 13
  h *= M
  h ^= h >>> 15
  return h
}

export interface PartitionerArgs {
  topic: string
  /** `leader < 0` marks a partition unavailable (KafkaJS's metadata shape); absent means available. */
  partitionMetadata: Array<{ partitionId: number; leader?: number }>
  message: { key?: Uint8Array | string | null; partition?: number | null }
}

export type Partitioner = ((args: PartitionerArgs) => number) & {
  /** The producer calls this after each send to a topic: a sticky partitioner moves on. */
  onNewBatch?: (topic: string) => void
}

function randomInt(): number {
  return Math.floor(Math.random() * 0x7fffffff)
}

function available(meta: PartitionerArgs['partitionMetadata']): PartitionerArgs['partitionMetadata'] {
  let all = true
  for (const p of meta) if (p.leader !== undefined && p.leader < 0) { all = false; break }
  if (all) return meta
  const up = meta.filter(p => p.leader === undefined || p.leader >= 0)
  return up.length > 0 ? up : meta
}

function explicitPartition(args: PartitionerArgs): number | undefined {
  const p = args.message.partition
  if (p !== null && p !== undefined) return p
  if (args.partitionMetadata.length === 0) throw new EdgelogError('UNKNOWN_TOPIC_OR_PARTITION', `topic ${args.topic} has no partitions`)
  return undefined
}

function hasKey(message: PartitionerArgs['message']): boolean {
  return message.key !== null && message.key !== undefined
}

/** Java's built-in partitioner: murmur2 for keys, uniform sticky for keyless messages. */
function createDefaultPartitioner(): Partitioner {
  /** topic → the index (into the available partitions) of the sticky one, and its id */
  const sticky = new Map<string, { counter: number; partition: number | undefined }>()
  const partitioner: Partitioner = args => {
    const { topic, partitionMetadata, message } = args
    const explicit = explicitPartition(args)
    if (explicit !== undefined) return explicit
    const n = partitionMetadata.length
    if (hasKey(message)) return toPositive(murmur2(keyBytes(message.key as Uint8Array | string))) % n
    let s = sticky.get(topic)
    if (!s) { s = { counter: randomInt(), partition: undefined }; sticky.set(topic, s) }
    const up = available(partitionMetadata)
    if (s.partition !== undefined && up.some(p => p.partitionId === s.partition)) return s.partition
    const chosen = up[s.counter % up.length].partitionId
    s.partition = chosen
    return chosen
  }
  partitioner.onNewBatch = (topic: string) => {
    const s = sticky.get(topic)
    if (s) { s.counter = (s.counter + 1) % 0x7fffffff; s.partition = undefined }
  }
  return partitioner
}

/** KafkaJS's LegacyPartitioner: its 1.x murmur2 for keys, round-robin for keyless messages. */
function createLegacyPartitioner(): Partitioner {
  const counters = new Map<string, number>()
  return args => {
    const { topic, partitionMetadata, message } = args
    const explicit = explicitPartition(args)
    if (explicit !== undefined) return explicit
    const n = partitionMetadata.length
    if (hasKey(message)) return toPositive(legacyMurmur2(message.key as Uint8Array | string)) % n
    const c = ((counters.get(topic) ?? randomInt()) + 1) & 0x7fffffff
    counters.set(topic, c)
    const up = available(partitionMetadata)
    return up[c % up.length].partitionId
  }
}

/** Kafka's RoundRobinPartitioner: every message (keyed or not) to the next available partition. */
function createRoundRobinPartitioner(): Partitioner {
  const counters = new Map<string, number>()
  return args => {
    const { topic, partitionMetadata, message } = args
    const explicit = explicitPartition(args)
    if (explicit !== undefined) return explicit
    const c = counters.get(topic) ?? 0
    counters.set(topic, (c + 1) & 0x7fffffff)
    const up = available(partitionMetadata)
    return up[c % up.length].partitionId
  }
}

export const Partitioners = {
  DefaultPartitioner: createDefaultPartitioner,
  /** KafkaJS's old name for the Java-compatible (now default) partitioner. */
  JavaCompatiblePartitioner: createDefaultPartitioner,
  LegacyPartitioner: createLegacyPartitioner,
  RoundRobinPartitioner: createRoundRobinPartitioner,
}
