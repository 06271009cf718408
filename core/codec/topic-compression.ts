/**
 * Kafka's topic-level compression.type, applied where a batch is appended: with 'producer' the
 * batch is stored as its producer compressed it; with 'uncompressed' or a codec, a batch that
 * arrives with another codec is decoded and written again with the topic's codec (Kafka's
 * LogValidator does the same), keeping every field the log relies on: producer id, epoch and
 * base sequence (idempotence), the transactional flag, the timestamp type, each record's
 * offset delta, timestamp, key, value and headers.
 */
import type { TopicCompressionType } from '../config.ts'
import {
  decodeBatch,
  encodeBatchAsync,
  readBatchHeader,
  type BatchHeader,
  type Compression,
} from './record-batch.ts'

/** The codec a batch must be stored with under `type`, or undefined to keep the producer's. */
export function topicCodec(type: TopicCompressionType | undefined): Compression | undefined {
  if (type === undefined || type === 'producer') return undefined
  return type === 'uncompressed' ? 'none' : type
}

/**
 * Returns the batch as the topic stores it: `bytes` itself when its codec is already right (or
 * the topic keeps the producer's), else a new batch with the topic's codec and a fresh CRC.
 * `maxInflatedBytes` caps the decompression (inflate-limit.ts).
 */
export async function conformToTopicCompression(
  bytes: Uint8Array, type: TopicCompressionType | undefined, options: { header?: BatchHeader; maxInflatedBytes?: number } = {},
): Promise<{ bytes: Uint8Array; header: BatchHeader; recompressed: boolean }> {
  const header = options.header ?? readBatchHeader(bytes)
  const target = topicCodec(type)
  if (target === undefined || target === header.compression || header.isControl) return { bytes, header, recompressed: false }
  const { records } = await decodeBatch(bytes, undefined, options.maxInflatedBytes)
  const out = await encodeBatchAsync(
    records.map((r) => ({ key: r.key, value: r.value, timestamp: r.timestamp, headers: r.headers, offsetDelta: r.offset - header.baseOffset })),
    {
      baseOffset: header.baseOffset,
      partitionLeaderEpoch: header.partitionLeaderEpoch,
      producerId: header.producerId,
      producerEpoch: header.producerEpoch,
      baseSequence: header.baseSequence,
      compression: target,
      lastOffsetDelta: header.lastOffsetDelta,
      isTransactional: header.isTransactional,
      timestampType: header.timestampType,
      baseTimestamp: header.baseTimestamp,
    },
  )
  return { bytes: out, header: readBatchHeader(out), recompressed: true }
}
