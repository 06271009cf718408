/**
 * The replication protocol's messages and the transport it runs over. The protocol code
 * (replica.ts, fetcher.ts, controller.ts) only ever talks to other nodes through `Transport`:
 * in process a simulated network (sim-network.ts) delivers the calls, with stops, cuts and
 * delays; at the edge each call will be a Durable Object RPC. Every message is
 * structured-cloneable (Uint8Array aside), so it crosses either boundary unchanged.
 */
import type { ErrorCode } from '../errors.ts'
import type { TopicConfig } from '../config.ts'
import type { SegmentInfo } from '../broker.ts'

export type BrokerId = number

/**
 * What the controller decided for one partition (Kafka's LeaderAndIsr / PartitionRecord).
 * `leaderEpoch` moves on every leader change; `partitionEpoch` on every change at all (ISR too).
 */
export interface PartitionAssignment {
  topic: string
  topicId: string
  partition: number
  replicas: BrokerId[]
  /** -1: no leader (offline). */
  leader: BrokerId
  leaderEpoch: number
  isr: BrokerId[]
  partitionEpoch: number
  config: TopicConfig
  /** The leader was elected from outside the ISR (unclean.leader.election.enable): records may be lost. */
  unclean?: boolean
  /** A reassignment in progress (Kafka's addingReplicas/removingReplicas): `replicas` holds both until the adding ones are in the ISR. */
  adding?: BrokerId[]
  removing?: BrokerId[]
}

/** A follower's fetch from its leader (Kafka's Fetch with a replica id). */
export interface ReplicaFetchRequest {
  topicId: string
  partition: number
  replicaId: BrokerId
  /** The epoch the follower believes is current: the leader fences a mismatch. */
  leaderEpoch: number
  /** The follower's log end offset: everything below it is on the follower. */
  fetchOffset: number
  maxBytes: number
  maxWaitMs: number
}

export interface ReplicaFetchResponse {
  batches: Uint8Array[]
  highWatermark: number
  logStartOffset: number
  logEndOffset: number
  /** The fetch offset is outside the leader's log: the follower resets or truncates. */
  outOfRange?: boolean
}

/** KIP-101's OffsetsForLeaderEpoch: where does epoch `epoch` end in the leader's log? */
export interface EpochEndOffsetRequest {
  topicId: string
  partition: number
  /** The asker's current epoch (fencing, as in Kafka's request). */
  leaderEpoch: number
  /** The asker's latest epoch. */
  epoch: number
}

export interface EpochEndOffset {
  /** The largest epoch ≤ the one asked the leader knows (-1: none). */
  epoch: number
  /** The start offset of the next epoch after it in the leader's log, or its log end. */
  endOffset: number
}

export interface ReplicaProduceRequest {
  topicId: string
  partition: number
  acks: -1 | 0 | 1
  batches: Uint8Array[]
  /** How long acks=all waits for the ISR (Kafka's produce timeout). */
  timeoutMs: number
}

/** Per batch: its base offset, or the typed error that refused or failed it. */
export type ReplicaProduceOutcome =
  | { baseOffset: number; logAppendTime: number; logStartOffset: number }
  | { error: { code: ErrorCode; message: string } }

export interface ReplicaReadRequest {
  topicId: string
  partition: number
  offset: number
  maxBytes: number
  maxWaitMs?: number
  /** 1: read_committed, up to min(high watermark, last stable offset), with the aborted transactions. */
  isolationLevel?: 0 | 1
}

export interface ReplicaReadResponse {
  batches: Uint8Array[]
  highWatermark: number
  logStartOffset: number
  /** read_committed only. */
  lastStableOffset?: number
  abortedTransactions?: Array<{ producerId: number; firstOffset: number }>
}

