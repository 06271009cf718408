/**
 * The controller's part of edge replication, run inside the ControllerObject: each replicated
 * partition's assignment (replicas, leader, leader epoch, ISR, partition epoch) under
 * `edge/assign/<topicId>/<p>`; ISR changes from the current leader only (Kafka's
 * AlterPartition, as core/replication/controller.ts); and elections. Sleeping objects cannot be
 * heartbeaten cheaply, so the controller does not watch replicas: an election starts when a
 * Worker reports the leader unreachable, and the controller then probes the leader itself
 * before electing the first reachable ISR member (or, with unclean.leader.election.enable, any
 * reachable replica; else the partition goes offline until an ISR member answers).
 */
import { EdgelogError } from '../../core/errors.ts'
import type { TopicConfig } from '../../core/config.ts'
import type { TopicRecord } from '../../core/log/topic-registry.ts'
import type { AlterPartitionRequest, BrokerId, PartitionAssignment } from '../../core/replication/types.ts'
import type { SqliteStorage } from '../../adapters/durable-object/index.ts'
import type { EdgelogEnv } from '../env.ts'
import { replicaLocations, replicaName, replicasFor, replicaStub, streamOf } from './placement.ts'
import { callReplica, type ControllerCall } from './protocol.ts'
import { completeIfCaughtUp, planReassignment } from '../../core/replication/reassign.ts'

const PREFIX = 'edge/assign/'
const key = (topicId: string, partition: number) => `${PREFIX}${topicId}/${partition}`
const PROBE_TIMEOUT_MS = 5_000
/** A replica reassigned away that could not be stopped: retried from the controller's alarm. */
interface PendingStop { topicId: string; partition: number; broker: BrokerId; partitionEpoch: number }
const STOP_PREFIX = 'edge/stop/'
const stopKey = (p: PendingStop) => `${STOP_PREFIX}${p.topicId}/${p.partition}/${p.broker}`
const STOP_RETRY_MS = 10_000

export class ReplicationController {
  private queue: Promise<unknown> = Promise.resolve()

  /** `retryAt`: arms the controller object's alarm (no later than `at`), for stops that failed. */
  constructor(private readonly storage: SqliteStorage, private readonly env: EdgelogEnv, private readonly retryAt: (at: number) => Promise<void> = async () => {}) {}

  /** The brokers (regions) a replica may go to: the registry's bound on the replication factor. */
  get brokers(): number {
    try {
      return replicaLocations(this.env).length
    } catch (error) {
      // A bad variable must not take unreplicated topics down: replication is off (factor 1 only) and says why.
      console.error(String(error))
      return 1
    }
  }

  handle(call: ControllerCall): Promise<unknown> {
    switch (call?.op) {
      case 'alterPartition': return this.alterPartition(call.req)
      case 'assignment': return this.storage.getMeta<PartitionAssignment>(key(call.topicId, call.partition))
      case 'leaderUnreachable': return this.leaderUnreachable(call)
      case 'electPreferred': return this.electPreferred(call)
      case 'reassign': return this.reassign(call)
      default: throw new EdgelogError('INVALID_REQUEST', `Unknown controller call ${JSON.stringify((call as { op?: unknown })?.op)}`)
    }
  }

  /** Replicas round-robin over the regions for partitions without an assignment; the first leads at epoch 0. No replica is called: they learn it on first use. */
  assign(record: TopicRecord): Promise<void> {
    const rf = record.replicationFactor ?? 1
    if (rf <= 1) return Promise.resolve()
    return this.serial(async () => {
      // Partitions added since: those without an assignment yet.
      const from = (await this.assignments(record.topicId)).length
      const meta = []
      for (let p = from; p < record.partitions; p++) {
        const replicas = replicasFor(p, rf, this.brokers)
        const a: PartitionAssignment = {
          topic: record.name, topicId: record.topicId, partition: p, replicas, leader: replicas[0], leaderEpoch: 0, isr: replicas, partitionEpoch: 0, config: record.config,
        }
        meta.push({ key: key(record.topicId, p), value: a })
      }
      await this.storage.commit({ meta, durability: 'strict' })
    })
  }

