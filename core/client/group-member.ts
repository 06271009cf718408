/**
 * The consumer's side of a KIP-848 group: one heartbeat request joins, reports what the
 * member owns, receives its current assignment, and leaves. Reconciliation is incremental:
 * partitions leaving the assignment are revoked first (processing finishes, offsets are
 * committed, the next heartbeat acknowledges), then new ones are taken.
 *
 * Heart-beating never waits for reconciliation (as the Java client's background thread): a
 * slow handler finishing its batch before a revocation does not make the member miss its
 * session, and a handler calling `heartbeat()` cannot deadlock against its own revocation.
 *
 * The member names itself (KIP-1082: a member id the client generates once, for the consumer's
 * whole life, sent with every join): a join whose answer is lost (the server stored it, then
 * died or the connection dropped) and is sent again, or a consumer that restarts after a crash
 * whose leave never arrived, is the same member again — not a second one while the first stays
 * in the group as a ghost holding partitions nobody reads until its session runs out. A
 * heartbeat that gets no answer within a session counts as failed, so that a request hanging
 * for ever cannot stop the member's heart-beating.
 */
import { EdgelogError, isEdgelogError } from '../errors.ts'
import type { Broker, GroupHeartbeatResponse, TopicPartitions } from '../broker.ts'

export interface GroupMemberOptions {
  groupId: string
  /** The member's id (KIP-1082), the same for every run of one consumer; default: a new one. */
  memberId?: string
  clientId: string
  instanceId?: string | null
  rackId?: string | null
  sessionTimeoutMs: number
  rebalanceTimeoutMs: number
  heartbeatIntervalMs: number
  assignors: string[]
  /** Partitions to give up: stop and commit them before this resolves. */
  onRevoke: (partitions: TopicPartitions[]) => Promise<void>
  /** Partitions already given to others (fenced, session lost): stop them, commit nothing. */
  onLost?: (partitions: TopicPartitions[]) => Promise<void>
  /** Partitions now owned: start reading them. */
  onAssign: (partitions: TopicPartitions[], memberEpoch: number) => Promise<void>
  onHeartbeat?: (response: GroupHeartbeatResponse) => void
  /** A new assignment arrived that differs from what the member owns. */
  onRebalance?: (info: { memberId: string; memberEpoch: number }) => void
  /** The member owns what the coordinator assigned it (after a join or a rebalance). */
  onJoin?: (info: { memberId: string; memberEpoch: number; assignment: TopicPartitions[] }) => void
  onError?: (error: unknown) => void
}

export const tpKey = (topic: string, partition: number): string => `${topic}\u0000${partition}`

type TP = { topic: string; partition: number }

export class GroupMember {
  memberId: string
  memberEpoch = 0
  private owned = new Map<string, TP>()
  /** The latest assignment received and not yet reconciled (null: nothing new). */
  private target: Map<string, TP> | null = null
  private reconciling: Promise<void> | null = null
  /** Partitions lost (fenced, out of touch) being stopped; reconciliation waits for it. */
  private losing: Promise<void> = Promise.resolve()
  /** Bumped when everything is lost: a reconciliation under an older one stops. */
  private lossCount = 0
  /** Joined (epoch 0 answered): the next reconciliation announces the assignment even if empty. */
  private announce = false
  private subscription: { names: string[] | null; regex: string | null } = { names: [], regex: null }
  private subscriptionChanged = true
  private timer: ReturnType<typeof setTimeout> | undefined
  private running = false
  private beating: Promise<void> | null = null
  private beatAgain = false
  private intervalMs: number
  private lastContact = Date.now()
  private readonly now = () => Date.now()

