/**
 * The group coordinator: Kafka's KIP-848 consumer-group protocol as a state machine over the
 * storage port (it runs unchanged in process, in a Web Worker and in a Durable Object).
 *
 * - One request, `heartbeat` (ConsumerGroupHeartbeat), joins (epoch 0), heartbeats, acknowledges
 *   revocations (by reporting what the member owns) and leaves (-1; -2 for a static member that
 *   will come back).
 * - The coordinator bumps the group epoch on every change of membership, subscriptions, assignor
 *   or subscribed topics' partitions, computes the target assignment itself with the group's
 *   assignor, and moves each member towards its target incrementally: a member first loses what
 *   it must give up (its assignment shrinks, epoch unchanged); once its heartbeat no longer lists
 *   those partitions they are free, and only then are they given to their new owner. So no
 *   partition is ever assigned to two members at once.
 * - Committed offsets live under `offset/<groupId>/<topic>/<partition>`, the group under
 *   `group/<groupId>` (the group id URI-encoded in keys), every change one `storage.commit`.
 *
 * Every failed request leaves the group and its offsets as they were: requests work on a copy
 * that replaces the cached group only after the storage commit succeeded.
 */
import type {
  CommittedOffset, GroupDescription, GroupHeartbeatRequest, GroupHeartbeatResponse,
  GroupOffsetsWithLag, OffsetCommit,
} from '../broker.ts'
import type { LogSettings } from '../config.ts'
import { EdgelogError, type ErrorCode } from '../errors.ts'
import type { StorageAdapter } from '../storage.ts'
import { ASSIGNORS, resolveAssignorName } from './assignors/index.ts'
import { compareStrings } from './assignors/types.ts'
import {
  canonical, fromTopicPartitions, groupState, has, intersect, isEmptyMap, minus, newGroup, pairs,
  toTopicPartitionList, union, fromPairs, type GroupRecord, type MemberRecord, type PartitionMap,
} from './group-state.ts'

export interface GroupCoordinatorOptions {
  storage: StorageAdapter
  settings: LogSettings
  now?: () => number
  /** Partition counts of the existing topics among `topics` (unknown topics left out). */
  topicPartitions: (topics: string[]) => Promise<Record<string, number>>
  /** Every topic name (for regular-expression subscriptions). */
  listTopics: () => Promise<string[]>
  /** The partition's high watermark; negative (or UNKNOWN_TOPIC_OR_PARTITION) when it does not exist. */
  highWatermark: (topic: string, partition: number) => Promise<number>
  /**
   * How long a group's view of its topics' partition counts is trusted before a heartbeat
   * re-reads it (Kafka's metadata refresh). 0 (default): every heartbeat.
   */
  metadataMaxAgeMs?: number
}

/** One committed offset as stored. */
export interface OffsetRecord {
  offset: number
  metadata: string | null
  commitTimestamp: number
}

/** Kafka's offset.metadata.max.bytes default. */
export const OFFSET_METADATA_MAX_BYTES = 4096
/** Kafka's max.poll.interval.ms default, used when a member sends no rebalance timeout. */
export const DEFAULT_REBALANCE_TIMEOUT_MS = 300_000
/** Preference order of a member that names no assignor (Kafka Java's default list first). */
export const DEFAULT_ASSIGNORS = ['range', 'cooperative-sticky', 'roundrobin']

const GROUP_PREFIX = 'group/'
const OFFSET_PREFIX = 'offset/'
const enc = (groupId: string) => encodeURIComponent(groupId)
const groupKey = (groupId: string) => `${GROUP_PREFIX}${enc(groupId)}`
const offsetPrefix = (groupId: string) => `${OFFSET_PREFIX}${enc(groupId)}/`
const offsetKey = (groupId: string, topic: string, partition: number) => `${offsetPrefix(groupId)}${topic}/${partition}`
const tpKey = (topic: string, partition: number) => `${topic}\u0000${partition}`
const splitTpKey = (k: string): [string, number] => {
  const i = k.lastIndexOf('\u0000')
  return [k.slice(0, i), Number(k.slice(i + 1))]
}

function fail(code: ErrorCode, message: string): never {
  throw new EdgelogError(code, message)
}

function validateGroupId(groupId: unknown): asserts groupId is string {
  if (typeof groupId !== 'string' || groupId.length === 0 || groupId.length > 255) {
    fail('INVALID_GROUP_ID', `Invalid group id ${JSON.stringify(groupId)}: a non-empty string of at most 255 characters`)
  }
}

function randomMemberId(): string {
  const bytes = new Uint8Array(16)
  crypto.getRandomValues(bytes)
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
  let out = ''
  let bits = 0
  let value = 0
  for (const b of bytes) {
    value = (value << 8) | b
    bits += 8
    while (bits >= 6) {
      bits -= 6
      out += alphabet[(value >> bits) & 63]
    }
  }
  if (bits > 0) out += alphabet[(value << (6 - bits)) & 63]
  return out
}

function clone<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T
}

