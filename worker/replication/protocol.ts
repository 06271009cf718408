/**
 * The messages between the pieces of edge replication: the Worker and the controller call a
 * replica object (`PartitionObject.replica`), a leader pushes to its followers, replicas and
 * Workers call the controller (`ControllerObject.replication`). All structured-cloneable.
 */
import type { OffsetSpec } from '../../core/broker.ts'
import type {
  AlterPartitionRequest, BrokerId, EpochEndOffset, PartitionAssignment, ReplicaProduceOutcome, ReplicaReadResponse, ReplicaStatus, ReplicationEvent,
} from '../../core/replication/types.ts'
import type { Result } from '../rpc.ts'
import { unwrap } from '../rpc.ts'

/**
 * The leader's push to one follower: Kafka's fetch response, sent without the fetch. `from` is
 * the follower's log end as the leader last heard it; the follower appends only if it matches,
 * and answers its log end either way, which is what the leader sends from next.
 */
export interface PushRequest {
  assignment: PartitionAssignment
  /** OffsetsForLeaderEpoch answered for the follower's latest epoch (KIP-101): sent until the follower has truncated in this leader epoch. */
  epochEnd?: { forEpoch: number; answer: EpochEndOffset }
  /** -1: a probe (learn the follower's log end and latest epoch). */
  from: number
  batches: Uint8Array[]
  highWatermark: number
  logStartOffset: number
  logEndOffset: number
  /** The follower's log end is below the leader's log start (retention went by): start again there. */
  reset?: boolean
  /** The follower's log end is past the leader's: cut it there. */
  truncateTo?: number
}

export interface PushAnswer {
  logEndOffset: number
  latestEpoch: number
  /** The follower has done its KIP-101 truncation for this leader epoch. */
  synced: boolean
}

/** `self` names the replica addressed (its broker id): the object learns who it is from the first call. */
export type ReplicaCall =
  | { op: 'heartbeat' }
  | { op: 'fault'; fault: 'unreachable' | 'isolated' | null }
  | { op: 'assign'; self: BrokerId; assignment: PartitionAssignment }
  | { op: 'produce'; self: BrokerId; assignment: PartitionAssignment; acks: -1 | 0 | 1; batches: Uint8Array[]; timeoutMs: number }
  | { op: 'push'; self: BrokerId; push: PushRequest }
  | { op: 'read'; self: BrokerId; assignment: PartitionAssignment; offset: number; maxBytes: number; maxWaitMs?: number; isolationLevel?: 0 | 1 }
  | { op: 'status'; self: BrokerId; assignment: PartitionAssignment }
  | { op: 'listOffset'; self: BrokerId; assignment: PartitionAssignment; spec: OffsetSpec; isolationLevel?: 0 | 1 }
  /** The transaction coordinator's marker, on the leader; answered once the ISR has it. */
  | { op: 'writeMarker'; self: BrokerId; assignment: PartitionAssignment; marker: { producerId: number; producerEpoch: number; commit: boolean; coordinatorEpoch?: number }; timeoutMs: number }
  /** Kafka's DeleteRecords on the leader (-1: the high watermark); followers follow with the next push. */
  | { op: 'deleteRecords'; self: BrokerId; assignment: PartitionAssignment; offset: number }
  | { op: 'maintain'; self: BrokerId; assignment: PartitionAssignment }
  /** Reassigned away (Kafka's StopReplica with delete): the replica's rows go; assignments up to `partitionEpoch` are refused after. */
  | { op: 'stop'; self: BrokerId; topicId: string; partition: number; partitionEpoch: number }

export interface ReplicaAnswers {
  heartbeat: { ok: true }
  fault: { fault: 'unreachable' | 'isolated' | null }
  assign: ReplicaStatus
  produce: ReplicaProduceOutcome[]
  push: PushAnswer
  read: ReplicaReadResponse
  status: ReplicaStatus & { events: ReplicationEvent[] }
  listOffset: { offset: number; timestamp: number }
  maintain: { deletedSegments: number; compactedSegments: number }
  stop: { ok: true }
  writeMarker: { ok: true }
  deleteRecords: { lowWatermark: number }
}

export type ControllerCall =
  | { op: 'alterPartition'; req: AlterPartitionRequest }
  | { op: 'assignment'; topicId: string; partition: number }
  /** A Worker (or a replica) could not reach `leader`: the controller checks and elects (or brings an offline partition back). */
  | { op: 'leaderUnreachable'; topicId: string; partition: number; leader: BrokerId; leaderEpoch: number }
  /** Kafka's preferred-leader election: the first replica leads, if it is an ISR member that answers. */
  | { op: 'electPreferred'; topicId: string; partition: number }
  /** Kafka's AlterPartitionReassignments for one partition; `replicas: null` cancels the one in progress. */
  | { op: 'reassign'; topicId: string; partition: number; replicas: BrokerId[] | null }

export interface ControllerAnswers {
  alterPartition: PartitionAssignment
  assignment: PartitionAssignment | undefined
  leaderUnreachable: PartitionAssignment
  electPreferred: PartitionAssignment
  reassign: PartitionAssignment
}

type ReplicaRpc = { replica(call: ReplicaCall): Promise<Result<unknown>> }
type ControllerRpcStub = { replication(call: ControllerCall): Promise<Result<unknown>> }

/** One call to a replica object, typed by its op; errors come back as EdgelogErrors (rpc.ts). */
export function callReplica<C extends ReplicaCall>(stub: unknown, call: C): Promise<ReplicaAnswers[C['op']]> {
  return unwrap((stub as ReplicaRpc).replica(call)) as Promise<ReplicaAnswers[C['op']]>
}

export function callController<C extends ControllerCall>(stub: unknown, call: C): Promise<ControllerAnswers[C['op']]> {
  return unwrap((stub as ControllerRpcStub).replication(call)) as Promise<ControllerAnswers[C['op']]>
}
