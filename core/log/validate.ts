/** Checks on request fields shared by the broker's entry points; each failure is a typed error. */
import { EdgelogError } from '../errors.ts'
import type { TopicRecord } from './topic-registry.ts'

export function validatePartitionIndex(partition: unknown, topic: TopicRecord): asserts partition is number {
  if (typeof partition !== 'number' || !Number.isInteger(partition) || partition < 0 || partition >= topic.partitions) {
    throw new EdgelogError('UNKNOWN_TOPIC_OR_PARTITION', `Topic '${topic.name}' has no partition ${JSON.stringify(partition)} (it has ${topic.partitions})`)
  }
}

export function validateOffset(offset: unknown, what = 'offset'): asserts offset is number {
  if (typeof offset !== 'number' || !Number.isSafeInteger(offset) || offset < 0) {
    throw new EdgelogError('OFFSET_OUT_OF_RANGE', `${what} must be a non-negative integer, got ${JSON.stringify(offset)}`)
  }
}

export function validateMaxBytes(maxBytes: unknown): asserts maxBytes is number {
  if (typeof maxBytes !== 'number' || !Number.isSafeInteger(maxBytes) || maxBytes < 1) {
    throw new EdgelogError('INVALID_FETCH_SIZE', `maxBytes must be a positive integer, got ${JSON.stringify(maxBytes)}`)
  }
}
