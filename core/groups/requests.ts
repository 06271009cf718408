/**
 * Validation of the coordinator's requests, done before a request touches the group: a request
 * that fails here changes nothing and never waits for the group's queue.
 */
import type { GroupHeartbeatRequest, OffsetCommit } from '../broker.ts'
import { EdgelogError, type ErrorCode } from '../errors.ts'
import { ASSIGNORS, resolveAssignorName } from './assignors/index.ts'
import { fromTopicPartitions, type PartitionMap } from './group-state.ts'

/** Kafka's offset.metadata.max.bytes default. */
export const OFFSET_METADATA_MAX_BYTES = 4096

export function fail(code: ErrorCode, message: string): never {
  throw new EdgelogError(code, message)
}

export function validateGroupId(groupId: unknown): asserts groupId is string {
  if (typeof groupId !== 'string' || groupId.length === 0 || groupId.length > 255) {
    fail('INVALID_GROUP_ID', `Invalid group id ${JSON.stringify(groupId)}: a non-empty string of at most 255 characters`)
  }
}

export function compileRegex(source: string): RegExp {
  try {
    // Kafka matches the whole topic name (Pattern.matches).
    return new RegExp(`^(?:${source})$`)
  } catch (e) {
    return fail('INVALID_REQUEST', `Invalid subscribed topic regex ${JSON.stringify(source)}: ${(e as Error).message}`)
  }
}

/** A heartbeat request once checked, in the shapes the coordinator works with. */
export interface ValidHeartbeat {
  groupId: string
  epoch: number
  /** '' when the request names no member (a member joining for the first time). */
  memberIdIn: string
  instanceId: string | null
  names: string[] | null
  regexSource: string | null
  /** Canonical assignor names; null when the request does not send them. */
  assignors: string[] | null
  /** What the member reports owning; null when it does not say. */
  reported: PartitionMap | null
}

/** Checks a heartbeat; `regex` compiles (and caches) a subscription regex, failing on a bad one. */
export function validateHeartbeat(req: GroupHeartbeatRequest, regex: (source: string) => RegExp): ValidHeartbeat {
  validateGroupId(req?.groupId)
  const epoch = req.memberEpoch
  if (!Number.isInteger(epoch) || epoch < -2) fail('INVALID_REQUEST', `Invalid member epoch ${JSON.stringify(epoch)}`)
  const memberIdIn = typeof req.memberId === 'string' ? req.memberId : ''
  const instanceId = req.instanceId ?? null
  if (instanceId !== null && (typeof instanceId !== 'string' || instanceId.length === 0)) {
    fail('INVALID_REQUEST', 'instanceId must be a non-empty string or null')
  }
  if (epoch !== 0 && memberIdIn === '') fail('UNKNOWN_MEMBER_ID', 'A member id is required unless joining (epoch 0)')
  if (epoch === -2 && instanceId === null) fail('INVALID_REQUEST', 'Only a static member (instanceId) can leave with epoch -2')
  const names = req.subscribedTopicNames ?? null
  if (names !== null && (!Array.isArray(names) || names.some((n) => typeof n !== 'string'))) {
    fail('INVALID_REQUEST', 'subscribedTopicNames must be an array of topic names')
  }
  const regexSource = req.subscribedTopicRegex ?? null
  if (regexSource !== null) {
    if (typeof regexSource !== 'string') fail('INVALID_REQUEST', 'subscribedTopicRegex must be a string')
    if (regexSource !== '') regex(regexSource)
  }
  if (epoch === 0 && names === null && regexSource === null) {
    fail('INVALID_REQUEST', 'A joining member must send subscribedTopicNames or subscribedTopicRegex')
  }
  let assignors: string[] | null = null
  if (req.serverAssignors != null) {
    if (!Array.isArray(req.serverAssignors)) fail('INVALID_REQUEST', 'serverAssignors must be an array')
    const known = req.serverAssignors.map((n) => resolveAssignorName(n)).filter((n): n is string => n !== undefined)
    if (req.serverAssignors.length > 0 && known.length === 0) {
      fail('UNSUPPORTED_ASSIGNOR', `Unsupported assignor(s) ${req.serverAssignors.join(', ')}: edgelog has ${Object.keys(ASSIGNORS).join(', ')}`)
    }
    assignors = [...new Set(known)]
  }
  for (const [field, value] of [['sessionTimeoutMs', req.sessionTimeoutMs], ['rebalanceTimeoutMs', req.rebalanceTimeoutMs]] as const) {
    if (value != null && value !== -1 && (!Number.isInteger(value) || value <= 0)) {
      fail(field === 'sessionTimeoutMs' ? 'INVALID_SESSION_TIMEOUT' : 'INVALID_REQUEST', `Invalid ${field} ${JSON.stringify(value)}`)
    }
  }
  const reported = req.topicPartitions == null ? null : fromTopicPartitions(req.topicPartitions)
  return { groupId: req.groupId, epoch, memberIdIn, instanceId, names, regexSource, assignors, reported }
}

/** An offset commit once checked: the member epoch and id it was sent with (-1 and '' when none). */
export interface ValidOffsetCommit {
  groupId: string
  memberId: string
  memberEpoch: number
  offsets: OffsetCommit[]
}

export function validateOffsetCommit(req: { groupId: string; memberId?: string; memberEpoch?: number; offsets: OffsetCommit[] }): ValidOffsetCommit {
  validateGroupId(req?.groupId)
  if (!Array.isArray(req.offsets)) fail('INVALID_REQUEST', 'offsets must be an array')
  const memberEpoch = req.memberEpoch ?? -1
  const memberId = req.memberId ?? ''
  if (!Number.isInteger(memberEpoch)) fail('INVALID_REQUEST', `Invalid member epoch ${JSON.stringify(memberEpoch)}`)
  for (const o of req.offsets) {
    if (!o || typeof o.topic !== 'string' || !Number.isInteger(o.partition) || o.partition < 0) {
      fail('UNKNOWN_TOPIC_OR_PARTITION', `Invalid topic partition ${JSON.stringify(o && { topic: o.topic, partition: o.partition })}`)
    }
    if (typeof o.offset !== 'number' || !Number.isSafeInteger(o.offset) || o.offset < 0) {
      fail('OFFSET_OUT_OF_RANGE', `Offset ${JSON.stringify(o.offset)} for ${o.topic}-${o.partition} is not a non-negative integer`)
    }
    if (o.metadata != null && typeof o.metadata !== 'string') fail('INVALID_REQUEST', 'Offset metadata must be a string or null')
    if (o.metadata != null && new TextEncoder().encode(o.metadata).length > OFFSET_METADATA_MAX_BYTES) {
      fail('INVALID_COMMIT_OFFSET_SIZE', `Offset metadata for ${o.topic}-${o.partition} is over ${OFFSET_METADATA_MAX_BYTES} bytes (Kafka's OFFSET_METADATA_TOO_LARGE)`)
    }
  }
  return { groupId: req.groupId, memberId, memberEpoch, offsets: req.offsets }
}
