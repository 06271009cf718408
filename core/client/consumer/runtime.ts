/**
 * What the consumer's parts share: the public Consumer class (consumer.ts), the partition
 * readers (partition-reader.ts), batch processing (batch-processor.ts) and the commit policy
 * (commit-policy.ts). One object per consumer, so each part reads the state as it is now.
 */
import type { Broker } from '../../broker.ts'
import type { Emitter } from '../events.ts'
import type { GroupMember } from '../group-member.ts'
import type { OffsetTracker } from '../offset-tracker.ts'
import type { Semaphore } from '../semaphore.ts'
import type { ConsumerConfig, RunSettings } from './api.ts'
import type { PausedPartitions, TopicPartitionsArg } from './paused-partitions.ts'
import type { Wakeups } from './wakeups.ts'

export interface ConsumerRuntime {
  readonly broker: Broker
  /** Any consumer's: the deserializers' types are the public class's concern. */
  readonly config: ConsumerConfig<unknown, unknown>
  readonly emitter: Emitter
  readonly offsets: OffsetTracker
  readonly paused: PausedPartitions
  readonly wakeups: Wakeups
  /** The group membership while a run with a groupId is on. */
  member: GroupMember | null
  /** The subscription's fromBeginning: where a partition without a committed offset starts, unless autoOffsetReset says. */
  fromBeginning: boolean
  runConfig: RunSettings
  running: boolean
  /** Bounds how many partitions' batches are processed at once (partitionsConsumedConcurrently). */
  semaphore: Semaphore
  /** When offsets were last committed (for autoCommitInterval). */
  lastCommit: number
  /** Ends the run on an error it cannot get past (restarting it if retry.restartOnFailure says so). */
  crash(error: unknown): void
  /** The consumer's own pause and resume (what a payload's pause() calls). */
  pause(topicPartitions: TopicPartitionsArg): void
  resume(topicPartitions: TopicPartitionsArg): void
}
