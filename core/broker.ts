/**
 * The broker protocol: what a client (producer, consumer, admin) asks of the log. It plays
 * the part of Kafka's wire protocol. Every request and response is structured-cloneable and
 * JSON-friendly (Uint8Array aside), so the same interface is served
 *   - in process by `LocalBroker` (core over a storage adapter),
 *   - across a Web Worker boundary by comlink (adapters/indexeddb),
 *   - over HTTP by the Worker and `edgelog/http`.
 * The KafkaJS-shaped client (core/client) is written once against this interface.
 *
 * Offsets are JS numbers here (exact up to 2^53); the KafkaJS-shaped surface shows them as
 * decimal strings.
 */
import type { ErrorCode } from './errors.ts'
import type { TopicConfig } from './config.ts'
import type { SyncState } from './sync/view.ts'
import type { DeadLetter, PendingRecord } from './sync/outbox.ts'

export interface TopicSpec {
  topic: string
  numPartitions?: number
  replicationFactor?: number
  /** Kafka's config names: retention.ms, cleanup.policy, … (values as strings or numbers). */
  configEntries?: Array<{ name: string; value: string }>
}

export interface PartitionInfo {
  partitionId: number
  /** 0 for a single broker's log; a replicated cluster's current leader (-1: none). */
  leader: number
  replicas: number[]
  isr: number[]
  offlineReplicas: number[]
  partitionErrorCode: number
}

export interface TopicMetadata {
  name: string
  topicId: string
  partitions: PartitionInfo[]
  config: TopicConfig
}

export interface SegmentInfo {
  baseOffset: number
  /** Offset after the segment's last record. */
  endOffset: number
  sizeBytes: number
  batches: number
  createdAt: number
  maxTimestamp: number
}

export interface PartitionState {
  partition: number
  logStartOffset: number
  highWatermark: number
  sizeBytes: number
  segments: SegmentInfo[]
  /** A replicated cluster's view (core/replication): Kafka's Leader, Replicas, Isr of `kafka-topics --describe`. */
  leader?: number
  leaderEpoch?: number
  replicas?: number[]
  isr?: number[]
  offlineReplicas?: number[]
}

export interface ProduceEntry {
  topic: string
  partition: number
  /**
   * One Kafka RecordBatch v2 (baseOffset ignored: the log assigns offsets). The broker takes
   * the bytes over: it writes the assigned base offset into them in place.
   */
  batch: Uint8Array
}

export interface ProduceRequest {
  /** -1 (all): durable before the answer; 1: the store's default; 0: no answer awaited. */
  acks: -1 | 0 | 1
  entries: ProduceEntry[]
  /** Kafka's transactional_id: a transactional producer's batches are checked with its coordinator. */
  transactionalId?: string | null
}

export interface ProduceResult {
  topic: string
  partition: number
  errorCode: number
  /** Kafka's error name when errorCode is not 0. */
  error?: { code: ErrorCode; message: string }
  baseOffset: number
  logAppendTime: number
  logStartOffset: number
  /**
   * Written to a followed topic's outbox (the browser following the edge): durable here, not yet
   * at the leader; `baseOffset` is -1 until the leader stores it (see the client's `sync`).
   */
  pending?: { outboxOffset: number }
}

export interface FetchRequest {
  topic: string
  partition: number
  offset: number
  /** Bytes to aim for; the first batch is returned whatever its size. */
  maxBytes: number
  /** Wait up to this long for `minBytes` to be available (long poll). 0: answer now. */
  maxWaitMs?: number
  minBytes?: number
  /**
   * Kafka's isolation_level: 0 read_uncommitted (the default: up to the high watermark), 1
   * read_committed (up to the last stable offset, with the aborted transactions in the range).
   */
  isolationLevel?: 0 | 1
  /** Kafka's rack_id (KIP-392, the consumer's client.rack): a replicated cluster may answer from a replica in that rack. */
  rackId?: string | null
}

export interface FetchResult {
  topic: string
  /** The id of the topic answering (a follower checks it: a topic created again has another). */
  topicId?: string
  partition: number
  highWatermark: number
  logStartOffset: number
  /**
   * Whole record batches as stored, in offset order (the first may start before `offset`).
   * In process these are the stored bytes themselves (zero-copy): readers must not mutate them.
   */
  batches: Uint8Array[]
  /** The first offset of the oldest ongoing transaction, else the high watermark. */
  lastStableOffset?: number
  /**
   * read_committed: the aborted transactions overlapping the batches returned, by first offset
   * (Kafka's FetchResponse aborted_transactions). A reader drops those producers' transactional
   * records from `firstOffset` until their abort marker.
   */
  abortedTransactions?: Array<{ producerId: number; firstOffset: number }>
}

export interface FetchOptions {
  signal?: AbortSignal
}

export type OffsetSpec = 'earliest' | 'latest' | { timestamp: number }

export interface ListOffsetsResult {
  topic: string
  partition: number
  /** -1 when no record has a timestamp at or after the one asked for. */
  offset: number
  timestamp: number
}

