/**
 * Kafka's CooperativeStickyAssignor, i.e. the target assignment computed by
 * AbstractStickyAssignor (without rack information):
 *
 * - every member subscribed to the same topics: the "constrained" algorithm — keep owned
 *   partitions up to the quota (minQuota = ⌊P/M⌋, maxQuota = ⌈P/M⌉, at most P%M members above
 *   minQuota), then fill the members round-robin (sorted by member id) with the unassigned
 *   partitions sorted by topic and partition;
 * - otherwise the "general" algorithm — keep every still-subscribed owned partition, give each
 *   unassigned partition (topics with fewer potential consumers first) to the least-loaded
 *   subscribed member, then move partitions from members holding two or more than another
 *   eligible member until balanced, reverting when the result is not better balanced.
 *
 * CooperativeStickyAssignor then withholds partitions that change owner for one more rebalance;
 * edgelog's coordinator does that hand-over itself (revoke first, assign once released), so this
 * function returns the target.
 */
import type { TopicPartitions } from '../../broker.ts'
import {
  compareStrings,
  finish,
  javaHashMapOrder,
  subscribedPartitionCounts,
  type Assignor,
  type AssignorInput,
  type GroupAssignment,
} from './types.ts'

type TP = readonly [string, number]
const key = (topic: string, partition: number) => `${topic}\u0000${partition}`

function ownedPairs(owned: TopicPartitions[]): TP[] {
  const out: TP[] = []
  for (const tp of owned ?? []) for (const p of tp.partitions) out.push([tp.topic, p])
  return out
}

/**
 * Each member's previously owned partitions that still exist; a partition claimed by more than
 * one member (all in the same generation here) is dropped from every claimant, as Kafka does.
 */
function validOwned(input: AssignorInput, counts: Map<string, number>): { owned: Map<string, TP[]>; multiple: Set<string> } {
  const owner = new Map<string, string>()
  const multiple = new Set<string>()
  const owned = new Map<string, TP[]>()
  for (const m of input.members) {
    const list: TP[] = []
    owned.set(m.memberId, list)
    const seen = new Set<string>()
    for (const [topic, partition] of ownedPairs(m.owned)) {
      const c = counts.get(topic)
      if (c === undefined || !Number.isInteger(partition) || partition < 0 || partition >= c) continue
      const k = key(topic, partition)
      if (seen.has(k)) continue
      seen.add(k)
      const other = owner.get(k)
      if (other === undefined) {
        list.push([topic, partition])
        owner.set(k, m.memberId)
      } else {
        multiple.add(k)
        const ol = owned.get(other)!
        const i = ol.findIndex(([t, p]) => t === topic && p === partition)
        if (i >= 0) ol.splice(i, 1)
        owner.set(k, m.memberId)
      }
    }
  }
  return { owned, multiple }
}

function allSubscriptionsEqual(input: AssignorInput): boolean {
  let first: Set<string> | undefined
  for (const m of input.members) {
    const s = new Set(m.topics)
    if (!first) {
      if (s.size > 0) first = s
      continue
    }
    if (s.size !== first.size || [...s].some((t) => !first!.has(t))) return false
  }
  return true
}