/** The group as persisted, without the liveness timers (re-armed from the load time). */
function persistedForm(group: GroupRecord): string {
  return JSON.stringify(group, (k, v) => (k === 'lastSeen' ? undefined : v))
}

function compileRegex(source: string): RegExp {
  try {
    // Kafka matches the whole topic name (Pattern.matches).
    return new RegExp(`^(?:${source})$`)
  } catch (e) {
    return fail('INVALID_REQUEST', `Invalid subscribed topic regex ${JSON.stringify(source)}: ${(e as Error).message}`)
  }
}

export class GroupCoordinator {
  private readonly storage: StorageAdapter
  private readonly settings: LogSettings
  private readonly now: () => number
  private readonly topicPartitions: GroupCoordinatorOptions['topicPartitions']
  private readonly listTopics: GroupCoordinatorOptions['listTopics']
  private readonly highWatermark: GroupCoordinatorOptions['highWatermark']
  private readonly metadataMaxAgeMs: number

  private readonly groups = new Map<string, GroupRecord>()
  /** Serialised form of each cached group as last stored (to skip writes that change nothing). */
  private readonly stored = new Map<string, string>()
  private readonly offsets = new Map<string, Map<string, OffsetRecord>>()
  private readonly queues = new Map<string, Promise<void>>()
  private readonly metadataCheckedAt = new Map<string, number>()
  private readonly regexes = new Map<string, RegExp>()
  private loading: Promise<void> | undefined

  constructor(options: GroupCoordinatorOptions) {
    this.storage = options.storage
    this.settings = options.settings
    this.now = options.now ?? Date.now
    this.topicPartitions = options.topicPartitions
    this.listTopics = options.listTopics
    this.highWatermark = options.highWatermark
    this.metadataMaxAgeMs = options.metadataMaxAgeMs ?? 0
  }

  private get shared(): boolean {
    return this.storage.capabilities.shared && typeof this.storage.lock === 'function'
  }

  // ---------------------------------------------------------------- loading and persistence

  private ready(): Promise<void> {
    if (!this.loading) {
      this.loading = this.loadAll().catch((e) => {
        this.loading = undefined
        throw e
      })
    }
    return this.loading
  }

  private async loadAll(): Promise<void> {
    const [groups, offsets] = await Promise.all([
      this.storage.listMeta<GroupRecord>(GROUP_PREFIX),
      this.storage.listMeta<OffsetRecord>(OFFSET_PREFIX),
    ])
    const now = this.now()
    for (const { value } of groups) this.cacheGroup(value, now)
    for (const { key, value } of offsets) {
      const rest = key.slice(OFFSET_PREFIX.length)
      const a = rest.indexOf('/')
      const b = rest.lastIndexOf('/')
      if (a < 0 || b <= a) continue
      const groupId = decodeURIComponent(rest.slice(0, a))
      const topic = rest.slice(a + 1, b)
      const partition = Number(rest.slice(b + 1))
      let map = this.offsets.get(groupId)
      if (!map) this.offsets.set(groupId, (map = new Map()))
      map.set(tpKey(topic, partition), value)
    }
  }

  private cacheGroup(group: GroupRecord, now: number): void {
    const g = clone(group)
    if (!this.shared) {
      // As Kafka's coordinator does on fail-over: session and rebalance timers start again.
      for (const m of Object.values(g.members)) {
        m.lastSeen = now
        if (m.revocationDeadline !== null) m.revocationDeadline = now + m.rebalanceTimeoutMs
      }
    }
    this.groups.set(g.groupId, g)
    this.stored.set(g.groupId, persistedForm(g))
  }

  /** Shared stores (browser tabs): another context may have changed the group; read it again. */
  private async reload(groupId: string): Promise<void> {
    const [group, offsets] = await Promise.all([
      this.storage.getMeta<GroupRecord>(groupKey(groupId)),
      this.storage.listMeta<OffsetRecord>(offsetPrefix(groupId)),
    ])
    if (group) this.cacheGroup(group, this.now())
    else {
      this.groups.delete(groupId)
      this.stored.delete(groupId)
    }
    const map = new Map<string, OffsetRecord>()
    const prefix = offsetPrefix(groupId)
    for (const { key, value } of offsets) {
      const rest = key.slice(prefix.length)
      const b = rest.lastIndexOf('/')
      map.set(tpKey(rest.slice(0, b), Number(rest.slice(b + 1))), value)
    }
    if (map.size > 0) this.offsets.set(groupId, map)
    else this.offsets.delete(groupId)
  }

  /** Runs `fn` alone for this group (in process; across tabs under the store's lock). */
  private async withGroup<T>(groupId: string, fn: () => Promise<T>): Promise<T> {
    await this.ready()
    const run = async () => {
      if (this.shared) await this.reload(groupId)
      return fn()
    }
    const task = () => (this.shared ? this.storage.lock!(`edgelog-group:${groupId}`, run) : run())
    const previous = this.queues.get(groupId) ?? Promise.resolve()
    const result = previous.then(task, task)
    const tail = result.then(() => {}, () => {})
    this.queues.set(groupId, tail)
    void tail.then(() => {
      if (this.queues.get(groupId) === tail) this.queues.delete(groupId)
    })
    return result
  }

