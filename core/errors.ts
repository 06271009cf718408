/**
 * One error class for the whole log. `code` is Kafka's error name (KafkaJS's `type`),
 * `errorCode` its numeric protocol code, `retriable` whether the same request may succeed later.
 * Adapters translate their runtime's errors into this at the boundary.
 */
export const ERROR_CODES = {
  UNKNOWN_SERVER_ERROR: { errorCode: -1, retriable: false, status: 500 },
  OFFSET_OUT_OF_RANGE: { errorCode: 1, retriable: false, status: 416 },
  CORRUPT_MESSAGE: { errorCode: 2, retriable: false, status: 400 },
  UNKNOWN_TOPIC_OR_PARTITION: { errorCode: 3, retriable: true, status: 404 },
  INVALID_FETCH_SIZE: { errorCode: 4, retriable: false, status: 400 },
  LEADER_NOT_AVAILABLE: { errorCode: 5, retriable: true, status: 503 },
  NOT_LEADER_OR_FOLLOWER: { errorCode: 6, retriable: false, status: 409 },
  REQUEST_TIMED_OUT: { errorCode: 7, retriable: true, status: 504 },
  MESSAGE_TOO_LARGE: { errorCode: 10, retriable: false, status: 413 },
  NETWORK_EXCEPTION: { errorCode: 13, retriable: true, status: 503 },
  COORDINATOR_NOT_AVAILABLE: { errorCode: 15, retriable: true, status: 503 },
  INVALID_TOPIC_EXCEPTION: { errorCode: 17, retriable: false, status: 400 },
  RECORD_LIST_TOO_LARGE: { errorCode: 18, retriable: false, status: 413 },
  NOT_ENOUGH_REPLICAS: { errorCode: 19, retriable: true, status: 503 },
  /** Replication: appended by the leader, but the ISR shrank below min.insync.replicas before it was replicated. */
  NOT_ENOUGH_REPLICAS_AFTER_APPEND: { errorCode: 20, retriable: true, status: 503 },
  INVALID_REQUIRED_ACKS: { errorCode: 21, retriable: false, status: 400 },
  ILLEGAL_GENERATION: { errorCode: 22, retriable: false, status: 409 },
  INCONSISTENT_GROUP_PROTOCOL: { errorCode: 23, retriable: false, status: 409 },
  INVALID_GROUP_ID: { errorCode: 24, retriable: false, status: 400 },
  UNKNOWN_MEMBER_ID: { errorCode: 25, retriable: false, status: 409 },
  INVALID_SESSION_TIMEOUT: { errorCode: 26, retriable: false, status: 400 },
  REBALANCE_IN_PROGRESS: { errorCode: 27, retriable: false, status: 409 },
  INVALID_COMMIT_OFFSET_SIZE: { errorCode: 28, retriable: false, status: 400 },
  TOPIC_AUTHORIZATION_FAILED: { errorCode: 29, retriable: false, status: 403 },
  GROUP_AUTHORIZATION_FAILED: { errorCode: 30, retriable: false, status: 403 },
  CLUSTER_AUTHORIZATION_FAILED: { errorCode: 31, retriable: false, status: 403 },
  INVALID_TIMESTAMP: { errorCode: 32, retriable: false, status: 400 },
  UNSUPPORTED_VERSION: { errorCode: 35, retriable: false, status: 400 },
  SECURITY_DISABLED: { errorCode: 54, retriable: false, status: 400 },
  TOPIC_ALREADY_EXISTS: { errorCode: 36, retriable: false, status: 409 },
  INVALID_PARTITIONS: { errorCode: 37, retriable: false, status: 400 },
  INVALID_REPLICATION_FACTOR: { errorCode: 38, retriable: false, status: 400 },
  INVALID_REQUEST: { errorCode: 42, retriable: false, status: 400 },
  UNSUPPORTED_FOR_MESSAGE_FORMAT: { errorCode: 43, retriable: false, status: 400 },
  POLICY_VIOLATION: { errorCode: 44, retriable: false, status: 400 },
  OUT_OF_ORDER_SEQUENCE_NUMBER: { errorCode: 45, retriable: false, status: 409 },
  DUPLICATE_SEQUENCE_NUMBER: { errorCode: 46, retriable: false, status: 409 },
  INVALID_PRODUCER_EPOCH: { errorCode: 47, retriable: false, status: 409 },
  INVALID_CONFIG: { errorCode: 40, retriable: false, status: 400 },
  INVALID_TXN_STATE: { errorCode: 48, retriable: false, status: 409 },
  INVALID_PRODUCER_ID_MAPPING: { errorCode: 49, retriable: false, status: 409 },
  INVALID_TRANSACTION_TIMEOUT: { errorCode: 50, retriable: false, status: 400 },
  CONCURRENT_TRANSACTIONS: { errorCode: 51, retriable: true, status: 409 },
  UNKNOWN_PRODUCER_ID: { errorCode: 59, retriable: false, status: 409 },
  SASL_AUTHENTICATION_FAILED: { errorCode: 58, retriable: false, status: 401 },
  TOPIC_DELETION_DISABLED: { errorCode: 73, retriable: false, status: 403 },
  /** Replication: the request carries an older leader epoch than the replica's (a deposed leader, a stale follower). */
  FENCED_LEADER_EPOCH: { errorCode: 74, retriable: true, status: 409 },
  /** Replication: the request carries a newer leader epoch than the replica knows yet. */
  UNKNOWN_LEADER_EPOCH: { errorCode: 75, retriable: true, status: 503 },
  MEMBER_ID_REQUIRED: { errorCode: 79, retriable: false, status: 409 },
  GROUP_ID_NOT_FOUND: { errorCode: 69, retriable: false, status: 404 },
  NON_EMPTY_GROUP: { errorCode: 68, retriable: false, status: 409 },
  FENCED_INSTANCE_ID: { errorCode: 82, retriable: false, status: 409 },
  INVALID_RECORD: { errorCode: 87, retriable: false, status: 400 },
  UNSTABLE_OFFSET_COMMIT: { errorCode: 88, retriable: true, status: 409 },
  PRODUCER_FENCED: { errorCode: 90, retriable: false, status: 409 },
  FENCED_MEMBER_EPOCH: { errorCode: 110, retriable: false, status: 409 },
  UNRELEASED_INSTANCE_ID: { errorCode: 111, retriable: false, status: 409 },
  UNSUPPORTED_ASSIGNOR: { errorCode: 112, retriable: false, status: 400 },
  INCONSISTENT_TOPIC_ID: { errorCode: 103, retriable: false, status: 409 },
  /** Replication: an ISR change (AlterPartition) built on a partition state the controller has moved past. */
  INVALID_UPDATE_VERSION: { errorCode: 95, retriable: true, status: 409 },
  /** Replication: a replica list that names a broker twice, an unknown broker, or none (AlterPartitionReassignments). */
  INVALID_REPLICA_ASSIGNMENT: { errorCode: 39, retriable: false, status: 400 },
  /** Replication: the preferred leader (first replica) is not a live in-sync replica. */
  PREFERRED_LEADER_NOT_AVAILABLE: { errorCode: 80, retriable: true, status: 503 },
  /** Replication: the preferred leader leads already. */
  ELECTION_NOT_NEEDED: { errorCode: 84, retriable: false, status: 409 },
  /** Replication: a reassignment cancelled where none is in progress. */
  NO_REASSIGNMENT_IN_PROGRESS: { errorCode: 85, retriable: false, status: 409 },
  /** edgelog's own: the store refused the write for lack of space (IndexedDB QuotaExceededError). */
  STORAGE_QUOTA_EXCEEDED: { errorCode: -1001, retriable: false, status: 507 },
  /** edgelog's own: the store failed in a way that is not the caller's fault. */
  STORAGE_ERROR: { errorCode: -1002, retriable: true, status: 500 },
  /** edgelog's own: the client or log was used after it was closed. */
  CLOSED: { errorCode: -1003, retriable: false, status: 503 },
  /** edgelog's own, for the HTTP API: no or bad bearer token. */
  UNAUTHENTICATED: { errorCode: -1004, retriable: false, status: 401 },
  /**
   * edgelog's own: a commit's precondition (`StorageWrite.expect`) failed because another
   * context sharing the store wrote first; nothing was written and the request may be retried.
   */
  STORAGE_CONFLICT: { errorCode: -1005, retriable: true, status: 409 },
} as const

