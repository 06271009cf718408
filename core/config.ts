/**
 * Topic configs and log-level (broker) settings, with Kafka's names and defaults.
 * Values are validated here; bad ones are INVALID_CONFIG.
 */
import { EdgelogError } from './errors.ts'

export type CleanupPolicy = 'delete' | 'compact' | 'compact,delete'
/**
 * Kafka's topic compression.type: 'producer' keeps each batch as its producer compressed it;
 * a codec name (or 'uncompressed') makes the broker store every batch with that codec,
 * recompressing those that arrive otherwise (core/codec/topic-compression.ts).
 */
export type TopicCompressionType = 'producer' | 'uncompressed' | 'gzip' | 'snappy' | 'lz4' | 'zstd'
export const TOPIC_COMPRESSION_TYPES: readonly TopicCompressionType[] = ['producer', 'uncompressed', 'gzip', 'snappy', 'lz4', 'zstd']

export interface TopicConfig {
  'retention.ms': number
  'retention.bytes': number
  'segment.bytes': number
  'segment.ms': number
  'cleanup.policy': CleanupPolicy
  'max.message.bytes': number
  'min.compaction.lag.ms': number
  'delete.retention.ms': number
  'message.timestamp.type': 'CreateTime' | 'LogAppendTime'
  'compression.type': TopicCompressionType
  /**
   * Confluent's broker-side schema validation: every record's value (key) must carry, in
   * Confluent's wire format, the id of a live schema of subject `<topic>-value` (`<topic>-key`)
   * in the log's own registry, and a payload that is a value of that schema; else the batch is
   * refused (INVALID_RECORD), nothing stored.
   */
  'confluent.value.schema.validation': boolean
  'confluent.key.schema.validation': boolean
  /** Replication (core/replication): acks=all needs at least this many in-sync replicas. */
  'min.insync.replicas': number
  /** Replication: elect a replica outside the ISR when no ISR member is left (loses acknowledged records; reported). */
  'unclean.leader.election.enable': boolean
  /**
   * Kafka's tiered storage (KIP-405): sealed segments leave the local store for a remote one
   * (R2 at the edge) once past local.retention.ms / local.retention.bytes (-2: retention.ms /
   * retention.bytes); reads fall through to the remote tier. Refused where there is none.
   */
  'remote.storage.enable': boolean
  'local.retention.ms': number
  'local.retention.bytes': number
}

export const TOPIC_CONFIG_DEFAULTS: TopicConfig = {
  'retention.ms': 7 * 24 * 3600 * 1000,
  'retention.bytes': -1,
  'segment.bytes': 1024 * 1024 * 1024,
  'segment.ms': 7 * 24 * 3600 * 1000,
  'cleanup.policy': 'delete',
  'max.message.bytes': 1024 * 1024 + 12,
  'min.compaction.lag.ms': 0,
  'delete.retention.ms': 24 * 3600 * 1000,
  'message.timestamp.type': 'CreateTime',
  'compression.type': 'producer',
  'confluent.value.schema.validation': false,
  'confluent.key.schema.validation': false,
  'min.insync.replicas': 1,
  'unclean.leader.election.enable': false,
  'remote.storage.enable': false,
  'local.retention.ms': -2,
  'local.retention.bytes': -2,
}

/** Broker settings users expect from Kafka (server.properties), with Kafka's names. */
export interface LogSettings {
  'auto.create.topics.enable': boolean
  'delete.topic.enable': boolean
  'num.partitions': number
  'default.replication.factor': number
  'min.insync.replicas': number
  'offsets.retention.minutes': number
  /** How often retention and compaction run on their own (Kafka's log.retention.check.interval.ms). 0: only on segment roll and on request. */
  'log.retention.check.interval.ms': number
  'group.consumer.session.timeout.ms': number
  'group.consumer.heartbeat.interval.ms': number
  /** How long an idle idempotent producer's state is kept per partition. */
  'producer.id.expiration.ms': number
  /** How long a transactional id with no transaction open is kept after its last use (Kafka's default: 7 days). */
  'transactional.id.expiration.ms': number
  /** Replication: a follower that has not caught up with its leader for this long leaves the ISR. */
  'replica.lag.time.max.ms': number
  /** Kafka's remote.log.storage.system.enable: a remote tier exists (at the edge: the R2 binding); without it no topic may set remote.storage.enable. */
  'remote.log.storage.system.enable': boolean
}

export const LOG_SETTINGS_DEFAULTS: LogSettings = {
  'auto.create.topics.enable': true,
  'delete.topic.enable': true,
  'num.partitions': 1,
  'default.replication.factor': 1,
  'min.insync.replicas': 1,
  'offsets.retention.minutes': 7 * 24 * 60,
  'log.retention.check.interval.ms': 5 * 60 * 1000,
  'group.consumer.session.timeout.ms': 45_000,
  'group.consumer.heartbeat.interval.ms': 5_000,
  'producer.id.expiration.ms': 24 * 3600 * 1000,
  'transactional.id.expiration.ms': 7 * 24 * 3600 * 1000,
  'replica.lag.time.max.ms': 30_000,
  'remote.log.storage.system.enable': false,
}

const NUMERIC: Array<keyof TopicConfig> = [
  'retention.ms', 'retention.bytes', 'segment.bytes', 'segment.ms', 'max.message.bytes',
  'min.compaction.lag.ms', 'delete.retention.ms', 'min.insync.replicas', 'local.retention.ms', 'local.retention.bytes',
]
const MINIMUM: Partial<Record<keyof TopicConfig, number>> = {
  'retention.ms': -1, 'retention.bytes': -1, 'segment.bytes': 14, 'segment.ms': 1,
  'max.message.bytes': 0, 'min.compaction.lag.ms': 0, 'delete.retention.ms': 0, 'min.insync.replicas': 1,
  'local.retention.ms': -2, 'local.retention.bytes': -2,
}