  /**
   * Stores `group` (undefined: deletes it) together with offset changes in one commit, then
   * updates the cache. Skips the write when nothing but liveness timers changed.
   */
  private async save(
    groupId: string,
    group: GroupRecord | undefined,
    offsetPuts: Array<{ topic: string; partition: number; record: OffsetRecord }> = [],
    offsetDeletes: Array<{ topic: string; partition: number }> = [],
    deleteAllOffsets = false,
  ): Promise<void> {
    const meta: Array<{ key: string; value: unknown }> = []
    const form = group ? persistedForm(group) : undefined
    const groupChanged = form !== this.stored.get(groupId) || (group !== undefined && this.shared)
    if (groupChanged) meta.push({ key: groupKey(groupId), value: group ? JSON.parse(JSON.stringify(group)) : undefined })
    for (const { topic, partition, record } of offsetPuts) meta.push({ key: offsetKey(groupId, topic, partition), value: { ...record } })
    for (const { topic, partition } of offsetDeletes) meta.push({ key: offsetKey(groupId, topic, partition), value: undefined })
    if (meta.length > 0 || deleteAllOffsets) {
      await this.storage.commit({
        meta,
        ...(deleteAllOffsets ? { deleteMetaPrefixes: [offsetPrefix(groupId)] } : {}),
      })
    }
    if (group) {
      this.groups.set(groupId, group)
      if (form !== undefined) this.stored.set(groupId, form)
    } else {
      this.groups.delete(groupId)
      this.stored.delete(groupId)
      this.metadataCheckedAt.delete(groupId)
    }
    if (deleteAllOffsets) this.offsets.delete(groupId)
    if (offsetPuts.length > 0 || offsetDeletes.length > 0) {
      let map = this.offsets.get(groupId)
      if (!map) this.offsets.set(groupId, (map = new Map()))
      for (const { topic, partition, record } of offsetPuts) map.set(tpKey(topic, partition), record)
      for (const { topic, partition } of offsetDeletes) map.delete(tpKey(topic, partition))
      if (map.size === 0) this.offsets.delete(groupId)
    }
  }

  // ---------------------------------------------------------------- group mechanics

  private regex(source: string): RegExp {
    let re = this.regexes.get(source)
    if (!re) this.regexes.set(source, (re = compileRegex(source)))
    return re
  }

  /** The member's subscribed topics among the group's known topics. */
  private memberTopics(g: GroupRecord, m: MemberRecord): string[] {
    const names = new Set(m.subscribedTopicNames)
    const re = m.subscribedTopicRegex ? this.regex(m.subscribedTopicRegex) : undefined
    return Object.keys(g.topics).filter((t) => names.has(t) || (re !== undefined && re.test(t)))
  }

  /** Re-reads the subscribed topics' partition counts; bumps the epoch when they changed. */
  private async refreshTopics(g: GroupRecord, now: number, force: boolean): Promise<void> {
    const last = this.metadataCheckedAt.get(g.groupId)
    if (!force && last !== undefined && now - last < this.metadataMaxAgeMs) return
    const names = new Set<string>()
    let regexes: RegExp[] = []
    for (const m of Object.values(g.members)) {
      for (const t of m.subscribedTopicNames) names.add(t)
      if (m.subscribedTopicRegex) regexes.push(this.regex(m.subscribedTopicRegex))
    }
    if (regexes.length > 0) {
      for (const t of await this.listTopics()) if (regexes.some((re) => re.test(t))) names.add(t)
    }
    regexes = []
    const counts = names.size > 0 ? await this.topicPartitions([...names].sort(compareStrings)) : {}
    const clean: Record<string, number> = {}
    for (const t of Object.keys(counts).sort(compareStrings)) {
      if (names.has(t) && Number.isInteger(counts[t]) && counts[t] > 0) clean[t] = counts[t]
    }
    if (JSON.stringify(clean) !== JSON.stringify(g.topics)) {
      g.topics = clean
      g.groupEpoch++
    }
    this.metadataCheckedAt.set(g.groupId, now)
  }

  /**
   * The group's assignor: the first in the oldest member's preference list that every member
   * supports. undefined when the members have none in common.
   */
  private selectAssignor(g: GroupRecord): string | undefined {
    const members = Object.values(g.members).sort((a, b) => a.joinedAt - b.joinedAt || compareStrings(a.memberId, b.memberId))
    if (members.length === 0) return g.assignor
    const first = members[0].serverAssignors.length > 0 ? members[0].serverAssignors : DEFAULT_ASSIGNORS
    for (const name of first) {
      if (members.every((m) => m.serverAssignors.length === 0 || m.serverAssignors.includes(name))) return name
    }
    return undefined
  }

