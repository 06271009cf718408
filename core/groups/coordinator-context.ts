/** What the coordinator's request handlers share: the group store and the coordinator's options. */
import type { LogSettings } from '../config.ts'
import type { GroupStore } from './group-store.ts'
import type { TopicSubscriptions } from './subscriptions.ts'

export interface CoordinatorContext {
  readonly store: GroupStore
  readonly subscriptions: TopicSubscriptions
  readonly settings: LogSettings
  readonly now: () => number
  /** Partition counts of the existing topics among `topics` (unknown topics left out). */
  readonly topicPartitions: (topics: string[]) => Promise<Record<string, number>>
  /** The partition's high watermark; negative (or UNKNOWN_TOPIC_OR_PARTITION) when it does not exist. */
  readonly highWatermark: (topic: string, partition: number) => Promise<number>
}