/** Applies `entries` (Kafka config names; null resets to default) over `base`. */
export function applyTopicConfig(
  base: TopicConfig,
  entries: Array<{ name: string; value: string | number | null }> | undefined,
): TopicConfig {
  const next: TopicConfig = { ...base }
  for (const { name, value } of entries ?? []) {
    if (!Object.hasOwn(TOPIC_CONFIG_DEFAULTS, name)) throw new EdgelogError('INVALID_CONFIG', `Unknown topic config '${name}'`)
    const key = name as keyof TopicConfig
    if (value === null || value === undefined) {
      ;(next as any)[key] = TOPIC_CONFIG_DEFAULTS[key]
      continue
    }
    if (NUMERIC.includes(key)) {
      const n = typeof value === 'number' ? value : /^-?\d+$/.test(String(value).trim()) ? Number(value) : NaN
      if (!Number.isSafeInteger(n) || n < (MINIMUM[key] ?? 0)) {
        throw new EdgelogError('INVALID_CONFIG', `Invalid value ${JSON.stringify(value)} for config '${name}'`)
      }
      ;(next as any)[key] = n
    } else if (key === 'cleanup.policy') {
      const parts = String(value).split(',').map((s) => s.trim()).filter(Boolean).sort()
      const policy = parts.join(',')
      if (policy !== 'delete' && policy !== 'compact' && policy !== 'compact,delete') {
        throw new EdgelogError('INVALID_CONFIG', `Invalid value ${JSON.stringify(value)} for config 'cleanup.policy' (delete, compact, or both)`)
      }
      next['cleanup.policy'] = policy
    } else if (key === 'message.timestamp.type') {
      if (value !== 'CreateTime' && value !== 'LogAppendTime') {
        throw new EdgelogError('INVALID_CONFIG', `Invalid value ${JSON.stringify(value)} for config 'message.timestamp.type'`)
      }
      next['message.timestamp.type'] = value
    } else if (key === 'confluent.value.schema.validation' || key === 'confluent.key.schema.validation' || key === 'unclean.leader.election.enable' || key === 'remote.storage.enable') {
      const text = String(value).trim().toLowerCase()
      if (text !== 'true' && text !== 'false') throw new EdgelogError('INVALID_CONFIG', `Invalid value ${JSON.stringify(value)} for config '${name}' (true or false)`)
      next[key] = text === 'true'
    } else if (key === 'compression.type') {
      const type = String(value).trim().toLowerCase() as TopicCompressionType
      if (!TOPIC_COMPRESSION_TYPES.includes(type)) {
        throw new EdgelogError('INVALID_CONFIG', `Invalid value ${JSON.stringify(value)} for config 'compression.type' (${TOPIC_COMPRESSION_TYPES.join(', ')})`)
      }
      next['compression.type'] = type
    }
  }
  return next
}

/**
 * Checks across configs (Kafka's LogConfig validation of tiered storage): a topic with
 * remote.storage.enable needs a remote tier in this place and cleanup.policy delete only, and
 * its local retention may not exceed its total retention. Configs without it pass unchanged.
 */
export function validateTopicConfig(config: TopicConfig, settings: Pick<LogSettings, 'remote.log.storage.system.enable'>): TopicConfig {
  if (!config['remote.storage.enable']) return config
  if (!settings['remote.log.storage.system.enable']) {
    throw new EdgelogError('INVALID_CONFIG', 'Tiered Storage functionality is disabled in the broker (at the edge: no R2 binding REMOTE_STORAGE). Topic cannot be configured with remote log storage.')
  }
  if (config['cleanup.policy'] !== 'delete') {
    throw new EdgelogError('INVALID_CONFIG', `Remote log storage is only supported for topics with cleanup.policy=delete, not ${config['cleanup.policy']}`)
  }
  for (const [local, total] of [['local.retention.ms', 'retention.ms'], ['local.retention.bytes', 'retention.bytes']] as const) {
    const l = config[local]
    const t = config[total]
    if (l === -2) continue
    if (t !== -1 && l === -1) throw new EdgelogError('INVALID_CONFIG', `Invalid value -1 for config '${local}': it may not be -1 while ${total} is ${t}`)
    if (t !== -1 && l > t) throw new EdgelogError('INVALID_CONFIG', `Invalid value ${l} for config '${local}': it may not be more than ${total} (${t})`)
  }
  return config
}

/** The local retention of a tiered topic: local.retention.* with -2 meaning the total retention. */
export function localRetention(config: TopicConfig): { ms: number; bytes: number } {
  const ms = config['local.retention.ms']
  const bytes = config['local.retention.bytes']
  return { ms: ms === -2 ? config['retention.ms'] : ms, bytes: bytes === -2 ? config['retention.bytes'] : bytes }
}

export function resolveLogSettings(overrides?: Partial<LogSettings>): LogSettings {
  const settings = { ...LOG_SETTINGS_DEFAULTS, ...overrides }
  if (!Number.isInteger(settings['num.partitions']) || settings['num.partitions'] < 1) {
    throw new EdgelogError('INVALID_CONFIG', 'num.partitions must be a positive integer')
  }
  return settings
}

export function hasCompaction(config: TopicConfig): boolean {
  return config['cleanup.policy'].includes('compact')
}

export function hasDeletion(config: TopicConfig): boolean {
  return config['cleanup.policy'].includes('delete')
}