  /** Recomputes the target assignment when the group epoch moved past it. */
  private computeTarget(g: GroupRecord): void {
    if (g.assignmentEpoch === g.groupEpoch) return
    const members = Object.values(g.members).sort((a, b) => compareStrings(a.memberId, b.memberId))
    const next: Record<string, PartitionMap> = {}
    if (members.length > 0) {
      const assignor = ASSIGNORS[g.assignor] ?? ASSIGNORS[DEFAULT_ASSIGNORS[0]]
      const result = assignor.assign({
        members: members.map((m) => ({
          memberId: m.memberId,
          instanceId: m.instanceId,
          topics: this.memberTopics(g, m),
          owned: toTopicPartitionList(g.targetAssignment[m.memberId] ?? {}),
        })),
        partitionsPerTopic: { ...g.topics },
      })
      for (const m of members) next[m.memberId] = fromTopicPartitions(result[m.memberId] ?? [])
    }
    g.targetAssignment = next
    g.assignmentEpoch = g.groupEpoch
  }

  /** Partitions held (assigned or not yet revoked) by members other than `except`. */
  private heldByOthers(g: GroupRecord, except: string): Set<string> {
    const held = new Set<string>()
    for (const m of Object.values(g.members)) {
      if (m.memberId === except) continue
      for (const [t, p] of pairs(m.assigned)) held.add(tpKey(t, p))
      for (const [t, p] of pairs(m.pendingRevocation)) held.add(tpKey(t, p))
    }
    return held
  }

  /** KIP-848 reconciliation of one member towards its target (CurrentAssignmentBuilder). */
  private reconcile(g: GroupRecord, m: MemberRecord, now: number): void {
    if (m.state === 'unrevoked') {
      const stillOwned = [...pairs(m.pendingRevocation)].some(([t, p]) => has(m.owned, t, p))
      if (stillOwned) return
      m.pendingRevocation = {}
      m.state = 'stable'
      m.revocationDeadline = null
    }
    if (m.memberEpoch === g.assignmentEpoch && m.state === 'stable') return
    const target = g.targetAssignment[m.memberId] ?? {}
    const keep = intersect(m.assigned, target)
    const revoke = minus(m.assigned, target)
    if (!isEmptyMap(revoke)) {
      m.assigned = keep
      m.pendingRevocation = union(m.pendingRevocation, revoke)
      m.state = 'unrevoked'
      m.revocationDeadline = now + m.rebalanceTimeoutMs
      return
    }
    const held = this.heldByOthers(g, m.memberId)
    const wanted = [...pairs(minus(target, m.assigned))]
    const free = wanted.filter(([t, p]) => !held.has(tpKey(t, p)))
    m.assigned = union(keep, fromPairs(free))
    if (m.memberEpoch !== g.assignmentEpoch) {
      m.previousMemberEpoch = m.memberEpoch
      m.memberEpoch = g.assignmentEpoch
    }
    m.state = free.length < wanted.length ? 'unreleased' : 'stable'
  }

  private removeMember(g: GroupRecord, memberId: string, now: number): void {
    delete g.members[memberId]
    delete g.targetAssignment[memberId]
    g.groupEpoch++
    if (Object.keys(g.members).length === 0) g.emptySince = now
  }

  /** Drops members past their session timeout or rebalance (revocation) timeout. */
  private expireMembers(g: GroupRecord, now: number): boolean {
    let changed = false
    const epochBefore = g.groupEpoch
    for (const m of Object.values(g.members)) {
      const sessionOver = now >= m.lastSeen + m.sessionTimeoutMs
      const revocationOver = m.state === 'unrevoked' && m.revocationDeadline !== null && now >= m.revocationDeadline
      if (sessionOver || revocationOver) {
        this.removeMember(g, m.memberId, now)
        changed = true
      }
    }
    if (changed) {
      g.groupEpoch = epochBefore + 1
      const assignor = this.selectAssignor(g)
      if (assignor !== undefined) g.assignor = assignor
      this.computeTarget(g)
      // Partitions freed by the removed members go to their new owners at once when nothing
      // else holds them; members still to revoke something keep waiting for their heartbeat.
      for (const m of Object.values(g.members)) if (!m.away && m.state !== 'unrevoked') this.reconcile(g, m, now)
    }
    return changed
  }

  /** Lazy expiry at the start of every request on the group. */
  private async expireGroupMembers(groupId: string, now: number): Promise<void> {
    const current = this.groups.get(groupId)
    if (!current) return
    const g = clone(current)
    if (this.expireMembers(g, now)) await this.save(groupId, g)
  }

  private staticMember(g: GroupRecord, instanceId: string): MemberRecord | undefined {
    return Object.values(g.members).find((m) => m.instanceId === instanceId)
  }

  // ---------------------------------------------------------------- the Broker protocol

