/**
 * The cluster's controller (Kafka's KRaft controller, reduced to what replication needs): it
 * holds each partition's assignment (replicas, leader, leader epoch, ISR), persisted in its own
 * storage; it watches brokers by heartbeat and fences one silent for the session timeout; it
 * elects leaders — from the ISR, or from any live replica only with
 * unclean.leader.election.enable (reported, never silent) — and it accepts ISR changes from a
 * partition's current leader only (AlterPartition), so that a deposed leader can never shrink
 * the ISR to itself and acknowledge alone. Decisions reach brokers as assignments, re-sent until
 * each broker has taken them.
 */
import { EdgelogError } from '../errors.ts'
import type { LogSettings, TopicConfig } from '../config.ts'
import type { TopicSpec } from '../broker.ts'
import type { StorageAdapter } from '../storage.ts'
import { TopicRegistry, type TopicRecord } from '../log/topic-registry.ts'
import type { AlterPartitionRequest, BrokerId, ControllerRpc, EventSink, PartitionAssignment, Transport } from './types.ts'
import { completeIfCaughtUp, planReassignment } from './reassign.ts'

export interface ControllerOptions {
  storage: StorageAdapter
  transport: Transport
  brokers: BrokerId[]
  settings: LogSettings
  events: EventSink
  now?: () => number
  /** How often brokers are probed (Kafka: broker.heartbeat.interval.ms, 2000). */
  heartbeatMs?: number
  /** Silent this long: fenced, its leaderships moved (Kafka: broker.session.timeout.ms, 9000). */
  sessionTimeoutMs?: number
}

const stateKey = (topicId: string, partition: number) => `partition-state/${topicId}/${partition}`

export class Controller implements ControllerRpc {
  readonly topics: TopicRegistry
  readonly brokers: BrokerId[]
  private readonly states = new Map<string, PartitionAssignment>()
  private readonly fenced = new Set<BrokerId>()
  private readonly lastSeen = new Map<BrokerId, number>()
  private readonly incarnations = new Map<BrokerId, string>()
  /** Per broker: the partition epoch of each assignment it has taken. */
  private readonly delivered = new Map<BrokerId, Map<string, number>>()
  /** Deleted topics whose replicas some brokers still hold (told again each round until they answer). */
  private readonly deletions = new Map<string, Set<BrokerId>>()
  private readonly now: () => number
  private readonly sessionTimeoutMs: number
  private readonly timer: ReturnType<typeof setInterval>
  private queue: Promise<unknown> = Promise.resolve()
  private closed = false

  private constructor(private readonly options: ControllerOptions) {
    this.now = options.now ?? Date.now
    this.brokers = options.brokers.slice()
    this.sessionTimeoutMs = options.sessionTimeoutMs ?? 9_000
    this.topics = new TopicRegistry(options.storage, options.settings, this.now, this.brokers.length)
    const started = this.now()
    for (const b of this.brokers) this.lastSeen.set(b, started)
    this.timer = setInterval(() => { void this.tick() }, options.heartbeatMs ?? 2_000)
    ;(this.timer as { unref?: () => void }).unref?.()
  }

  static async open(options: ControllerOptions): Promise<Controller> {
    const controller = new Controller(options)
    for (const { value } of await options.storage.listMeta<PartitionAssignment>('partition-state/')) {
      controller.states.set(stateKey(value.topicId, value.partition), value)
    }
    return controller
  }

  isFenced(broker: BrokerId): boolean { return this.fenced.has(broker) }

  // ── topics ───────────────────────────────────────────────────────────────────────────────

  async createTopics(specs: TopicSpec[], validateOnly: boolean): Promise<Array<{ topic: string; created: boolean }>> {
    const results = await this.topics.createMany(specs, validateOnly)
    if (!validateOnly) {
      for (const r of results.filter((r) => r.created)) {
        const record = (await this.topics.get(r.topic))!
        await this.assignPartitions(record, 0)
      }
    }
    return results
  }

  async increasePartitions(name: string, count: number): Promise<void> {
    const before = await this.topics.lookup(name)
    const record = await this.topics.increasePartitions(name, count)
    await this.assignPartitions(record, before.partitions)
  }