  constructor(private readonly broker: Broker, private readonly options: GroupMemberOptions) {
    this.memberId = options.memberId ?? newMemberId()
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

  /**
   * Whether the coordinator can still count this member in: its last answered heartbeat was
   * sent less than a session ago. Past that, the partitions may already be someone else's:
   * everything owned is given up at once (a consumer asks before handing records to user code).
   */
  checkSession(): boolean {
    if (!this.running) return false
    if (this.now() - this.lastContact < this.options.sessionTimeoutMs) return true
    if (this.owned.size > 0) this.loseAll()
    return false
  }

  /** Joins: resolves once the first assignment is taken (a failed join rejects, leaving nothing running). */
  async start(): Promise<void> {
    this.running = true
    this.lastContact = this.now()
    try {
      await this.heartbeat()
      await this.reconciling
    } catch (error) {
      this.running = false
      if (this.timer) clearTimeout(this.timer)
      throw error
    }
  }

  /**
   * One heartbeat now (also what the timer runs), or the one in flight; resolves when its
   * answer is applied (reconciliation goes on in the background).
   */
  heartbeat(): Promise<void> {
    if (this.beating) return this.beating
    if (this.timer) clearTimeout(this.timer)
    this.timer = undefined
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
    this.timer = undefined
    await this.beating?.catch(() => {})
    await this.reconciling?.catch(() => {})
    await this.losing
    this.target = null
    const owned = this.ownedPartitions()
    if (owned.length > 0) await this.options.onRevoke(owned).catch(() => {})
    this.owned.clear()
    if (this.memberId && this.memberEpoch > 0) {
      const leaveEpoch = this.options.instanceId ? -2 : -1
      await this.withinSession(this.broker.groupHeartbeat({ groupId: this.options.groupId, memberId: this.memberId, memberEpoch: leaveEpoch, instanceId: this.options.instanceId ?? null }))
        .catch(() => {})
    }
    this.memberEpoch = 0
  }

  private schedule(delayMs: number): void {
    if (!this.running) return
    if (this.timer) clearTimeout(this.timer)
    this.timer = setTimeout(() => {
      this.timer = undefined
      void this.heartbeat().catch((e) => this.options.onError?.(e))
    }, delayMs)
  }

  private async beat(): Promise<void> {
    let response: GroupHeartbeatResponse
    // The coordinator's session clock starts no earlier than this send: counting from it keeps
    // this member's view of its session on the safe side of the coordinator's.
    const sentAt = this.now()
    try {
      response = await this.withinSession(this.broker.groupHeartbeat({
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
      }))
    } catch (error) {
      if (!this.running) return
      if (isEdgelogError(error, 'FENCED_MEMBER_EPOCH') || isEdgelogError(error, 'UNKNOWN_MEMBER_ID')) {
        // Fenced: the group moved on without us. Give everything up without committing, rejoin
        // (under the same id: the coordinator takes it as a new member if it forgot it).
        this.loseAll()
        this.memberEpoch = 0
        this.subscriptionChanged = true
        this.beatAgain = true
        return
      }
      const retriable = isEdgelogError(error) ? error.retriable : false
      if (!retriable) throw error
      // Out of touch for a whole session: the coordinator has given our partitions away by now.
      if (this.now() - this.lastContact > this.options.sessionTimeoutMs) {
        this.loseAll()
        this.memberEpoch = 0
        this.subscriptionChanged = true
      }
      return
    }
    if (!this.running) return
    if (this.memberEpoch === 0) this.announce = true
    this.subscriptionChanged = false
    this.lastContact = sentAt
    this.memberId = response.memberId
    this.memberEpoch = response.memberEpoch
    // The coordinator's interval, unless the consumer asked for a shorter one (KafkaJS's heartbeatInterval).
    this.intervalMs = Math.min(response.heartbeatIntervalMs > 0 ? response.heartbeatIntervalMs : Infinity, this.options.heartbeatIntervalMs)
    this.options.onHeartbeat?.(response)
    if (response.assignment) {
      const wanted = new Map<string, TP>()
      for (const { topic, partitions } of response.assignment) for (const partition of partitions) wanted.set(tpKey(topic, partition), { topic, partition })
      this.target = wanted
      this.startReconciling()
    }
  }

  private startReconciling(): void {
    if (this.reconciling) return
    this.reconciling = this.reconcile()
      .catch((e) => { if (this.running) this.options.onError?.(e) })
      .finally(() => {
        this.reconciling = null
        // A reconciliation cut short by a loss leaves the newest assignment behind: take it now.
        if (this.running && this.target) this.startReconciling()
      })
  }

  /**
   * The heartbeat's answer, or a retriable REQUEST_TIMED_OUT once a session passed without one:
   * by then the coordinator has counted the member out anyway, and the member must go on
   * heart-beating (rejoining) rather than wait for ever on a request that may never answer.
   */
  private withinSession<T>(request: Promise<T>): Promise<T> {
    let timer: ReturnType<typeof setTimeout> | undefined
    const limit = this.options.sessionTimeoutMs
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new EdgelogError('REQUEST_TIMED_OUT', `No answer to the group heartbeat within the session (${limit} ms)`)), limit)
    })
    request.catch(() => {}) // an answer after the timeout is dropped
    return Promise.race([request, timeout]).finally(() => { if (timer !== undefined) clearTimeout(timer) })
  }

  /** Moves what the member owns to the latest target: revoke first, acknowledge, then assign. */
  private async reconcile(): Promise<void> {
    let changed = false
    let first = true
    const lossCount = this.lossCount
    await this.losing
    while (this.running && this.target && lossCount === this.lossCount) {
      const wanted = this.target
      this.target = null
      const revoked = [...this.owned.entries()].filter(([k]) => !wanted.has(k))
      const added = [...wanted.entries()].filter(([k]) => !this.owned.has(k))
      if (revoked.length === 0 && added.length === 0) continue
      if (first) this.options.onRebalance?.({ memberId: this.memberId, memberEpoch: this.memberEpoch })
      first = false
      changed = true
      if (revoked.length > 0) {
        await this.options.onRevoke(groupByTopic(revoked.map(([, tp]) => tp)))
        if (lossCount !== this.lossCount) break
        for (const [k] of revoked) this.owned.delete(k)
        // Acknowledge at once, so that the new owners need not wait a whole interval.
        if (this.beating) this.beatAgain = true
        else this.schedule(0)
      }
      if (!this.running || this.target) continue // a newer assignment arrived meanwhile: start from it
      if (added.length > 0) {
        for (const [k, tp] of added) this.owned.set(k, tp)
        await this.options.onAssign(groupByTopic(added.map(([, tp]) => tp)), this.memberEpoch)
      }
    }
    if ((changed || this.announce) && this.running && lossCount === this.lossCount) {
      this.announce = false
      this.options.onJoin?.({ memberId: this.memberId, memberEpoch: this.memberEpoch, assignment: this.ownedPartitions() })
    }
  }

  /**
   * Everything owned is lost (never awaited here: the handlers being stopped may be waiting
   * on a heartbeat). The next reconciliation waits for it, so a partition is never read twice.
   */
  private loseAll(): void {
    this.target = null
    this.lossCount++
    const owned = this.ownedPartitions()
    this.owned.clear()
    if (owned.length === 0) return
    const lost = this.options.onLost ?? this.options.onRevoke
    this.losing = this.losing.then(() => lost(owned)).catch(() => {})
  }
}

/** A member id of the client's own (KIP-1082): 22 URL-safe characters, as Kafka's Uuid.toString. */
export function newMemberId(): string {
  const bytes = new Uint8Array(16)
  crypto.getRandomValues(bytes)
  let binary = ''
  for (const b of bytes) binary += String.fromCharCode(b)
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '')
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
