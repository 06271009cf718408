/**
 * Kafka's partition reassignment (KIP-455) as a controller plans it, without I/O (the edge's
 * worker/replication/controller-state.ts and the in-process Controller): a new
 * replica list first ADDS the new replicas to the old ones (`replicas` = target then removing,
 * `adding` and `removing` recorded); the added ones copy the leader's log, and once every
 * added replica is in the ISR (the leader's AlterPartition says so), the reassignment completes:
 * `replicas` becomes the target, the ISR loses the removed ones, and a leader that was removed
 * hands over to the first in-sync replica of the target (leader epoch + 1). The removed replicas
 * are stopped then. No acknowledged record is lost: a replica leaves only after the new ones
 * hold everything the ISR holds.
 */
import { EdgelogError } from '../errors.ts'
import type { BrokerId, PartitionAssignment } from './types.ts'

export interface Reassignment {
  next: PartitionAssignment
  /** Replicas no longer in `next.replicas`: their objects are stopped (rows deleted). */
  stopped: BrokerId[]
}

/** The replicas before any reassignment in progress. */
export function originalReplicas(s: PartitionAssignment): BrokerId[] {
  return s.replicas.filter((r) => !(s.adding ?? []).includes(r))
}

/** Checks a target replica list (Kafka's INVALID_REPLICA_ASSIGNMENT): non-empty, distinct, known brokers. */
export function checkTarget(target: unknown, brokers: number, where: string): BrokerId[] {
  if (!Array.isArray(target) || target.length === 0 || target.some((b) => !Number.isInteger(b) || b < 0 || b >= brokers) || new Set(target).size !== target.length) {
    throw new EdgelogError('INVALID_REPLICA_ASSIGNMENT', `${where}: replicas must be distinct broker ids from 0 to ${brokers - 1}, got ${JSON.stringify(target)}`)
  }
  return target as BrokerId[]
}

/**
 * A new target (or `null`: cancel, back to the original replicas). A target replaces one in
 * progress, as in Kafka: replicas that were being added and are not in the new target go.
 */
export function planReassignment(s: PartitionAssignment, target: BrokerId[] | null, brokers: number): Reassignment {
  const where = `${s.topic}-${s.partition}`
  const original = originalReplicas(s)
  if (target === null) {
    if (!s.adding?.length && !s.removing?.length) throw new EdgelogError('NO_REASSIGNMENT_IN_PROGRESS', `${where} has no reassignment in progress`)
    target = original
  }
  const wanted = checkTarget(target, brokers, where)
  const adding = wanted.filter((r) => !original.includes(r))
  const removing = original.filter((r) => !wanted.includes(r))
  const replicas = [...wanted, ...removing]
  const stopped = s.replicas.filter((r) => !replicas.includes(r))
  if (stopped.includes(s.leader)) {
    // Only a preferred-leader election can have made a replica being added lead: let it finish first.
    throw new EdgelogError('INVALID_REPLICA_ASSIGNMENT', `${where}: replica ${s.leader} leads and would be dropped; reassign so that it stays until the reassignment in progress completes`)
  }
  const isr = s.isr.filter((r) => replicas.includes(r))
  const base: PartitionAssignment = { ...s, replicas, isr, partitionEpoch: s.partitionEpoch + 1, unclean: false }
  delete base.adding
  delete base.removing
  const moving = adding.length > 0 || removing.length > 0 ? { ...base, adding, removing } : base
  const done = completeIfCaughtUp(moving)
  return { next: done ?? moving, stopped: done ? [...stopped, ...removing] : stopped }
}

/**
 * The reassignment completed if every replica being added is in the ISR: the target replicas,
 * the ISR without the removed ones, and a new leader (epoch + 1) if the old one was removed.
 * Undefined while some added replica is still catching up (or no target replica is in sync).
 */
export function completeIfCaughtUp(s: PartitionAssignment): PartitionAssignment | undefined {
  const adding = s.adding ?? []
  const removing = s.removing ?? []
  if (adding.length === 0 && removing.length === 0) return undefined
  if (!adding.every((r) => s.isr.includes(r))) return undefined
  const replicas = s.replicas.filter((r) => !removing.includes(r))
  const isr = s.isr.filter((r) => replicas.includes(r))
  if (isr.length === 0) return undefined
  const next: PartitionAssignment = { ...s, replicas, isr }
  delete next.adding
  delete next.removing
  if (s.leader >= 0 && replicas.includes(s.leader)) return next
  // The leader was removed (or none leads): the first in-sync replica of the target takes over.
  const leader = replicas.find((r) => isr.includes(r))!
  return { ...next, leader, leaderEpoch: s.leaderEpoch + 1 }
}