  async alterConfig(name: string, entries: Array<{ name: string; value: string | null }>): Promise<TopicConfig> {
    const record = await this.topics.alterConfig(name, entries)
    await this.serial(async () => {
      for (const s of this.assignmentsOf(record.topicId)) await this.save({ ...s, config: record.config, partitionEpoch: s.partitionEpoch + 1 })
    })
    void this.push()
    return record.config
  }

  async deleteTopic(name: string): Promise<TopicRecord> {
    const record = await this.topics.delete(name)
    await this.serial(async () => {
      const gone = this.assignmentsOf(record.topicId)
      await this.options.storage.commit({ meta: gone.map((s) => ({ key: stateKey(s.topicId, s.partition), value: undefined })) })
      for (const s of gone) this.states.delete(stateKey(s.topicId, s.partition))
      this.deletions.set(record.topicId, new Set(gone.flatMap((s) => s.replicas)))
    })
    await this.sendDeletions()
    return record
  }

  assignmentsOf(topicId: string): PartitionAssignment[] {
    return [...this.states.values()].filter((s) => s.topicId === topicId).sort((a, b) => a.partition - b.partition)
  }

  /** Replicas spread round-robin from a rotating start (Kafka's rack-unaware assignment); the first live one leads. */
  private assignPartitions(record: TopicRecord, from: number): Promise<void> {
    const rf = record.replicationFactor ?? 1
    const n = this.brokers.length
    return this.serial(async () => {
      for (let p = from; p < record.partitions; p++) {
        const replicas = Array.from({ length: rf }, (_, i) => this.brokers[(p + i) % n])
        const live = replicas.filter((r) => !this.fenced.has(r))
        const leader = live[0] ?? -1
        await this.save({
          topic: record.name, topicId: record.topicId, partition: p, replicas, leader, leaderEpoch: 0,
          isr: live.length > 0 ? live : replicas, partitionEpoch: 0, config: record.config,
        })
        if (leader >= 0) this.options.events({ kind: 'leader-elected', topic: record.name, partition: p, leader, leaderEpoch: 0, isr: live })
      }
    }).then(() => this.push())
  }

  // ── what brokers ask ─────────────────────────────────────────────────────────────────────

  alterPartition(req: AlterPartitionRequest): Promise<PartitionAssignment> {
    return this.serial(async () => {
      const s = this.states.get(stateKey(req.topicId, req.partition))
      if (!s) throw new EdgelogError('UNKNOWN_TOPIC_OR_PARTITION', `No partition ${req.topicId}/${req.partition}`)
      if (req.leader !== s.leader || req.leaderEpoch !== s.leaderEpoch) {
        throw new EdgelogError('FENCED_LEADER_EPOCH', `Broker ${req.leader} at epoch ${req.leaderEpoch} is not the leader of ${s.topic}-${s.partition} (broker ${s.leader}, epoch ${s.leaderEpoch})`)
      }
      if (req.partitionEpoch !== s.partitionEpoch) {
        throw new EdgelogError('INVALID_UPDATE_VERSION', `${s.topic}-${s.partition} is at partition epoch ${s.partitionEpoch}, not ${req.partitionEpoch}`)
      }
      const added = req.isr.filter((r) => !s.isr.includes(r))
      if (!req.isr.includes(s.leader) || req.isr.some((r) => !s.replicas.includes(r)) || added.some((r) => this.fenced.has(r))) {
        throw new EdgelogError('INVALID_REQUEST', `ISR ${JSON.stringify(req.isr)} is not eligible for ${s.topic}-${s.partition}`)
      }
      const grown = { ...s, isr: [...req.isr], partitionEpoch: s.partitionEpoch + 1, unclean: false }
      // The replicas being added are all in sync now: the reassignment completes in the same step (KIP-455).
      const next = completeIfCaughtUp(grown) ?? grown
      await this.save(next)
      this.options.events({ kind: 'isr-changed', topic: s.topic, partition: s.partition, isr: next.isr, leader: next.leader })
      const removed = s.replicas.filter((r) => !next.replicas.includes(r))
      void this.push().then(() => this.stopReplicas(next, removed))
      return next
    })
  }