export type ErrorCode = keyof typeof ERROR_CODES

export class EdgelogError extends Error {
  override readonly name = 'EdgelogError'
  readonly code: ErrorCode
  readonly errorCode: number
  readonly retriable: boolean
  /** KafkaJS names this `type`; kept for code written against KafkaJS. */
  get type(): ErrorCode { return this.code }

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown; retriable?: boolean }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause })
    this.code = code
    this.errorCode = ERROR_CODES[code].errorCode
    this.retriable = options?.retriable ?? ERROR_CODES[code].retriable
  }

  toJSON(): { code: ErrorCode; message: string } {
    return { code: this.code, message: this.message }
  }
}

export function isEdgelogError(e: unknown, code?: ErrorCode): e is EdgelogError {
  const shaped = e instanceof EdgelogError ||
    (typeof e === 'object' && e !== null && (e as { name?: unknown }).name === 'EdgelogError' && typeof (e as { code?: unknown }).code === 'string')
  return shaped && (code === undefined || (e as EdgelogError).code === code)
}

/** Rebuilds an EdgelogError from its JSON form (HTTP bodies, worker messages). */
export function errorFromJSON(json: { code?: string; message?: string }): EdgelogError {
  const code = (json.code && json.code in ERROR_CODES ? json.code : 'UNKNOWN_SERVER_ERROR') as ErrorCode
  return new EdgelogError(code, json.message ?? code)
}

export function errorNameForCode(errorCode: number): ErrorCode | undefined {
  for (const [name, def] of Object.entries(ERROR_CODES)) if (def.errorCode === errorCode) return name as ErrorCode
  return undefined
}
