/**
 * The Worker's bindings and variables. Embedders declare the same names in their own
 * wrangler config (see docs/http-api.md).
 */
import type { ControllerObject } from './objects/controller.ts'
import type { GroupObject } from './objects/group.ts'
import type { PartitionObject } from './objects/partition.ts'
import type { TransactionObject } from './objects/transaction.ts'

export interface EdgelogEnv {
  /** One object per topic partition, named `${topicId}/${partition}`. */
  PARTITION: DurableObjectNamespace<PartitionObject>
  /** One object, named 'controller': topic metadata and producer ids. */
  CONTROLLER: DurableObjectNamespace<ControllerObject>
  /** One object per consumer group, named by the group id. */
  GROUP: DurableObjectNamespace<GroupObject>
  /**
   * One object per transactional id: its transaction coordinator (docs/transactions.md).
   * Optional for embedders: without it, transactions are refused with UNSUPPORTED_VERSION.
   */
  TRANSACTION?: DurableObjectNamespace<TransactionObject>
  /**
   * Bearer tokens and their permissions, as JSON (a secret: `wrangler secret put EDGELOG_TOKENS`):
   * `{ "<token>": { "topics": { "<name or prefix*>": ["read","write","admin"] }, "groups": {…}, "cluster": ["admin"] } }`.
   */
  EDGELOG_TOKENS?: string
  /**
   * With no tokens configured: "true" opens the API to anyone, "false" refuses every request.
   * Unset: open only on a loopback host (wrangler dev on 127.0.0.1 / localhost).
   */
  EDGELOG_ALLOW_OPEN?: string
  /** CORS: "*" or a comma-separated list of origins allowed to call the API from a browser. Unset: no CORS headers. */
  EDGELOG_CORS_ORIGINS?: string
  /** Kafka broker settings as JSON (`{ "auto.create.topics.enable": false, … }`), see core/config.ts LogSettings. */
  EDGELOG_SETTINGS?: string
  /** Largest request body in bytes (default 8 MiB). */
  EDGELOG_MAX_REQUEST_BYTES?: string
  /**
   * Where long polls and live tails wait: unset (or "worker") in the Worker, the partition object
   * told of new data over a hibernatable WebSocket (worker/wait/, docs/scaling.md); "object" parks
   * them inside the partition object as before (kept for benchmarks and comparison).
   */
  EDGELOG_WAIT?: string
  /** "off" turns off the Workers Cache API for sealed segments (worker/cache.ts). */
  EDGELOG_CACHE?: string
  /**
   * Kafka's tiered storage (KIP-405, docs/tiered-storage.md): the R2 bucket that sealed segments of
   * topics with remote.storage.enable move to. Optional: without it such topics are refused.
   */
  REMOTE_STORAGE?: R2Bucket
  /** Tests only: a fault to inject in the move of a segment to R2 ("tier-pause-after-put", "tier-fail-after-put"). */
  EDGELOG_TEST_FAULTS?: string
  /**
   * Replication (docs/replication.md, worker/replication/): the location hints replicas of a
   * replicated topic are placed at, comma-separated, one "broker" each (default
   * enam,weur,apac,wnam,eeur); the replication factor is at most their number.
   */
  EDGELOG_REPLICA_LOCATIONS?: string
  /** Tests only: "true" lets a replica be made unreachable (worker/replication/host.ts); refused otherwise. */
  EDGELOG_TEST_REPLICA_FAULTS?: string
  /** How old (ms) the Worker's knowledge of a partition's log start may be for a cached read (default 1000). */
  EDGELOG_CACHE_FRESH_MS?: string
}
