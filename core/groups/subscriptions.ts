/**
 * What a group's members subscribe to: topic names and regular expressions, matched against
 * the topics that exist, and the partition counts the target assignment is computed with
 * (re-read as Kafka refreshes its metadata).
 */
import { compareStrings } from './assignors/types.ts'
import type { GroupStore } from './group-store.ts'
import type { GroupRecord, MemberRecord } from './group-state.ts'
import { compileRegex } from './requests.ts'
import type { MemberTopics } from './target-assignment.ts'

export interface TopicMetadataSource {
  /** Partition counts of the existing topics among `topics` (unknown topics left out). */
  topicPartitions: (topics: string[]) => Promise<Record<string, number>>
  /** Every topic name (for regular-expression subscriptions). */
  listTopics: () => Promise<string[]>
  /** How long a group's partition counts are trusted before a heartbeat re-reads them. */
  metadataMaxAgeMs: number
}

export class TopicSubscriptions {
  private readonly regexes = new Map<string, RegExp>()

  constructor(private readonly store: GroupStore, private readonly metadata: TopicMetadataSource) {}

  /** The compiled subscription regex (cached); fails with INVALID_REQUEST on a bad one. */
  regex(source: string): RegExp {
    let re = this.regexes.get(source)
    if (!re) this.regexes.set(source, (re = compileRegex(source)))
    return re
  }

  /** The member's subscribed topics among the group's known topics (bound: passed as a callback). */
  readonly memberTopics: MemberTopics = (g: GroupRecord, m: MemberRecord): string[] => {
    const names = new Set(m.subscribedTopicNames)
    const re = m.subscribedTopicRegex ? this.regex(m.subscribedTopicRegex) : undefined
    return Object.keys(g.topics).filter((t) => names.has(t) || (re !== undefined && re.test(t)))
  }

  /** Re-reads the subscribed topics' partition counts; bumps the epoch when they changed. */
  async refreshTopics(g: GroupRecord, now: number, force: boolean): Promise<void> {
    const last = this.store.topicsCheckedAt.get(g.groupId)
    if (!force && last !== undefined && now - last < this.metadata.metadataMaxAgeMs) return
    const names = new Set<string>()
    const regexes: RegExp[] = []
    for (const m of Object.values(g.members)) {
      for (const t of m.subscribedTopicNames) names.add(t)
      if (m.subscribedTopicRegex) regexes.push(this.regex(m.subscribedTopicRegex))
    }
    if (regexes.length > 0) {
      for (const t of await this.metadata.listTopics()) if (regexes.some((re) => re.test(t))) names.add(t)
    }
    const counts = names.size > 0 ? await this.metadata.topicPartitions([...names].sort(compareStrings)) : {}
    const clean: Record<string, number> = {}
    for (const t of Object.keys(counts).sort(compareStrings)) {
      if (names.has(t) && Number.isInteger(counts[t]) && counts[t] > 0) clean[t] = counts[t]
    }
    if (JSON.stringify(clean) !== JSON.stringify(g.topics)) {
      g.topics = clean
      g.groupEpoch++
    }
    this.store.topicsCheckedAt.set(g.groupId, now)
  }
}
