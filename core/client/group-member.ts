/**
 * The consumer's side of a KIP-848 group: one heartbeat request joins, reports what the
 * member owns, receives its target assignment, and leaves. Reconciliation is incremental:
 * partitions leaving the target are revoked first (processing finishes, offsets are
 * committed, the next heartbeat acknowledges), then new ones are taken.
 */
import { EdgelogError, isEdgelogError } from '../errors.ts'
import type { Broker, GroupHeartbeatResponse, TopicPartitions } from '../broker.ts'

export interface GroupMemberOptions {
  groupId: string
  clientId: string
  instanceId?: string | null
  rackId?: string | null
  sessionTimeoutMs: number
  rebalanceTimeoutMs: number
  heartbeatIntervalMs: number
  assignors: string[]
  /** Partitions to give up: stop and commit them before this resolves. */
  onRevoke: (partitions: TopicPartitions[]) => Promise<void>
  /** Partitions now owned: start reading them. */
  onAssign: (partitions: TopicPartitions[], memberEpoch: number) => Promise<void>
  onHeartbeat?: (response: GroupHeartbeatResponse) => void
  onJoin?: (info: { memberId: string; memberEpoch: number; assignment: TopicPartitions[] }) => void
  onError?: (error: unknown) => void
}

export const tpKey = (topic: string, partition: number): string => `${topic}\u0000${partition}`

export class GroupMember {
  memberId = ''
  memberEpoch = 0
  private owned = new Map<string, { topic: string; partition: number }>()
  private subscription: { names: string[] | null; regex: string | null } = { names: [], regex: null }
  private subscriptionChanged = true
  private timer: ReturnType<typeof setTimeout> | undefined
  private running = false
  private beating: Promise<void> | null = null
  private beatAgain = false
  private intervalMs: number

  constructor(private readonly broker: Broker, private readonly options: GroupMemberOptions) {
    this.intervalMs = options.heartbeatIntervalMs
  }

  subscribe(names: string[], regex: string | null): void {
    this.subscription = { names: regex ? null : names, regex }
    this.subscriptionChanged = true
  }

  ownedPartitions(): TopicPartitions[] {
    return groupByTopic([...this.owned.values()])
  }

  owns(topic: string, partition: number): boolean {
    return this.owned.has(tpKey(topic, partition))
  }

  async start(): Promise<void> {
    this.running = true
    await this.heartbeat()
    this.options.onJoin?.({ memberId: this.memberId, memberEpoch: this.memberEpoch, assignment: this.ownedPartitions() })
  }

  /** One heartbeat now (also what the timer runs); serialised so answers apply in order. */
  heartbeat(): Promise<void> {
    if (this.beating) return this.beating
    this.beating = this.beat().finally(() => {
      this.beating = null
      const again = this.beatAgain
      this.beatAgain = false
      this.schedule(again ? 0 : this.intervalMs)
    })
    return this.beating
  }

  async stop(): Promise<void> {
    this.running = false
    if (this.timer) clearTimeout(this.timer)
    await this.beating?.catch(() => {})
    const owned = this.ownedPartitions()
    if (owned.length > 0) await this.options.onRevoke(owned)
    this.owned.clear()
    if (this.memberId) {
      const leaveEpoch = this.options.instanceId ? -2 : -1
      await this.broker.groupHeartbeat({ groupId: this.options.groupId, memberId: this.memberId, memberEpoch: leaveEpoch, instanceId: this.options.instanceId ?? null })
        .catch(() => {})
    }
    this.memberId = this.options.instanceId ? this.memberId : ''
    this.memberEpoch = 0
  }

  private schedule(delayMs: number): void {
    if (!this.running) return
    if (this.timer) clearTimeout(this.timer)
    this.timer = setTimeout(() => { void this.heartbeat().catch((e) => this.options.onError?.(e)) }, delayMs)
  }

  private async beat(): Promise<void> {
    let response: GroupHeartbeatResponse
    try {
      response = await this.broker.groupHeartbeat({
        groupId: this.options.groupId,
        memberId: this.memberId,
        memberEpoch: this.memberEpoch,
        instanceId: this.options.instanceId ?? null,
        clientId: this.options.clientId,
        rackId: this.options.rackId ?? null,
        rebalanceTimeoutMs: this.options.rebalanceTimeoutMs,
        sessionTimeoutMs: this.options.sessionTimeoutMs,
        subscribedTopicNames: this.subscriptionChanged || this.memberEpoch === 0 ? this.subscription.names : null,
        subscribedTopicRegex: this.subscriptionChanged || this.memberEpoch === 0 ? this.subscription.regex : null,
        serverAssignors: this.memberEpoch === 0 ? this.options.assignors : null,
        topicPartitions: this.ownedPartitions(),
      })
    } catch (error) {
      if (isEdgelogError(error, 'FENCED_MEMBER_EPOCH') || isEdgelogError(error, 'UNKNOWN_MEMBER_ID')) {
        // Fenced: give everything up without committing (the group moved on), then rejoin.
        const owned = this.ownedPartitions()
        this.owned.clear()
        if (owned.length > 0) await this.options.onRevoke(owned).catch(() => {})
        if (isEdgelogError(error, 'UNKNOWN_MEMBER_ID')) this.memberId = ''
        this.memberEpoch = 0
        this.subscriptionChanged = true
        if (this.running) return this.beat()
      }
      throw error
    }
    this.subscriptionChanged = false
    this.memberId = response.memberId
    this.memberEpoch = response.memberEpoch
    // The coordinator's interval, unless the consumer asked for a shorter one (KafkaJS's heartbeatInterval).
    this.intervalMs = Math.min(response.heartbeatIntervalMs > 0 ? response.heartbeatIntervalMs : Infinity, this.options.heartbeatIntervalMs)
    this.options.onHeartbeat?.(response)
    if (response.assignment) await this.reconcile(response.assignment)
  }

  private async reconcile(target: TopicPartitions[]): Promise<void> {
    const wanted = new Map<string, { topic: string; partition: number }>()
    for (const { topic, partitions } of target) for (const partition of partitions) wanted.set(tpKey(topic, partition), { topic, partition })
    const revoked = [...this.owned.entries()].filter(([k]) => !wanted.has(k))
    if (revoked.length > 0) {
      await this.options.onRevoke(groupByTopic(revoked.map(([, tp]) => tp)))
      for (const [k] of revoked) this.owned.delete(k)
    }
    const added = [...wanted.entries()].filter(([k]) => !this.owned.has(k))
    if (added.length > 0) {
      for (const [k, tp] of added) this.owned.set(k, tp)
      await this.options.onAssign(groupByTopic(added.map(([, tp]) => tp)), this.memberEpoch)
    }
    // Acknowledge revocations at once, so that their new owners need not wait a whole interval.
    if (revoked.length > 0) this.beatAgain = true
  }
}

export function groupByTopic(tps: Array<{ topic: string; partition: number }>): TopicPartitions[] {
  const byTopic = new Map<string, number[]>()
  for (const { topic, partition } of tps) {
    let list = byTopic.get(topic)
    if (!list) byTopic.set(topic, (list = []))
    list.push(partition)
  }
  return [...byTopic].map(([topic, partitions]) => ({ topic, partitions: partitions.sort((a, b) => a - b) }))
}

export function assertGroupId(groupId: unknown): asserts groupId is string {
  if (typeof groupId !== 'string' || groupId.length === 0 || groupId.length > 255) {
    throw new EdgelogError('INVALID_GROUP_ID', `Invalid groupId ${JSON.stringify(groupId)}`)
  }
}
