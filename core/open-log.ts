/** `openLog({ storage })`: the whole log in process over a storage adapter, as a KafkaJS-shaped client. */
import type { LogSettings } from './config.ts'
import type { StorageAdapter } from './storage.ts'
import { LocalBroker } from './log/local-broker.ts'
import { createClient, type EdgelogClient } from './client/client.ts'

export interface OpenLogOptions {
  storage: StorageAdapter
  clientId?: string
  /** Kafka's broker settings (auto.create.topics.enable, num.partitions, …). */
  settings?: Partial<LogSettings>
  /** A clock for tests (retention, session timeouts). */
  now?: () => number
}

export async function openLog(options: OpenLogOptions): Promise<EdgelogClient> {
  const broker = new LocalBroker({ storage: options.storage, settings: options.settings, now: options.now })
  return createClient(broker, { clientId: options.clientId, preferredBatchBytes: options.storage.capabilities.preferredBatchBytes })
}