function constrainedAssign(input: AssignorInput, counts: Map<string, number>, owned: Map<string, TP[]>, multiple: Set<string>): GroupAssignment {
  let total = 0
  for (const c of counts.values()) total += c
  const n = input.members.length
  const minQuota = Math.floor(total / n)
  const maxQuota = Math.ceil(total / n)
  const expectedOver = total % n
  let currentOver = 0

  const assignment = new Map<string, TP[]>()
  for (const m of input.members) assignment.set(m.memberId, [])
  const assigned = new Set<string>()
  let under: string[] = []
  let exact: string[] = []

  for (const consumer of javaHashMapOrder(input.members.map((m) => m.memberId))) {
    const own = owned
      .get(consumer)!
      .filter(([t, p]) => !multiple.has(key(t, p)))
      .sort((a, b) => a[1] - b[1] || compareStrings(a[0], b[0]))
    const list = assignment.get(consumer)!
    const take = (count: number) => {
      for (const tp of own.slice(0, count)) {
        list.push(tp)
        assigned.add(key(tp[0], tp[1]))
      }
    }
    if (own.length < minQuota) {
      take(own.length)
      under.push(consumer)
    } else if (own.length >= maxQuota && currentOver < expectedOver) {
      currentOver++
      if (currentOver === expectedOver) exact = []
      take(maxQuota)
    } else {
      take(minQuota)
      if (currentOver < expectedOver) exact.push(consumer)
    }
  }

  under.sort(compareStrings)
  exact.sort(compareStrings)
  const unassigned: TP[] = []
  for (const topic of [...counts.keys()].sort(compareStrings)) {
    const c = counts.get(topic)!
    for (let p = 0; p < c; p++) if (!assigned.has(key(topic, p))) unassigned.push([topic, p])
  }

  // Round-robin over the members under minQuota (a Java iterator over a list with remove()),
  // then one each to the members at exactly minQuota.
  let i = 0
  for (const tp of unassigned) {
    let consumer: string
    let fromUnder = false
    if (i < under.length) {
      consumer = under[i++]
      fromUnder = true
    } else if (under.length === 0 && exact.length === 0) {
      throw new Error('cooperative-sticky: no more unfilled members to assign to')
    } else if (under.length === 0) {
      consumer = exact.shift()!
    } else {
      i = 0
      consumer = under[i++]
      fromUnder = true
    }
    const list = assignment.get(consumer)!
    list.push(tp)
    if (list.length === minQuota) {
      if (fromUnder) {
        under.splice(i - 1, 1)
        i--
      }
      exact.push(consumer)
    } else if (list.length === maxQuota) {
      currentOver++
    }
  }
  return finish(assignment)
}

/** Kafka's PartitionMovements: remembers moves so that a partition moving back is preferred. */
class PartitionMovements {
  private byTopic = new Map<string, Map<string, Map<string, TP>>>()
  private moves = new Map<string, { src: string; dst: string }>()
  private static pair(src: string, dst: string) {
    return `${src}\u0000${dst}`
  }
  private remove(tp: TP): { src: string; dst: string } {
    const k = key(tp[0], tp[1])
    const pair = this.moves.get(k)!
    this.moves.delete(k)
    const topicMoves = this.byTopic.get(tp[0])!
    const pk = PartitionMovements.pair(pair.src, pair.dst)
    const set = topicMoves.get(pk)!
    set.delete(k)
    if (set.size === 0) topicMoves.delete(pk)
    if (topicMoves.size === 0) this.byTopic.delete(tp[0])
    return pair
  }
  private add(tp: TP, src: string, dst: string) {
    const k = key(tp[0], tp[1])
    this.moves.set(k, { src, dst })
    let topicMoves = this.byTopic.get(tp[0])
    if (!topicMoves) this.byTopic.set(tp[0], (topicMoves = new Map()))
    const pk = PartitionMovements.pair(src, dst)
    let set = topicMoves.get(pk)
    if (!set) topicMoves.set(pk, (set = new Map()))
    set.set(k, tp)
  }
  move(tp: TP, oldConsumer: string, newConsumer: string) {
    if (this.moves.has(key(tp[0], tp[1]))) {
      const existing = this.remove(tp)
      if (existing.src !== newConsumer) this.add(tp, existing.src, newConsumer)
    } else this.add(tp, oldConsumer, newConsumer)
  }
  actualPartitionToMove(tp: TP, oldConsumer: string, newConsumer: string): TP {
    const topicMoves = this.byTopic.get(tp[0])
    if (!topicMoves) return tp
    const existing = this.moves.get(key(tp[0], tp[1]))
    if (existing) oldConsumer = existing.src
    const reverse = topicMoves.get(PartitionMovements.pair(newConsumer, oldConsumer))
    if (!reverse) return tp
    // Kafka takes the first element of a java.util.HashSet here; edgelog takes the oldest move.
    return reverse.values().next().value!
  }
}