/** Kafka's InitProducerId: with a transactionalId, the transaction coordinator's (core/txn). */
export interface InitProducerIdRequest {
  transactionalId?: string | null
  /** Kafka's transaction.timeout.ms (KafkaJS's `transactionTimeout`): an ongoing transaction older than this is aborted. */
  transactionTimeoutMs?: number
  /** The producer's current id and epoch, when it asks for its epoch to be bumped (KIP-360). */
  producerId?: number
  producerEpoch?: number
}

/** A transaction's producer: every transactional request carries it; an older epoch is fenced. */
export interface TxnProducer {
  transactionalId: string
  producerId: number
  producerEpoch: number
}

export interface InitProducerIdResult {
  producerId: number
  producerEpoch: number
}

export interface OffsetCommit {
  topic: string
  partition: number
  offset: number
  metadata?: string | null
}

export interface CommittedOffset {
  topic: string
  partition: number
  /** -1 when the group has committed nothing for the partition. */
  offset: number
  metadata: string | null
}

export interface TopicPartitions {
  topic: string
  partitions: number[]
}

/**
 * KIP-848's ConsumerGroupHeartbeat: one request joins, heartbeats, acknowledges revocations
 * and leaves. The coordinator computes assignments itself (server-side assignor).
 */
export interface GroupHeartbeatRequest {
  groupId: string
  /** Empty on the first heartbeat: the coordinator assigns one. */
  memberId: string
  /** 0 to join, -1 to leave, -2 to leave temporarily (static member), else the current epoch. */
  memberEpoch: number
  instanceId?: string | null
  clientId?: string
  rackId?: string | null
  rebalanceTimeoutMs?: number
  sessionTimeoutMs?: number
  /** Sent when it changes (null: unchanged). */
  subscribedTopicNames?: string[] | null
  /** A regular expression's source, as an alternative to names. */
  subscribedTopicRegex?: string | null
  /** Assignor names in order of preference: 'range' | 'roundrobin' | 'cooperative-sticky'. */
  serverAssignors?: string[] | null
  /** What the member owns now; it acknowledges revocations. null: unchanged. */
  topicPartitions?: TopicPartitions[] | null
}

export interface GroupHeartbeatResponse {
  memberId: string
  memberEpoch: number
  heartbeatIntervalMs: number
  /** The member's target assignment now (null: unchanged since the last response). */
  assignment: TopicPartitions[] | null
}

export interface GroupMemberDescription {
  memberId: string
  instanceId: string | null
  clientId: string
  clientHost: string
  memberEpoch: number
  subscribedTopicNames: string[]
  assignment: TopicPartitions[]
}

export interface GroupDescription {
  groupId: string
  /** Empty, Stable, PreparingRebalance/Reconciling, Dead. */
  state: string
  protocolType: 'consumer'
  /** The assignor in use. */
  protocol: string
  groupEpoch: number
  members: GroupMemberDescription[]
}

export interface GroupOffsetsWithLag {
  topic: string
  partition: number
  offset: number
  metadata: string | null
  highWatermark: number
  lag: number
}

export interface DeleteRecordsResult {
  topic: string
  partition: number
  /** The partition's log start offset after the request (Kafka's low watermark); -1 on error. */
  lowWatermark: number
  errorCode: number
  error?: { code: ErrorCode; message: string }
}

/** A reassignment in progress (KafkaJS listPartitionReassignments, Kafka's ListPartitionReassignments). */
export interface PartitionReassignment {
  topic: string
  partition: number
  replicas: number[]
  addingReplicas: number[]
  removingReplicas: number[]
}

/** One partition's answer to a leader election or a reassignment (Kafka's per-partition error). */
export interface PartitionResult {
  topic: string
  partition: number
  errorCode: number
  error?: { code: ErrorCode; message: string }
}

export interface ClusterInfo {
  clusterId: string
  brokers: Array<{ nodeId: number; host: string; port: number }>
  controller: number
}

export interface Broker {
  describeCluster(): Promise<ClusterInfo>

  // topics
  createTopics(req: { topics: TopicSpec[]; validateOnly?: boolean }): Promise<Array<{ topic: string; created: boolean }>>
  deleteTopics(req: { topics: string[] }): Promise<void>
  createPartitions(req: { topicPartitions: Array<{ topic: string; count: number }> }): Promise<void>
  /** Every topic when `topics` is omitted. Unknown topics: UNKNOWN_TOPIC_OR_PARTITION (or auto-created). */
  metadata(req: { topics?: string[]; allowAutoTopicCreation?: boolean }): Promise<TopicMetadata[]>
  alterConfigs(req: { topic: string; configEntries: Array<{ name: string; value: string | null }> }): Promise<TopicConfig>
  describePartitions(req: { topic: string }): Promise<PartitionState[]>