  /**
   * A replicated topic's assignments, made first for partitions that lack one: a topic
   * auto-created with default.replication.factor > 1, or a controller stopped between the
   * topic's commit and its assignments' (no Worker can reach a partition before this ran).
   */
  async assignmentsOf(record: TopicRecord): Promise<PartitionAssignment[]> {
    const found = await this.assignments(record.topicId)
    if (found.length >= record.partitions) return found
    await this.assign(record)
    return this.assignments(record.topicId)
  }

  async assignments(topicId: string): Promise<PartitionAssignment[]> {
    return (await this.storage.listMeta<PartitionAssignment>(`${PREFIX}${topicId}/`)).map((e) => e.value).sort((a, b) => a.partition - b.partition)
  }

  /** A new topic config reaches the assignments (min.insync.replicas, unclean.leader.election.enable) and, at once, the leaders. */
  async configChanged(topicId: string, config: TopicConfig): Promise<void> {
    const changed = await this.serial(async () => {
      const next = (await this.assignments(topicId)).map((a) => ({ ...a, config, partitionEpoch: a.partitionEpoch + 1 }))
      if (next.length > 0) await this.storage.commit({ meta: next.map((a) => ({ key: key(a.topicId, a.partition), value: a })), durability: 'strict' })
      return next
    })
    await Promise.allSettled(changed.filter((a) => a.leader >= 0).map((a) => this.tell(a.leader, a)))
  }

  /** The replica objects of a topic being deleted (names and streams), and their assignments removed after. */
  async replicaObjects(topicId: string): Promise<Array<{ name: string; stream: string; broker: BrokerId }>> {
    return (await this.assignments(topicId)).flatMap((a) => a.replicas.map((b) => ({ name: replicaName(streamOf(a), b), stream: streamOf(a), broker: b })))
  }

  async forget(topicId: string): Promise<void> {
    await this.storage.commit({ meta: [], deleteMetaPrefixes: [`${PREFIX}${topicId}/`] })
  }

  private async alterPartition(req: AlterPartitionRequest): Promise<PartitionAssignment> {
    let before: PartitionAssignment | undefined
    const next = await this.serial(async () => {
      const s = before = await this.storage.getMeta<PartitionAssignment>(key(req?.topicId, req?.partition))
      if (!s) throw new EdgelogError('UNKNOWN_TOPIC_OR_PARTITION', `No replicated partition ${req?.topicId}/${req?.partition}`)
      if (req.leader !== s.leader || req.leaderEpoch !== s.leaderEpoch) {
        throw new EdgelogError('FENCED_LEADER_EPOCH', `Replica ${req.leader} at epoch ${req.leaderEpoch} is not the leader of ${s.topic}-${s.partition} (replica ${s.leader}, epoch ${s.leaderEpoch})`)
      }
      if (req.partitionEpoch !== s.partitionEpoch) {
        throw new EdgelogError('INVALID_UPDATE_VERSION', `${s.topic}-${s.partition} is at partition epoch ${s.partitionEpoch}, not ${req.partitionEpoch}`)
      }
      if (!Array.isArray(req.isr) || !req.isr.includes(s.leader) || req.isr.some((r) => !s.replicas.includes(r))) {
        throw new EdgelogError('INVALID_REQUEST', `ISR ${JSON.stringify(req.isr)} is not eligible for ${s.topic}-${s.partition}`)
      }
      const grown = { ...s, isr: s.replicas.filter((r) => req.isr.includes(r)), partitionEpoch: s.partitionEpoch + 1, unclean: false }
      // The replicas being added are all in sync now: the reassignment completes in the same step (KIP-455).
      const next = completeIfCaughtUp(grown) ?? grown
      await this.save(next)
      return next
    })
    if (before && before.replicas.length !== next.replicas.length) await this.applied(before, next, before.replicas.filter((r) => !next.replicas.includes(r)))
    return next
  }

