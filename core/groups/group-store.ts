/**
 * The coordinator's groups and committed offsets: stored under `group/<groupId>` and
 * `offset/<groupId>/<topic>/<partition>` (the group id URI-encoded in keys), cached in memory,
 * and changed only through `save`, one `storage.commit` per change. Requests on one group run
 * one at a time (`withGroup`); with a shared store (browser tabs) under the store's lock, after
 * reading the group again.
 */
import type { StorageAdapter } from '../storage.ts'
import { clone, tpKey, type GroupRecord } from './group-state.ts'

/** One committed offset as stored. */
export interface OffsetRecord {
  offset: number
  metadata: string | null
  commitTimestamp: number
}

const GROUP_PREFIX = 'group/'
const OFFSET_PREFIX = 'offset/'
const enc = (groupId: string) => encodeURIComponent(groupId)
const groupKey = (groupId: string) => `${GROUP_PREFIX}${enc(groupId)}`
const offsetPrefix = (groupId: string) => `${OFFSET_PREFIX}${enc(groupId)}/`
const offsetKey = (groupId: string, topic: string, partition: number) => `${offsetPrefix(groupId)}${topic}/${partition}`

/** The group as persisted, without the liveness timers (re-armed from the load time). */
function persistedForm(group: GroupRecord): string {
  return JSON.stringify(group, (k, v) => (k === 'lastSeen' ? undefined : v))
}

export class GroupStore {
  private readonly cachedGroups = new Map<string, GroupRecord>()
  /** Serialised form of each cached group as last stored (to skip writes that change nothing). */
  private readonly stored = new Map<string, string>()
  private readonly cachedOffsets = new Map<string, Map<string, OffsetRecord>>()
  private readonly queues = new Map<string, Promise<void>>()
  /** When each group's topics' partition counts were last read; forgotten with the group. */
  readonly topicsCheckedAt = new Map<string, number>()
  private loading: Promise<void> | undefined

  constructor(private readonly storage: StorageAdapter, private readonly now: () => number) {}

  get shared(): boolean {
    return this.storage.capabilities.shared && typeof this.storage.lock === 'function'
  }

  /** The cached groups, as last stored. */
  get groups(): ReadonlyMap<string, GroupRecord> {
    return this.cachedGroups
  }

  /** The cached committed offsets of each group, by `tpKey`. */
  get offsets(): ReadonlyMap<string, ReadonlyMap<string, OffsetRecord>> {
    return this.cachedOffsets
  }

  /** Every stored group, read from the store (with a shared store the cache may be behind). */
  async storedGroups(): Promise<GroupRecord[]> {
    return (await this.storage.listMeta<GroupRecord>(GROUP_PREFIX)).map(({ value }) => value)
  }

  ready(): Promise<void> {
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
      let map = this.cachedOffsets.get(groupId)
      if (!map) this.cachedOffsets.set(groupId, (map = new Map()))
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
    this.cachedGroups.set(g.groupId, g)
    this.stored.set(g.groupId, persistedForm(g))
  }

  /** Shared stores (browser tabs): another context may have changed the group; read it again. */
  async reload(groupId: string): Promise<void> {
    const [group, offsets] = await Promise.all([
      this.storage.getMeta<GroupRecord>(groupKey(groupId)),
      this.storage.listMeta<OffsetRecord>(offsetPrefix(groupId)),
    ])
    if (group) this.cacheGroup(group, this.now())
    else {
      this.cachedGroups.delete(groupId)
      this.stored.delete(groupId)
    }
    const map = new Map<string, OffsetRecord>()
    const prefix = offsetPrefix(groupId)
    for (const { key, value } of offsets) {
      const rest = key.slice(prefix.length)
      const b = rest.lastIndexOf('/')
      map.set(tpKey(rest.slice(0, b), Number(rest.slice(b + 1))), value)
    }
    if (map.size > 0) this.cachedOffsets.set(groupId, map)
    else this.cachedOffsets.delete(groupId)
  }

  /** Runs `fn` alone for this group (in process; across tabs under the store's lock). */
  async withGroup<T>(groupId: string, fn: () => Promise<T>): Promise<T> {
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
  async save(
    groupId: string,
    group: GroupRecord | undefined,
    offsetPuts: Array<{ topic: string; partition: number; record: OffsetRecord }> = [],
    offsetDeletes: Array<{ topic: string; partition: number }> = [],
    deleteAllOffsets = false,
    /** Other keys committed in the same write (a transaction's pending offsets it replaces: txn-offsets.ts). */
    extraMeta: Array<{ key: string; value: unknown }> = [],
  ): Promise<void> {
    const meta: Array<{ key: string; value: unknown }> = [...extraMeta]
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
      this.cachedGroups.set(groupId, group)
      if (form !== undefined) this.stored.set(groupId, form)
    } else {
      this.cachedGroups.delete(groupId)
      this.stored.delete(groupId)
      this.topicsCheckedAt.delete(groupId)
    }
    if (deleteAllOffsets) this.cachedOffsets.delete(groupId)
    if (offsetPuts.length > 0 || offsetDeletes.length > 0) {
      let map = this.cachedOffsets.get(groupId)
      if (!map) this.cachedOffsets.set(groupId, (map = new Map()))
      for (const { topic, partition, record } of offsetPuts) map.set(tpKey(topic, partition), record)
      for (const { topic, partition } of offsetDeletes) map.delete(tpKey(topic, partition))
      if (map.size === 0) this.cachedOffsets.delete(groupId)
    }
  }
}