  async heartbeat(req: GroupHeartbeatRequest, context?: { clientHost?: string }): Promise<GroupHeartbeatResponse> {
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
      if (regexSource !== '') this.regex(regexSource)
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

    return this.withGroup(req.groupId, async () => {
      const now = this.now()
      await this.expireGroupMembers(req.groupId, now)
      const current = this.groups.get(req.groupId)
      const g = current ? clone(current) : newGroup(req.groupId, now)
      const epochBefore = g.groupEpoch

      // ---- leaving
      if (epoch === -1 || epoch === -2) {
        if (!current) fail('UNKNOWN_MEMBER_ID', `Unknown member ${memberIdIn} in group ${req.groupId}`)
        const m = this.findMember(g, memberIdIn, instanceId)
        if (epoch === -1) {
          this.removeMember(g, m.memberId, now)
          const assignor = this.selectAssignor(g)
          if (assignor !== undefined) g.assignor = assignor
          this.computeTarget(g)
        } else {
          m.away = true
          m.lastSeen = now
        }
        await this.save(req.groupId, g)
        return { memberId: m.memberId, memberEpoch: epoch, heartbeatIntervalMs: 0, assignment: null }
      }

      // ---- joining or heart-beating
      let m: MemberRecord
      const joining = epoch === 0
      if (joining) {
        m = this.join(g, memberIdIn, instanceId, reported, now)
      } else {
        if (!current) fail('UNKNOWN_MEMBER_ID', `Unknown member ${memberIdIn} in group ${req.groupId}`)
        m = this.findMember(g, memberIdIn, instanceId)
        if (m.away) fail('FENCED_MEMBER_EPOCH', `Member ${m.memberId} left the group; rejoin with epoch 0`)
        const lostResponse = epoch === m.previousMemberEpoch && reported !== null && isEmptyMap(minus(reported, union(m.assigned, m.pendingRevocation)))
        if (epoch !== m.memberEpoch && !lostResponse) {
          fail('FENCED_MEMBER_EPOCH', `Member ${m.memberId} sent epoch ${epoch}; its epoch is ${m.memberEpoch}`)
        }
        if (lostResponse && epoch !== m.memberEpoch) m.sentAssignment = null
      }

      // subscription and settings
      m.lastSeen = now
      if (req.clientId != null) m.clientId = String(req.clientId)
      if (context?.clientHost) m.clientHost = context.clientHost
      if (req.rackId !== undefined && req.rackId !== null) m.rackId = req.rackId
      if (req.sessionTimeoutMs != null && req.sessionTimeoutMs > 0) m.sessionTimeoutMs = req.sessionTimeoutMs
      if (req.rebalanceTimeoutMs != null && req.rebalanceTimeoutMs > 0) m.rebalanceTimeoutMs = req.rebalanceTimeoutMs
      if (names !== null) {
        const sorted = [...new Set(names)].sort(compareStrings)
        if (JSON.stringify(sorted) !== JSON.stringify(m.subscribedTopicNames)) {
          m.subscribedTopicNames = sorted
          g.groupEpoch++
        }
      }
      if (regexSource !== null) {
        const next = regexSource === '' ? null : regexSource
        if (next !== m.subscribedTopicRegex) {
          m.subscribedTopicRegex = next
          g.groupEpoch++
        }
      }
      if (assignors !== null && JSON.stringify(assignors) !== JSON.stringify(m.serverAssignors)) m.serverAssignors = assignors
      if (reported !== null) m.owned = reported

      const assignor = this.selectAssignor(g)
      if (assignor === undefined) {
        fail('INCONSISTENT_GROUP_PROTOCOL', `Member ${m.memberId}'s assignors (${m.serverAssignors.join(', ') || 'any'}) have none in common with the group's members`)
      }
      if (assignor !== g.assignor) {
        if (g.assignor !== '') g.groupEpoch++
        g.assignor = assignor
      }
      await this.refreshTopics(g, now, g.groupEpoch !== epochBefore || joining)
      // One request is one group epoch, however many things it changed.
      if (g.groupEpoch > epochBefore) g.groupEpoch = epochBefore + 1
      g.emptySince = null
      this.computeTarget(g)
      this.reconcile(g, m, now)

      const list = toTopicPartitionList(m.assigned)
      const serial = JSON.stringify(list)
      const send = joining || serial !== m.sentAssignment || (reported !== null && canonical(reported) !== serial)
      if (send) m.sentAssignment = serial
      await this.save(req.groupId, g)
      return {
        memberId: m.memberId,
        memberEpoch: m.memberEpoch,
        heartbeatIntervalMs: this.settings['group.consumer.heartbeat.interval.ms'],
        assignment: send ? list : null,
      }
    })
  }

  /** The member a request (other than a join) is about, with Kafka's static-membership checks. */
  private findMember(g: GroupRecord, memberId: string, instanceId: string | null): MemberRecord {
    if (instanceId !== null) {
      const s = this.staticMember(g, instanceId)
      if (!s) fail('UNKNOWN_MEMBER_ID', `No member with instance id ${instanceId} in group ${g.groupId}`)
      if (s.memberId !== memberId) fail('FENCED_INSTANCE_ID', `Instance id ${instanceId} belongs to member ${s.memberId}, not ${memberId}`)
      return s
    }
    const m = g.members[memberId]
    if (!m) fail('UNKNOWN_MEMBER_ID', `Unknown member ${memberId} in group ${g.groupId}`)
    return m
  }

