/** `openLog({ storage })`: the whole log in process over a storage adapter, as a KafkaJS-shaped client. */
import type { LogSettings } from './config.ts'
import type { StorageAdapter } from './storage.ts'
import type { Broker } from './broker.ts'
import { LocalBroker } from './log/local-broker.ts'
import { createClient, type EdgelogClient } from './client/client.ts'
import { Sync, type SyncEvent } from './sync/sync.ts'

export interface OpenLogOptions {
  storage: StorageAdapter
  clientId?: string
  /** Kafka's broker settings (auto.create.topics.enable, num.partitions, …). */
  settings?: Partial<LogSettings>
  /** A clock for tests (retention, session timeouts). */
  now?: () => number
  /**
   * Follow a leader's topics (e.g. `connect({ url }).broker` from edgelog/http): they are kept
   * here as replicas at the leader's offsets, and records produced to them here wait in an
   * outbox until the leader has them (`log.sync`). See docs/sync.md.
   */
  follow?: { leader: Broker; source: string; topics: Array<string | RegExp>; onEvent?: (event: SyncEvent) => void; maxWaitMs?: number; discoveryIntervalMs?: number }
}

export async function openLog(options: OpenLogOptions): Promise<EdgelogClient> {
  const broker = new LocalBroker({ storage: options.storage, settings: options.settings, now: options.now, replicaProduce: options.follow ? 'outbox' : 'refuse',
    isFollowed: options.follow ? (topic) => followed(options.follow!.topics, topic) : undefined,
  })
  let sync: Sync | undefined
  if (options.follow) {
    const { leader, source, topics, onEvent, maxWaitMs, discoveryIntervalMs } = options.follow
    sync = new Sync(broker, { leader, source, follow: topics, maxWaitMs, discoveryIntervalMs })
    if (onEvent) sync.on(onEvent)
    await sync.start()
  }
  return createClient(broker, {
    clientId: options.clientId,
    preferredBatchBytes: options.storage.capabilities.preferredBatchBytes,
    onClose: async () => {
      await sync?.stop()
      await broker.close()
    },
  })
}

export function followed(patterns: Array<string | RegExp>, topic: string): boolean {
  return patterns.some((p) => (typeof p === 'string' ? p === topic : p.test(topic)))
}