function generalAssign(input: AssignorInput, counts: Map<string, number>, owned: Map<string, TP[]>): GroupAssignment {
  const topic2Consumers = new Map<string, string[]>()
  for (const t of counts.keys()) topic2Consumers.set(t, [])
  const consumer2Topics = new Map<string, Set<string>>()
  const maxSize = new Map<string, number>()
  for (const m of input.members) {
    const topics = new Set<string>()
    let size = 0
    for (const t of m.topics) {
      if (!counts.has(t) || topics.has(t)) continue
      topics.add(t)
      topic2Consumers.get(t)!.push(m.memberId)
      size += counts.get(t)!
    }
    consumer2Topics.set(m.memberId, topics)
    maxSize.set(m.memberId, size)
  }

  const current = new Map<string, TP[]>()
  const ownerOf = new Map<string, string>()
  let revocationRequired = false
  const assignedKeys = new Set<string>()
  for (const m of input.members) {
    const list: TP[] = []
    for (const tp of owned.get(m.memberId)!) {
      if (!consumer2Topics.get(m.memberId)!.has(tp[0])) {
        revocationRequired = true
        continue
      }
      list.push(tp)
      ownerOf.set(key(tp[0], tp[1]), m.memberId)
      assignedKeys.add(key(tp[0], tp[1]))
    }
    current.set(m.memberId, list)
  }

  const sortedTopics = [...counts.keys()].sort(
    (a, b) => topic2Consumers.get(a)!.length - topic2Consumers.get(b)!.length || compareStrings(a, b),
  )
  let sortedAll: TP[] = []
  for (const t of sortedTopics) for (let p = 0; p < counts.get(t)!; p++) sortedAll.push([t, p])
  let unassigned: TP[] = assignedKeys.size === 0 ? sortedAll : sortedAll.filter(([t, p]) => !assignedKeys.has(key(t, p)))
  const sameList = unassigned === sortedAll

  // The participating members (Kafka's sortedCurrentSubscriptions: ordered by size, then id).
  const participating = new Set<string>(current.keys())
  const size = (c: string) => current.get(c)!.length
  const cmp = (a: string, b: string) => size(a) - size(b) || compareStrings(a, b)
  const leastLoaded = (candidates: Iterable<string>): string | undefined => {
    let best: string | undefined
    for (const c of candidates) if (participating.has(c) && (best === undefined || cmp(c, best) < 0)) best = c
    return best
  }
  const extremes = () => {
    let lo: string | undefined
    let hi: string | undefined
    for (const c of participating) {
      if (lo === undefined || cmp(c, lo) < 0) lo = c
      if (hi === undefined || cmp(c, hi) > 0) hi = c
    }
    return { lo, hi }
  }

  const initializing = (() => {
    const { hi } = extremes()
    return hi === undefined || size(hi) === 0
  })()

  for (const tp of unassigned) {
    const candidates = topic2Consumers.get(tp[0])!
    if (candidates.length === 0) continue
    const c = leastLoaded(candidates)
    if (c === undefined) continue
    current.get(c)!.push(tp)
    ownerOf.set(key(tp[0], tp[1]), c)
  }

  const fixedTopics = new Set([...topic2Consumers].filter(([, cs]) => cs.length < 2).map(([t]) => t))
  sortedAll = sortedAll.filter(([t]) => !fixedTopics.has(t))
  unassigned = sameList ? sortedAll : unassigned.filter(([t]) => !fixedTopics.has(t))

  const fixed = new Map<string, TP[]>()
  for (const c of [...participating]) {
    const list = current.get(c)!
    const canParticipate = list.length < maxSize.get(c)! || list.some(([t]) => topic2Consumers.get(t)!.length >= 2)
    if (!canParticipate) {
      participating.delete(c)
      fixed.set(c, list)
      current.delete(c)
    }
  }

  const snapshot = () => new Map<string, TP[]>([...current].map(([c, l]) => [c, [...l]] as [string, TP[]]))
  const preBalance = snapshot()
  const preOwners = new Map(ownerOf)
  const movements = new PartitionMovements()

  const isBalanced = (): boolean => {
    const { lo, hi } = extremes()
    if (lo === undefined || hi === undefined || size(lo) >= size(hi) - 1) return true
    // A member short of all it could get must not be able to take a partition from a member
    // holding two or more than it: per topic, the largest holder of one of its partitions.
    const topicMax = new Map<string, number>()
    for (const list of current.values()) {
      const s = list.length
      for (const [t] of list) if ((topicMax.get(t) ?? -1) < s) topicMax.set(t, s)
    }
    for (const c of participating) {
      const s = size(c)
      if (s === maxSize.get(c)) continue
      for (const t of consumer2Topics.get(c)!) if ((topicMax.get(t) ?? -1) > s + 1) return false
    }
    return true
  }

  const processMovement = (tp: TP, newConsumer: string) => {
    const k = key(tp[0], tp[1])
    const oldConsumer = ownerOf.get(k)!
    movements.move(tp, oldConsumer, newConsumer)
    const ol = current.get(oldConsumer)!
    const i = ol.findIndex(([t, p]) => t === tp[0] && p === tp[1])
    if (i >= 0) ol.splice(i, 1)
    current.get(newConsumer)!.push(tp)
    ownerOf.set(k, newConsumer)
  }

  const reassign = (tp: TP) => {
    const newConsumer = leastLoaded(topic2Consumers.get(tp[0])!)!
    const oldConsumer = ownerOf.get(key(tp[0], tp[1]))!
    processMovement(movements.actualPartitionToMove(tp, oldConsumer, newConsumer), newConsumer)
  }

  const performReassignments = (partitions: TP[]): boolean => {
    let performed = false
    let modified: boolean
    do {
      modified = false
      for (const tp of partitions) {
        if (isBalanced()) break
        const consumer = ownerOf.get(key(tp[0], tp[1]))
        if (consumer === undefined || !participating.has(consumer)) continue
        const s = size(consumer)
        if (topic2Consumers.get(tp[0])!.some((o) => participating.has(o) && s > size(o) + 1)) {
          reassign(tp)
          performed = modified = true
        }
      }
    } while (modified)
    return performed
  }

  const balanceScore = (a: Map<string, TP[]>) => {
    const sizes = [...a.values()].map((l) => l.length).sort((x, y) => x - y)
    let score = 0
    let prefix = 0
    sizes.forEach((s, i) => {
      score += s * i - prefix
      prefix += s
    })
    return score
  }

  if (!revocationRequired) performReassignments(unassigned)
  const performed = performReassignments(sortedAll)
  if (!initializing && performed && balanceScore(current) >= balanceScore(preBalance)) {
    current.clear()
    for (const [c, l] of preBalance) current.set(c, l)
    ownerOf.clear()
    for (const [k, c] of preOwners) ownerOf.set(k, c)
  }
  for (const [c, l] of fixed) current.set(c, l)
  return finish(current)
}

export const cooperativeStickyAssignor: Assignor = {
  name: 'cooperative-sticky',
  assign(input: AssignorInput): GroupAssignment {
    if (input.members.length === 0) return {}
    const counts = subscribedPartitionCounts(input)
    const { owned, multiple } = validOwned(input, counts)
    if (allSubscriptionsEqual(input)) return constrainedAssign(input, counts, owned, multiple)
    return generalAssign(input, counts, owned)
  },
}