  private join(g: GroupRecord, memberIdIn: string, instanceId: string | null, reported: PartitionMap | null, now: number): MemberRecord {
    const fresh = (memberId: string): MemberRecord => ({
      memberId, instanceId, clientId: '', clientHost: '', rackId: null, memberEpoch: 0, previousMemberEpoch: -1,
      away: false, state: 'stable', subscribedTopicNames: [], subscribedTopicRegex: null, serverAssignors: [],
      assigned: {}, pendingRevocation: {}, owned: {}, sentAssignment: null,
      sessionTimeoutMs: this.settings['group.consumer.session.timeout.ms'],
      rebalanceTimeoutMs: DEFAULT_REBALANCE_TIMEOUT_MS, lastSeen: now, revocationDeadline: null, joinedAt: now,
    })
    if (instanceId !== null) {
      const s = this.staticMember(g, instanceId)
      if (s && !s.away) {
        if (memberIdIn !== '' && s.memberId === memberIdIn) return this.rejoin(s, reported)
        fail('UNRELEASED_INSTANCE_ID', `Instance id ${instanceId} is still in use by member ${s.memberId}`)
      }
      if (s) {
        // A static member coming back within its session timeout: it takes over the old
        // member's epoch and assignment, with no rebalance.
        const memberId = memberIdIn || randomMemberId()
        if (memberId !== s.memberId && g.members[memberId]) fail('FENCED_INSTANCE_ID', `Member id ${memberId} is already in use`)
        const m: MemberRecord = { ...clone(s), memberId, away: false, owned: reported ?? {}, sentAssignment: null, lastSeen: now }
        const target = g.targetAssignment[s.memberId]
        delete g.members[s.memberId]
        delete g.targetAssignment[s.memberId]
        g.members[memberId] = m
        if (target) g.targetAssignment[memberId] = target
        return m
      }
    }
    if (memberIdIn !== '' && g.members[memberIdIn]) {
      const m = g.members[memberIdIn]
      if (m.instanceId !== instanceId) fail('FENCED_INSTANCE_ID', `Member ${memberIdIn} has instance id ${m.instanceId}`)
      return this.rejoin(m, reported)
    }
    const memberId = memberIdIn || randomMemberId()
    const m = fresh(memberId)
    g.members[memberId] = m
    g.groupEpoch++
    return m
  }

  /** A known member joining again (epoch 0): it holds only what it reports owning. */
  private rejoin(m: MemberRecord, reported: PartitionMap | null): MemberRecord {
    const owned = reported ?? {}
    m.assigned = intersect(m.assigned, owned)
    m.pendingRevocation = intersect(m.pendingRevocation, owned)
    m.owned = owned
    m.sentAssignment = null
    m.away = false
    if (m.state === 'unrevoked' && isEmptyMap(m.pendingRevocation)) {
      m.state = 'stable'
      m.revocationDeadline = null
    }
    if (m.state === 'stable') m.state = 'unreleased' // re-check its target on this heartbeat
    return m
  }

  async commitOffsets(req: { groupId: string; memberId?: string; memberEpoch?: number; offsets: OffsetCommit[] }): Promise<void> {
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
    return this.withGroup(req.groupId, async () => {
      const now = this.now()
      await this.expireGroupMembers(req.groupId, now)
      const current = this.groups.get(req.groupId)
      let group: GroupRecord | undefined
      let member: MemberRecord | undefined
      if (!current) {
        if (memberEpoch >= 0) fail('GROUP_ID_NOT_FOUND', `Group ${req.groupId} does not exist`)
        group = newGroup(req.groupId, now) // an admin / simple consumer commit creates the group
      } else if (memberEpoch < 0 && Object.keys(current.members).length === 0) {
        group = current
      } else {
        member = current.members[memberId]
        if (!member || member.away) fail('UNKNOWN_MEMBER_ID', `Unknown member ${JSON.stringify(memberId)} in group ${req.groupId} (commits without a member need an empty group)`)
        if (memberEpoch > member.memberEpoch) fail('FENCED_MEMBER_EPOCH', `Epoch ${memberEpoch} is ahead of member ${memberId}'s epoch ${member.memberEpoch}`)
        if (memberEpoch < member.memberEpoch) fail('ILLEGAL_GENERATION', `Stale epoch ${memberEpoch}: member ${memberId} is at epoch ${member.memberEpoch}`)
        group = current
      }
      const held = member ? union(member.assigned, member.pendingRevocation) : undefined
      const puts = new Map<string, { topic: string; partition: number; record: OffsetRecord }>()
      for (const o of req.offsets) {
        let hw: number
        try {
          hw = await this.highWatermark(o.topic, o.partition)
        } catch (e) {
          if (e instanceof EdgelogError) throw e
          throw new EdgelogError('UNKNOWN_TOPIC_OR_PARTITION', `Unknown topic partition ${o.topic}-${o.partition}`, { cause: e })
        }
        if (!(hw >= 0)) fail('UNKNOWN_TOPIC_OR_PARTITION', `Unknown topic partition ${o.topic}-${o.partition}`)
        if (o.offset > hw) fail('OFFSET_OUT_OF_RANGE', `Offset ${o.offset} for ${o.topic}-${o.partition} is past the high watermark ${hw}`)
        if (held && !has(held, o.topic, o.partition)) {
          fail('ILLEGAL_GENERATION', `Member ${memberId} does not own ${o.topic}-${o.partition} at epoch ${memberEpoch}`)
        }
        puts.set(tpKey(o.topic, o.partition), {
          topic: o.topic, partition: o.partition,
          record: { offset: o.offset, metadata: o.metadata ?? null, commitTimestamp: now },
        })
      }
      if (puts.size === 0 && current) return
      await this.save(req.groupId, current ? group : clone(group), [...puts.values()])
    })
  }

