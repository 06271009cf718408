import { MemoryStorage } from '../../adapters/memory/index.ts'
import { LOG_SETTINGS_DEFAULTS, type LogSettings } from '../../core/config.ts'
import { GroupCoordinator } from '../../core/groups/coordinator.ts'
import type { StorageAdapter } from '../../core/storage.ts'
import type { TopicPartitions } from '../../core/broker.ts'

/** A fake log: partition counts and high watermarks the coordinator asks about. */
export class FakeTopics {
  partitions: Record<string, number> = {}
  hw: Record<string, number> = {}
  constructor(partitions: Record<string, number> = {}) {
    this.partitions = { ...partitions }
  }
  setHighWatermark(topic: string, partition: number, hw: number) {
    this.hw[`${topic}/${partition}`] = hw
  }
}

export interface Harness {
  storage: StorageAdapter
  topics: FakeTopics
  clock: { t: number }
  settings: LogSettings
  coordinator: GroupCoordinator
  /** A new coordinator over the same storage (a restart). */
  restart(): GroupCoordinator
}

export function harness(partitions: Record<string, number> = {}, settings: Partial<LogSettings> = {}, storage: StorageAdapter = new MemoryStorage()): Harness {
  const topics = new FakeTopics(partitions)
  const clock = { t: 1_700_000_000_000 }
  const full = { ...LOG_SETTINGS_DEFAULTS, ...settings }
  const make = () =>
    new GroupCoordinator({
      storage,
      settings: full,
      now: () => clock.t,
      topicPartitions: async (names) => {
        const out: Record<string, number> = {}
        for (const n of names) if (n in topics.partitions) out[n] = topics.partitions[n]
        return out
      },
      listTopics: async () => Object.keys(topics.partitions),
      highWatermark: async (topic, partition) => {
        if (!(topic in topics.partitions) || partition >= topics.partitions[topic]) return -1
        return topics.hw[`${topic}/${partition}`] ?? 1000
      },
    })
  const h: Harness = {
    storage, topics, clock, settings: full, coordinator: make(),
    restart() {
      h.coordinator = make()
      return h.coordinator
    },
  }
  return h
}

/** `{ topic: partitions }` from a TopicPartitions list, for readable assertions. */
export function asMap(list: TopicPartitions[] | null | undefined): Record<string, number[]> {
  const out: Record<string, number[]> = {}
  for (const tp of list ?? []) if (tp.partitions.length > 0) out[tp.topic] = [...tp.partitions]
  return out
}

export function tps(map: Record<string, number[]>): TopicPartitions[] {
  return Object.keys(map).sort().map((topic) => ({ topic, partitions: [...map[topic]].sort((a, b) => a - b) }))
}