  /**
   * Kafka's preferred-leader election (kafka-leader-election --election-type PREFERRED): the
   * first replica leads at epoch + 1 if it is in the ISR and answers; ELECTION_NOT_NEEDED if it
   * leads already, PREFERRED_LEADER_NOT_AVAILABLE otherwise. The old leader is told at once, so
   * it stops answering acks=1 writes (its pending acks=all ones fail, and clients retry).
   */
  private async electPreferred(req: { topicId: string; partition: number }): Promise<PartitionAssignment> {
    let before: PartitionAssignment | undefined
    const next = await this.serial(async () => {
      const s = before = await this.storage.getMeta<PartitionAssignment>(key(req?.topicId, req?.partition))
      if (!s) throw new EdgelogError('UNKNOWN_TOPIC_OR_PARTITION', `No replicated partition ${req?.topicId}/${req?.partition}`)
      const to = s.replicas[0]
      if (to === s.leader) throw new EdgelogError('ELECTION_NOT_NEEDED', `${s.topic}-${s.partition}: the preferred replica ${to} leads already`)
      if (!s.isr.includes(to) || !(await this.alive(s, to))) {
        throw new EdgelogError('PREFERRED_LEADER_NOT_AVAILABLE', `${s.topic}-${s.partition}: the preferred replica ${to} is not a reachable in-sync replica (ISR ${JSON.stringify(s.isr)})`)
      }
      const a: PartitionAssignment = { ...s, leader: to, leaderEpoch: s.leaderEpoch + 1, partitionEpoch: s.partitionEpoch + 1, unclean: false }
      await this.save(a)
      return a
    })
    await this.applied(before!, next, [])
    return next
  }

  /** Kafka's AlterPartitionReassignments for one partition (reassign.ts); the leader starts copying to the added replicas at once. */
  private async reassign(req: { topicId: string; partition: number; replicas: BrokerId[] | null }): Promise<PartitionAssignment> {
    let before: PartitionAssignment | undefined
    const plan = await this.serial(async () => {
      const s = before = await this.storage.getMeta<PartitionAssignment>(key(req?.topicId, req?.partition))
      if (!s) throw new EdgelogError('UNKNOWN_TOPIC_OR_PARTITION', `No replicated partition ${req?.topicId}/${req?.partition}`)
      const p = planReassignment(s, req.replicas, this.brokers)
      await this.save(p.next)
      return p
    })
    await this.applied(before!, plan.next, plan.stopped)
    return plan.next
  }

  /**
   * After a saved decision: the leader (new or not) and a deposed leader take it now, the others
   * from the leader's pushes; replicas reassigned away are stopped. A stop that fails is
   * remembered and retried from the controller's alarm (meanwhile that replica serves nothing:
   * no assignment names it).
   */
  private async applied(before: PartitionAssignment, next: PartitionAssignment, stopped: BrokerId[]): Promise<void> {
    const told = new Set([next.leader, before.leader].filter((b) => b >= 0))
    await Promise.allSettled([...told].map((b) => this.tell(b, next)))
    const stops = stopped.map((broker): PendingStop => ({ topicId: next.topicId, partition: next.partition, broker, partitionEpoch: next.partitionEpoch }))
    const failed = (await Promise.all(stops.map(async (p) => ((await this.stop(p)) ? undefined : p)))).filter((p) => p !== undefined)
    if (failed.length === 0) return
    await this.storage.commit({ meta: failed.map((p) => ({ key: stopKey(p), value: p })) })
    await this.retryAt(Date.now() + STOP_RETRY_MS)
  }

  /** The controller object's alarm: stops that failed before, again; those still failing stay for the next alarm. */
  async retryStops(): Promise<void> {
    const pending = await this.storage.listMeta<PendingStop>(STOP_PREFIX)
    if (pending.length === 0) return
    const done = (await Promise.all(pending.map(async ({ key, value }) => ((await this.stop(value)) ? key : undefined)))).filter((k) => k !== undefined)
    if (done.length > 0) await this.storage.commit({ meta: done.map((key) => ({ key, value: undefined })) })
    if (done.length < pending.length) await this.retryAt(Date.now() + STOP_RETRY_MS)
  }

