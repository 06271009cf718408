/**
 * The partitions the user paused (KafkaJS's pause/resume/paused): a whole topic, or some of its
 * partitions. A paused partition's reader idles; its position and offsets stay as they are.
 */
import { EdgelogError } from '../../errors.ts'

export type TopicPartitionsArg = Array<{ topic: string; partitions?: number[] }>

export function assertTopicPartitions(tps: unknown, what: string): asserts tps is TopicPartitionsArg {
  if (!Array.isArray(tps) || tps.some((t) => !t || typeof t.topic !== 'string' || (t.partitions !== undefined && !Array.isArray(t.partitions)))) {
    throw new EdgelogError('INVALID_REQUEST', `${what} takes [{ topic, partitions? }]`)
  }
}

export class PausedPartitions {
  private readonly topics = new Map<string, Set<number> | 'all'>()

  pause(topicPartitions: TopicPartitionsArg): void {
    assertTopicPartitions(topicPartitions, 'pause')
    for (const { topic, partitions } of topicPartitions) {
      if (!partitions) this.topics.set(topic, 'all')
      else {
        const current = this.topics.get(topic)
        if (current === 'all') continue
        const set = current ?? new Set<number>()
        for (const p of partitions) set.add(p)
        this.topics.set(topic, set)
      }
    }
  }

  /** `owned(topic)`: the partitions of the topic read now (what stays paused of a wholly paused topic). */
  resume(topicPartitions: TopicPartitionsArg, owned: (topic: string) => number[]): void {
    assertTopicPartitions(topicPartitions, 'resume')
    for (const { topic, partitions } of topicPartitions) {
      const current = this.topics.get(topic)
      if (!partitions || current === undefined) this.topics.delete(topic)
      else if (current !== 'all') {
        for (const p of partitions) current.delete(p)
        if (current.size === 0) this.topics.delete(topic)
      } else {
        // Resuming some partitions of a wholly paused topic: pause the rest explicitly.
        const set = new Set<number>()
        for (const p of owned(topic)) if (!partitions.includes(p)) set.add(p)
        this.topics.set(topic, set)
      }
    }
  }

  /** `owned(topic)`: the partitions of the topic read now (what a wholly paused topic lists). */
  list(owned: (topic: string) => number[]): Array<{ topic: string; partitions: number[] }> {
    const result: Array<{ topic: string; partitions: number[] }> = []
    for (const [topic, set] of this.topics) {
      const partitions = set === 'all' ? owned(topic) : [...set]
      if (partitions.length > 0) result.push({ topic, partitions: partitions.sort((a, b) => a - b) })
    }
    return result
  }

  has(topic: string, partition: number): boolean {
    if (this.topics.size === 0) return false // the common case, checked once per message
    const p = this.topics.get(topic)
    return p === 'all' || (p !== undefined && p.has(partition))
  }
}