  /**
   * Kafka's AlterPartitionReassignments for one partition (reassign.ts; `null` cancels): the
   * added replicas start fetching at once, outside the ISR; the leader's AlterPartition that
   * brings the last of them in completes it, and the removed ones are stopped.
   */
  reassign(req: { topicId: string; partition: number; replicas: BrokerId[] | null }): Promise<PartitionAssignment> {
    return this.serial(async () => {
      const s = this.states.get(stateKey(req.topicId, req.partition))
      if (!s) throw new EdgelogError('UNKNOWN_TOPIC_OR_PARTITION', `No partition ${req.topicId}/${req.partition}`)
      const plan = planReassignment(s, req.replicas, this.brokers.length)
      await this.save(plan.next)
      return plan
    }).then(async (plan) => {
      await this.push()
      await this.stopReplicas(plan.next, plan.stopped)
      return plan.next
    })
  }

  /** Best effort: a broker that misses it keeps an idle copy (no assignment names it, nothing reads it). */
  private async stopReplicas(a: PartitionAssignment, brokers: BrokerId[]): Promise<void> {
    await Promise.allSettled(brokers.map((b) => this.options.transport.broker(b).stopReplica({ topicId: a.topicId, partition: a.partition })))
  }

  async assignment(req: { topicId: string; partition: number }): Promise<PartitionAssignment | undefined> {
    return this.states.get(stateKey(req.topicId, req.partition))
  }

  async assignments(req: { topicIds?: string[] }): Promise<PartitionAssignment[]> {
    const all = [...this.states.values()]
    return req.topicIds ? all.filter((s) => req.topicIds!.includes(s.topicId)) : all
  }

  /**
   * A leader change without a failure: Kafka's preferred-leader election (`kafka-leader-election
   * --election-type preferred`), or to `to` when given. Only a live ISR member can take over;
   * answers whether the leader moved (false: already there, ELECTION_NOT_NEEDED in Kafka's terms).
   */
  electLeader(req: { topicId: string; partition: number; to?: BrokerId }): Promise<boolean> {
    return this.serial(async () => {
      const s = this.states.get(stateKey(req.topicId, req.partition))
      if (!s) throw new EdgelogError('UNKNOWN_TOPIC_OR_PARTITION', `No partition ${req.topicId}/${req.partition}`)
      const to = req.to ?? s.replicas[0]
      if (to === s.leader) return false
      if (!s.isr.includes(to) || this.fenced.has(to)) {
        throw new EdgelogError('LEADER_NOT_AVAILABLE', `Broker ${to} is not a live in-sync replica of ${s.topic}-${s.partition} (ISR ${JSON.stringify(s.isr)})`)
      }
      await this.save({ ...s, leader: to, leaderEpoch: s.leaderEpoch + 1, partitionEpoch: s.partitionEpoch + 1, unclean: false })
      this.options.events({ kind: 'leader-elected', topic: s.topic, partition: s.partition, leader: to, leaderEpoch: s.leaderEpoch + 1, isr: s.isr })
      return true
    }).then(async (moved) => {
      if (moved) await this.push()
      return moved
    })
  }

  // ── liveness and elections ───────────────────────────────────────────────────────────────

  /** One heartbeat round: fences the silent, unfences the returned, re-sends what brokers lack. */
  async tick(): Promise<void> {
    if (this.closed) return
    const answers = await Promise.all(this.brokers.map((b) => this.options.transport.broker(b).heartbeat().then((r) => r.incarnation, () => undefined)))
    await this.serial(async () => {
      const now = this.now()
      for (const [i, b] of this.brokers.entries()) {
        const incarnation = answers[i]
        if (incarnation !== undefined) {
          this.lastSeen.set(b, now)
          // A restart: whatever it was told before is gone from its memory.
          if (this.incarnations.get(b) !== incarnation) this.delivered.delete(b)
          this.incarnations.set(b, incarnation)
          if (this.fenced.has(b)) await this.unfence(b)
        } else if (!this.fenced.has(b) && now - (this.lastSeen.get(b) ?? 0) > this.sessionTimeoutMs) {
          await this.fence(b)
        }
      }
    })
    await this.push()
  }