export interface ReplicaStatus {
  broker: BrokerId
  role: 'leader' | 'follower' | 'none'
  leaderEpoch: number
  logStartOffset: number
  logEndOffset: number
  highWatermark: number
  sizeBytes: number
  segments: SegmentInfo[]
  /** Kept by the leader only: what it knows of each follower. */
  followers?: Array<{ broker: BrokerId; logEndOffset: number; lastCaughtUpMs: number }>
}

/** What a broker answers to its peers, the controller and clients. */
export interface BrokerRpc {
  /** The controller's liveness probe; `incarnation` changes when the broker restarts. */
  heartbeat(): Promise<{ incarnation: string }>
  /** The controller's decisions (Kafka's LeaderAndIsr request). */
  applyAssignments(assignments: PartitionAssignment[]): Promise<void>
  replicaFetch(req: ReplicaFetchRequest): Promise<ReplicaFetchResponse>
  epochEndOffset(req: EpochEndOffsetRequest): Promise<EpochEndOffset>
  produce(req: ReplicaProduceRequest): Promise<ReplicaProduceOutcome[]>
  read(req: ReplicaReadRequest): Promise<ReplicaReadResponse>
  status(req: { topicId: string; partition: number }): Promise<ReplicaStatus>
  /** ListOffsets on the leader, capped at the high watermark. */
  listOffset(req: { topicId: string; partition: number; spec: 'earliest' | 'latest' | { timestamp: number } }): Promise<{ offset: number; timestamp: number }>
  /** Retention and compaction of every replica here. */
  maintain(): Promise<void>
  /** The topic was deleted: its replicas here stop and their data goes (Kafka's StopReplica with delete). */
  deleteReplicas(req: { topicId: string }): Promise<void>
  /** Reassigned away (Kafka's StopReplica with delete): this partition's replica here stops and its data goes. */
  stopReplica(req: { topicId: string; partition: number }): Promise<void>
}

/** Kafka's AlterPartition: the leader's ISR change, applied only if the controller agrees. */
export interface AlterPartitionRequest {
  topicId: string
  partition: number
  leader: BrokerId
  leaderEpoch: number
  partitionEpoch: number
  isr: BrokerId[]
}

/** What brokers ask the controller. */
export interface ControllerRpc {
  alterPartition(req: AlterPartitionRequest): Promise<PartitionAssignment>
  assignment(req: { topicId: string; partition: number }): Promise<PartitionAssignment | undefined>
  assignments(req: { topicIds?: string[] }): Promise<PartitionAssignment[]>
}

/** How one node reaches the others. Every call may fail with NETWORK_EXCEPTION (unreachable, or the answer lost). */
export interface Transport {
  broker(id: BrokerId): BrokerRpc
  controller(): ControllerRpc
}

/** Never silent: what replication did that a reader of the log must know about. */
export type ReplicationEvent =
  | { kind: 'leader-elected'; topic: string; partition: number; leader: BrokerId; leaderEpoch: number; isr: BrokerId[] }
  | { kind: 'partition-offline'; topic: string; partition: number; lastLeader: BrokerId }
  /**
   * A leader from outside the ISR. Its log is the truth from `startOffset` (its log end) on; it
   * may have diverged from the old ISR's anywhere past `highWatermark` (what it knew committed):
   * acknowledged records past that offset may be gone.
   */
  | { kind: 'unclean-leader-election'; topic: string; partition: number; leader: BrokerId; leaderEpoch: number; startOffset: number; highWatermark: number }
  | { kind: 'isr-changed'; topic: string; partition: number; isr: BrokerId[]; leader: BrokerId }
  /** A replica truncated records it had counted as committed (below its high watermark): only after an unclean election. */
  | { kind: 'committed-records-truncated'; topic: string; partition: number; broker: BrokerId; from: number; highWatermark: number; records: number }
  | { kind: 'truncated'; topic: string; partition: number; broker: BrokerId; from: number; records: number }

export type EventSink = (event: ReplicationEvent) => void

export const replicationKey = (stream: string) => `replication/${stream}`
