/** The consumer's public shapes, as KafkaJS has them: configuration, run options, payloads, events. */
import type { KafkaMessage, RecordBytes } from '../messages.ts'
import type { Deserializers } from '../serializers.ts'
import type { RetryOptions } from '../retry.ts'

export interface ConsumerConfig<V = RecordBytes, K = RecordBytes> {
  /** Turn each fetched value (key) back from bytes before it is handed over: Kafka's value.deserializer (edgelog/schemas makes Confluent's). */
  deserializers?: Deserializers<V, K>
  groupId?: string
  groupInstanceId?: string
  partitionAssigners?: Array<string | { name: string }>
  sessionTimeout?: number
  rebalanceTimeout?: number
  heartbeatInterval?: number
  maxBytesPerPartition?: number
  minBytes?: number
  maxBytes?: number
  maxWaitTimeInMs?: number
  retry?: RetryOptions & { restartOnFailure?: (e: Error) => Promise<boolean> }
  allowAutoTopicCreation?: boolean
  rackId?: string
  /** Where to start without a committed offset; overrides `fromBeginning`. 'none': OFFSET_OUT_OF_RANGE. */
  autoOffsetReset?: 'earliest' | 'latest' | 'none'
  /** KafkaJS's readUncommitted: true reads records of open and aborted transactions too (read_uncommitted). Default false: read_committed. */
  readUncommitted?: boolean
}

export interface Batch<V = RecordBytes, K = RecordBytes> {
  topic: string
  partition: number
  highWatermark: string
  messages: Array<KafkaMessage<V, K>>
  isEmpty(): boolean
  firstOffset(): string | null
  lastOffset(): string
  offsetLag(): string
  offsetLagLow(): string
}

/** KafkaJS's PartitionOffset / TopicOffsets / Offsets / OffsetsByTopicPartition. */
export interface PartitionOffset { partition: number; offset: string }
export interface TopicOffsets { topic: string; partitions: PartitionOffset[] }
export interface Offsets { topics: TopicOffsets[] }
export interface OffsetsByTopicPartition { topics: TopicOffsets[] }

export interface EachMessagePayload<V = RecordBytes, K = RecordBytes> {
  topic: string
  partition: number
  message: KafkaMessage<V, K>
  heartbeat(): Promise<void>
  pause(): () => void
}

export interface EachBatchPayload<V = RecordBytes, K = RecordBytes> {
  batch: Batch<V, K>
  resolveOffset(offset: string): void
  heartbeat(): Promise<void>
  pause(): () => void
  /**
   * KafkaJS's shape: `{ topics: [{ topic, partitions: [{ partition, offset }] }] }` (what
   * `uncommittedOffsets()` returns) commits those offsets now; no argument commits what was
   * resolved when autoCommitInterval or autoCommitThreshold is due (or, with neither set, now).
   */
  commitOffsetsIfNecessary(offsets?: Offsets): Promise<void>
  /** Offsets resolved and not committed yet, by topic: partitions as numbers, offsets as decimal strings. */
  uncommittedOffsets(): OffsetsByTopicPartition
  isRunning(): boolean
  isStale(): boolean
}

export interface RunConfig<V = RecordBytes, K = RecordBytes> {
  eachMessage?: (payload: EachMessagePayload<V, K>) => Promise<void>
  eachBatch?: (payload: EachBatchPayload<V, K>) => Promise<void>
  autoCommit?: boolean
  autoCommitInterval?: number | null
  autoCommitThreshold?: number | null
  eachBatchAutoResolve?: boolean
  partitionsConsumedConcurrently?: number
}

/** `run`'s options with KafkaJS's defaults filled in. */
export type RunSettings = Required<Pick<RunConfig, 'autoCommit' | 'eachBatchAutoResolve' | 'partitionsConsumedConcurrently'>> & RunConfig

export const RUN_DEFAULTS = { autoCommit: true, eachBatchAutoResolve: true, partitionsConsumedConcurrently: 1 } as const

export const PartitionAssigners = { range: 'range', roundRobin: 'roundrobin', cooperativeSticky: 'cooperative-sticky' } as const

export const CONSUMER_EVENTS = {
  HEARTBEAT: 'consumer.heartbeat', COMMIT_OFFSETS: 'consumer.commit_offsets', GROUP_JOIN: 'consumer.group_join',
  FETCH_START: 'consumer.fetch_start', FETCH: 'consumer.fetch', START_BATCH_PROCESS: 'consumer.start_batch_process',
  END_BATCH_PROCESS: 'consumer.end_batch_process', CONNECT: 'consumer.connect', DISCONNECT: 'consumer.disconnect',
  STOP: 'consumer.stop', CRASH: 'consumer.crash', REBALANCING: 'consumer.rebalancing',
  RECEIVED_UNSUBSCRIBED_TOPICS: 'consumer.received_unsubscribed_topics', REQUEST: 'consumer.network.request',
  REQUEST_TIMEOUT: 'consumer.network.request_timeout', REQUEST_QUEUE_SIZE: 'consumer.network.request_queue_size',
} as const