  // data
  produce(req: ProduceRequest): Promise<ProduceResult[]>
  /**
   * `options.signal` cancels a parked fetch (a consumer stopping or giving a partition up): the
   * call then rejects at once and releases what it held (a timer, a socket). Optional for a
   * broker to honour; never sent over the wire (it is not part of the request).
   */
  fetch(req: FetchRequest, options?: FetchOptions): Promise<FetchResult>
  /** `isolationLevel` 1 (read_committed): 'latest' is the last stable offset, as Kafka's ListOffsets answers it. */
  listOffsets(req: { topic: string; partitions: number[]; spec: OffsetSpec; isolationLevel?: 0 | 1 }): Promise<ListOffsetsResult[]>
  initProducerId(req: InitProducerIdRequest): Promise<InitProducerIdResult>
  /**
   * Transactions (KIP-98; core/txn, docs/transactions.md). Optional: a broker without them
   * (edgelog/http today) makes `producer.transaction()` fail with UNSUPPORTED_VERSION.
   * AddPartitionsToTxn: the partitions join the ongoing transaction (starting one); all or nothing.
   */
  addPartitionsToTxn?(req: TxnProducer & { topics: TopicPartitions[] }): Promise<void>
  /** AddOffsetsToTxn: the group's offsets will be committed with the transaction. */
  addOffsetsToTxn?(req: TxnProducer & { groupId: string }): Promise<void>
  /** TxnOffsetCommit: offsets that become the group's committed offsets when the transaction commits. */
  txnOffsetCommit?(req: TxnProducer & { groupId: string; offsets: OffsetCommit[] }): Promise<void>
  /** EndTxn: commit (`committed: true`) or abort; resolves once every marker is written. */
  endTxn?(req: TxnProducer & { committed: boolean }): Promise<void>
  /** Runs retention and compaction now (they also run on their own). */
  runMaintenance(req: { topic?: string }): Promise<void>
  /**
   * Kafka's DeleteRecords (KafkaJS admin.deleteTopicRecords): per partition, the log starts at
   * `offset` from now on (-1: the high watermark); an offset at or below the log start changes
   * nothing. Each partition answers on its own: OFFSET_OUT_OF_RANGE past the high watermark,
   * POLICY_VIOLATION on a compact-only topic. Optional: a broker without it is older.
   */
  deleteRecords?(req: { topic: string; partitions: Array<{ partition: number; offset: number }> }): Promise<DeleteRecordsResult[]>
  /**
   * Kafka's ElectLeaders, PREFERRED: per partition, the first replica leads if it is a live
   * in-sync replica (ELECTION_NOT_NEEDED if it leads already, PREFERRED_LEADER_NOT_AVAILABLE
   * if not in sync). Optional: only brokers with replicated partitions have it.
   */
  electLeaders?(req: { partitions: Array<{ topic: string; partition: number }> }): Promise<PartitionResult[]>
  /** Kafka's AlterPartitionReassignments: new replicas per partition (`null` cancels one in progress); answers per partition. */
  alterPartitionReassignments?(req: { topics: Array<{ topic: string; partitionAssignment: Array<{ partition: number; replicas: number[] | null }> }> }): Promise<PartitionResult[]>
  /** Kafka's ListPartitionReassignments: those in progress (of `topics` when given). */
  listPartitionReassignments?(req: { topics?: TopicPartitions[] }): Promise<PartitionReassignment[]>

  // groups
  groupHeartbeat(req: GroupHeartbeatRequest): Promise<GroupHeartbeatResponse>
  commitOffsets(req: { groupId: string; memberId?: string; memberEpoch?: number; offsets: OffsetCommit[] }): Promise<void>
  /**
   * `requireStable` (Kafka's OffsetFetch require_stable, KIP-447): refuse with the retriable
   * UNSTABLE_OFFSET_COMMIT while a transaction holds offsets of these topics pending, so a
   * read_committed consumer never starts from an offset an ending transaction is about to move.
   */
  fetchOffsets(req: { groupId: string; topics?: string[]; requireStable?: boolean }): Promise<CommittedOffset[]>
  describeGroups(req: { groupIds: string[] }): Promise<GroupDescription[]>
  listGroups(): Promise<Array<{ groupId: string; protocolType: string; state: string }>>
  deleteGroups(req: { groupIds: string[] }): Promise<Array<{ groupId: string; errorCode: number; error?: { code: ErrorCode; message: string } }>>
  /** Committed offsets with the high watermark and lag, per partition of the group's topics. */
  groupLag(req: { groupId: string }): Promise<GroupOffsetsWithLag[]>

  // sync (a log following a leader: core/sync); only such logs have these
  syncStatus?(): Promise<SyncState>
  syncPending?(req: { topic?: string }): Promise<PendingRecord[]>
  syncDeadLetters?(): Promise<DeadLetter[]>
  /** The leader's offset of each outbox record once delivered (-1: stored, offset unknown). */
  syncDelivered?(req: { records: Array<{ topic: string; partition: number; outboxOffset: number }>; timeoutMs?: number }): Promise<number[]>
  syncFlush?(req: { timeoutMs?: number }): Promise<void>
  /** Replaces the token the sync sends to its leader (and tries again at once). */
  syncSetToken?(token: string | undefined): Promise<void>

  close(): Promise<void>
}