  async fetchOffsets(req: { groupId: string; topics?: string[] }): Promise<CommittedOffset[]> {
    validateGroupId(req?.groupId)
    return this.withGroup(req.groupId, async () => {
      const committed = this.offsets.get(req.groupId) ?? new Map<string, OffsetRecord>()
      const out: CommittedOffset[] = []
      const entry = (topic: string, partition: number): CommittedOffset => {
        const r = committed.get(tpKey(topic, partition))
        return { topic, partition, offset: r ? r.offset : -1, metadata: r ? r.metadata : null }
      }
      if (req.topics) {
        const topics = [...new Set(req.topics)]
        const counts = await this.topicPartitions(topics)
        for (const topic of topics) {
          const n = counts[topic]
          if (n === undefined) {
            for (const k of committed.keys()) {
              const [t, p] = splitTpKey(k)
              if (t === topic) out.push(entry(t, p))
            }
          } else for (let p = 0; p < n; p++) out.push(entry(topic, p))
        }
        return out
      }
      for (const k of committed.keys()) {
        const [t, p] = splitTpKey(k)
        out.push(entry(t, p))
      }
      return out.sort((a, b) => compareStrings(a.topic, b.topic) || a.partition - b.partition)
    })
  }

  async describeGroups(req: { groupIds: string[] }): Promise<GroupDescription[]> {
    const out: GroupDescription[] = []
    for (const groupId of req?.groupIds ?? []) {
      const dead: GroupDescription = { groupId, state: 'Dead', protocolType: 'consumer', protocol: '', groupEpoch: 0, members: [] }
      if (typeof groupId !== 'string' || groupId === '') {
        out.push(dead)
        continue
      }
      out.push(await this.withGroup(groupId, async () => {
        await this.expireGroupMembers(groupId, this.now())
        const g = this.groups.get(groupId)
        if (!g) return dead
        return {
          groupId,
          state: groupState(g),
          protocolType: 'consumer' as const,
          protocol: g.assignor,
          groupEpoch: g.groupEpoch,
          members: Object.values(g.members)
            .sort((a, b) => compareStrings(a.memberId, b.memberId))
            .map((m) => ({
              memberId: m.memberId,
              instanceId: m.instanceId,
              clientId: m.clientId,
              clientHost: m.clientHost,
              memberEpoch: m.memberEpoch,
              subscribedTopicNames: [...m.subscribedTopicNames],
              assignment: toTopicPartitionList(m.assigned),
            })),
        }
      }))
    }
    return out
  }

  async listGroups(): Promise<Array<{ groupId: string; protocolType: string; state: string }>> {
    await this.ready()
    if (this.shared) {
      const stored = await this.storage.listMeta<GroupRecord>(GROUP_PREFIX)
      return stored
        .map(({ value }) => ({ groupId: value.groupId, protocolType: 'consumer', state: groupState(value) }))
        .sort((a, b) => compareStrings(a.groupId, b.groupId))
    }
    return [...this.groups.values()]
      .map((g) => ({ groupId: g.groupId, protocolType: 'consumer', state: groupState(g) }))
      .sort((a, b) => compareStrings(a.groupId, b.groupId))
  }

  async deleteGroups(req: { groupIds: string[] }): Promise<Array<{ groupId: string; errorCode: number; error?: { code: ErrorCode; message: string } }>> {
    const out: Array<{ groupId: string; errorCode: number; error?: { code: ErrorCode; message: string } }> = []
    for (const groupId of req?.groupIds ?? []) {
      try {
        validateGroupId(groupId)
        await this.withGroup(groupId, async () => {
          await this.expireGroupMembers(groupId, this.now())
          const g = this.groups.get(groupId)
          if (!g) fail('GROUP_ID_NOT_FOUND', `Group ${groupId} does not exist`)
          if (Object.keys(g.members).length > 0) fail('NON_EMPTY_GROUP', `Group ${groupId} has ${Object.keys(g.members).length} member(s)`)
          await this.save(groupId, undefined, [], [], true)
        })
        out.push({ groupId, errorCode: 0 })
      } catch (e) {
        if (!(e instanceof EdgelogError)) throw e
        out.push({ groupId, errorCode: e.errorCode, error: e.toJSON() })
      }
    }
    return out
  }