  private async fence(b: BrokerId): Promise<void> {
    this.fenced.add(b)
    this.delivered.delete(b)
    for (const s of [...this.states.values()]) {
      if (!s.replicas.includes(b)) continue
      // As KRaft: a fenced broker leaves the ISR, unless it is the last member (it may come back).
      const isr = s.isr.includes(b) && s.isr.length > 1 ? s.isr.filter((r) => r !== b) : s.isr
      let next: PartitionAssignment = { ...s, isr, unclean: false }
      if (s.leader === b) next = this.elect(next)
      if (next.leader === s.leader && next.isr.length === s.isr.length) continue
      await this.save({ ...next, partitionEpoch: s.partitionEpoch + 1 })
      if (next.isr.length !== s.isr.length) this.options.events({ kind: 'isr-changed', topic: s.topic, partition: s.partition, isr: next.isr, leader: next.leader })
    }
  }

  private async unfence(b: BrokerId): Promise<void> {
    this.fenced.delete(b)
    for (const s of [...this.states.values()]) {
      if (s.leader !== -1 || !s.replicas.includes(b)) continue
      const next = this.elect(s)
      if (next.leader !== -1) await this.save({ ...next, partitionEpoch: s.partitionEpoch + 1 })
    }
  }

  /** A new leader (and epoch): the first live ISR member; else, if allowed, any live replica (unclean); else none. */
  private elect(s: PartitionAssignment): PartitionAssignment {
    const live = (r: BrokerId) => !this.fenced.has(r)
    const where = { topic: s.topic, partition: s.partition }
    const clean = s.replicas.find((r) => s.isr.includes(r) && live(r))
    if (clean !== undefined) {
      this.options.events({ kind: 'leader-elected', ...where, leader: clean, leaderEpoch: s.leaderEpoch + 1, isr: s.isr })
      return { ...s, leader: clean, leaderEpoch: s.leaderEpoch + 1, unclean: false }
    }
    const any = s.config['unclean.leader.election.enable'] ? s.replicas.find(live) : undefined
    if (any !== undefined) {
      // The new leader's log is the truth from now on: what only the old ISR had is lost.
      this.options.events({ kind: 'leader-elected', ...where, leader: any, leaderEpoch: s.leaderEpoch + 1, isr: [any] })
      return { ...s, leader: any, leaderEpoch: s.leaderEpoch + 1, isr: [any], unclean: true }
    }
    if (s.leader !== -1) this.options.events({ kind: 'partition-offline', ...where, lastLeader: s.leader })
    return { ...s, leader: -1, leaderEpoch: s.leaderEpoch + 1, unclean: false }
  }

  /** Tells brokers to drop the replicas of deleted topics; those that do not answer are told again next round. */
  private async sendDeletions(): Promise<void> {
    await Promise.all([...this.deletions].flatMap(([topicId, brokers]) => [...brokers].map(async (b) => {
      try {
        await this.options.transport.broker(b).deleteReplicas({ topicId })
        brokers.delete(b)
        if (brokers.size === 0) this.deletions.delete(topicId)
      } catch { /* next round */ }
    })))
  }

  /** Sends every live broker the assignments it has not taken yet (its replicas apply newer ones only). */
  async push(): Promise<void> {
    if (this.closed) return
    if (this.deletions.size > 0) await this.sendDeletions()
    await Promise.all(this.brokers.filter((b) => !this.fenced.has(b)).map(async (b) => {
      const taken = this.delivered.get(b)
      const due = [...this.states.values()].filter((s) => s.replicas.includes(b) && (taken?.get(stateKey(s.topicId, s.partition)) ?? -1) < s.partitionEpoch)
      if (due.length === 0) return
      try {
        await this.options.transport.broker(b).applyAssignments(due)
      } catch {
        return // unreachable, or it failed: the next round sends them again
      }
      const map = this.delivered.get(b) ?? new Map<string, number>()
      for (const s of due) {
        const key = stateKey(s.topicId, s.partition)
        map.set(key, Math.max(map.get(key) ?? -1, s.partitionEpoch))
      }
      this.delivered.set(b, map)
    }))
  }

  close(): void {
    this.closed = true
    clearInterval(this.timer)
  }

  private async save(next: PartitionAssignment): Promise<void> {
    await this.options.storage.commit({ meta: [{ key: stateKey(next.topicId, next.partition), value: next }], durability: 'strict' })
    this.states.set(stateKey(next.topicId, next.partition), next)
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const result = this.queue.then(fn, fn)
    this.queue = result.catch(() => undefined)
    return result
  }
}