  private async stop(p: PendingStop): Promise<boolean> {
    return callReplica(replicaStub(this.env, `${p.topicId}/${p.partition}`, p.broker), { op: 'stop', self: p.broker, topicId: p.topicId, partition: p.partition, partitionEpoch: p.partitionEpoch })
      .then(() => true, () => false)
  }

  /**
   * The leader could not be reached by a Worker. The controller probes it; if it answers,
   * nothing changes. If not: the first reachable ISR member leads at epoch + 1 (the old leader
   * leaves the ISR, as a fenced broker does in KRaft, unless it is the last member); with none,
   * an unclean election if the topic allows it, else the partition is offline (leader -1) until
   * the next report finds an ISR member back.
   */
  private leaderUnreachable(req: { topicId: string; partition: number; leader: BrokerId; leaderEpoch: number }): Promise<PartitionAssignment> {
    return this.serial(async () => {
      const s = await this.storage.getMeta<PartitionAssignment>(key(req.topicId, req.partition))
      if (!s) throw new EdgelogError('UNKNOWN_TOPIC_OR_PARTITION', `No replicated partition ${req.topicId}/${req.partition}`)
      // Already decided since the Worker's view, or the leader answers us: nothing to do.
      if (s.leaderEpoch !== req.leaderEpoch && s.leader >= 0) return s
      if (s.leader >= 0 && await this.alive(s, s.leader)) return s
      const dead = s.leader
      const isr = dead >= 0 && s.isr.length > 1 ? s.isr.filter((r) => r !== dead) : s.isr
      let next: PartitionAssignment | undefined
      for (const r of s.replicas) {
        if (r !== dead && isr.includes(r) && await this.alive(s, r)) {
          next = { ...s, leader: r, isr, unclean: false }
          break
        }
      }
      if (!next && s.config['unclean.leader.election.enable']) {
        for (const r of s.replicas) {
          if (r !== dead && await this.alive(s, r)) {
            // Its log is the truth from now on: what only the old ISR had is lost (the replica reports it).
            next = { ...s, leader: r, isr: [r], unclean: true }
            break
          }
        }
      }
      next ??= { ...s, leader: -1, isr, unclean: false }
      if (next.leader === s.leader && next.isr.length === s.isr.length) return s
      next = { ...next, leaderEpoch: s.leaderEpoch + (next.leader === s.leader ? 0 : 1), partitionEpoch: s.partitionEpoch + 1 }
      await this.save(next)
      // The new leader takes over now; the others learn it from its pushes (the old one when it is back).
      if (next.leader >= 0) await this.tell(next.leader, next).catch(() => undefined)
      return next
    })
  }

  private async alive(a: PartitionAssignment, broker: BrokerId): Promise<boolean> {
    let timer: ReturnType<typeof setTimeout> | undefined
    try {
      await Promise.race([
        callReplica(replicaStub(this.env, streamOf(a), broker), { op: 'heartbeat' }),
        new Promise((_, reject) => { timer = setTimeout(() => reject(new Error('probe timed out')), PROBE_TIMEOUT_MS) }),
      ])
      return true
    } catch {
      return false
    } finally {
      if (timer !== undefined) clearTimeout(timer)
    }
  }

  private tell(broker: BrokerId, a: PartitionAssignment) {
    return callReplica(replicaStub(this.env, streamOf(a), broker), { op: 'assign', self: broker, assignment: a })
  }

  private save(a: PartitionAssignment): Promise<void> {
    return this.storage.commit({ meta: [{ key: key(a.topicId, a.partition), value: a }], durability: 'strict' })
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const result = this.queue.then(fn, fn)
    this.queue = result.catch(() => undefined)
    return result
  }
}