  async groupLag(req: { groupId: string }): Promise<GroupOffsetsWithLag[]> {
    validateGroupId(req?.groupId)
    return this.withGroup(req.groupId, async () => {
      const g = this.groups.get(req.groupId)
      const committed = this.offsets.get(req.groupId) ?? new Map<string, OffsetRecord>()
      if (!g && committed.size === 0) fail('GROUP_ID_NOT_FOUND', `Group ${req.groupId} does not exist`)
      const topics = new Set<string>(g ? Object.keys(g.topics) : [])
      for (const k of committed.keys()) topics.add(splitTpKey(k)[0])
      const counts = topics.size > 0 ? await this.topicPartitions([...topics]) : {}
      const out: GroupOffsetsWithLag[] = []
      for (const topic of [...topics].sort(compareStrings)) {
        const partitions = new Set<number>()
        for (let p = 0; p < (counts[topic] ?? 0); p++) partitions.add(p)
        for (const k of committed.keys()) {
          const [t, p] = splitTpKey(k)
          if (t === topic) partitions.add(p)
        }
        for (const partition of [...partitions].sort((a, b) => a - b)) {
          let hw: number
          try {
            hw = await this.highWatermark(topic, partition)
          } catch {
            continue
          }
          if (!(hw >= 0)) continue
          const r = committed.get(tpKey(topic, partition))
          const offset = r ? r.offset : -1
          out.push({
            topic, partition, offset, metadata: r ? r.metadata : null, highWatermark: hw,
            lag: Math.max(0, hw - Math.max(offset, 0)),
          })
        }
      }
      return out
    })
  }

  /**
   * Removes members past their session (or revocation) timeout and, for empty groups, offsets
   * past offsets.retention.minutes (counted from the later of the commit and the time the group
   * became empty); an empty group with no offsets left is deleted once the retention has passed.
   */
  async expire(): Promise<void> {
    await this.ready()
    const ids = new Set<string>([...this.groups.keys(), ...this.offsets.keys()])
    if (this.shared) for (const { value } of await this.storage.listMeta<GroupRecord>(GROUP_PREFIX)) ids.add(value.groupId)
    for (const groupId of ids) {
      await this.withGroup(groupId, async () => {
        const now = this.now()
        await this.expireGroupMembers(groupId, now)
        const g = this.groups.get(groupId)
        if (g && Object.keys(g.members).length > 0) return
        const retention = this.settings['offsets.retention.minutes'] * 60_000
        const since = g?.emptySince ?? 0
        const committed = this.offsets.get(groupId) ?? new Map<string, OffsetRecord>()
        const expired: Array<{ topic: string; partition: number }> = []
        for (const [k, r] of committed) {
          if (now >= Math.max(r.commitTimestamp, since) + retention) {
            const [topic, partition] = splitTpKey(k)
            expired.push({ topic, partition })
          }
        }
        const deleteGroup = g !== undefined && expired.length === committed.size && now >= since + retention
        if (expired.length === 0 && !deleteGroup) return
        await this.save(groupId, deleteGroup ? undefined : g, [], expired)
      })
    }
  }

  /** When `expire` next has work (ms since epoch), or undefined when nothing is due ever. */
  nextDeadline(): number | undefined {
    let next: number | undefined
    const consider = (t: number) => {
      if (next === undefined || t < next) next = t
    }
    const retention = this.settings['offsets.retention.minutes'] * 60_000
    for (const g of this.groups.values()) {
      const members = Object.values(g.members)
      for (const m of members) {
        consider(m.lastSeen + m.sessionTimeoutMs)
        if (m.state === 'unrevoked' && m.revocationDeadline !== null) consider(m.revocationDeadline)
      }
      if (members.length === 0) {
        const since = g.emptySince ?? 0
        const committed = this.offsets.get(g.groupId)
        if (!committed || committed.size === 0) consider(since + retention)
        else for (const r of committed.values()) consider(Math.max(r.commitTimestamp, since) + retention)
      }
    }
    for (const [groupId, committed] of this.offsets) {
      if (this.groups.has(groupId)) continue
      for (const r of committed.values()) consider(r.commitTimestamp + retention)
    }
    return next
  }

  /** The committed offset of one partition (undefined when none), for the consumer's start position. */
  async committedOffset(groupId: string, topic: string, partition: number): Promise<OffsetRecord | undefined> {
    await this.ready()
    if (this.shared) await this.reload(groupId)
    const r = this.offsets.get(groupId)?.get(tpKey(topic, partition))
    return r ? { ...r } : undefined
  }
}
