/**
 * Time-driven changes: members past their session (or revocation) timeout, and committed
 * offsets past offsets.retention.minutes. Members expire lazily at the start of every request
 * on their group and all at once in `expire`, which runs at `nextDeadline`.
 */
import type { CoordinatorContext } from './coordinator-context.ts'
import type { OffsetRecord } from './group-store.ts'
import { clone, splitTpKey } from './group-state.ts'
import { expireMembers } from './membership.ts'

/** Lazy expiry at the start of every request on the group. */
export async function expireGroupMembers(ctx: CoordinatorContext, groupId: string, now: number): Promise<void> {
  const current = ctx.store.groups.get(groupId)
  if (!current) return
  const g = clone(current)
  if (expireMembers(g, now, ctx.subscriptions.memberTopics)) await ctx.store.save(groupId, g)
}

/**
 * Removes members past their session (or revocation) timeout and, for empty groups, offsets
 * past offsets.retention.minutes (counted from the later of the commit and the time the group
 * became empty); an empty group with no offsets left is deleted once the retention has passed.
 */
export async function expire(ctx: CoordinatorContext): Promise<void> {
  const { store } = ctx
  await store.ready()
  const ids = new Set<string>([...store.groups.keys(), ...store.offsets.keys()])
  if (store.shared) for (const group of await store.storedGroups()) ids.add(group.groupId)
  for (const groupId of ids) {
    await store.withGroup(groupId, async () => {
      const now = ctx.now()
      await expireGroupMembers(ctx, groupId, now)
      const g = store.groups.get(groupId)
      if (g && Object.keys(g.members).length > 0) return
      const retention = ctx.settings['offsets.retention.minutes'] * 60_000
      const since = g?.emptySince ?? 0
      const committed = store.offsets.get(groupId) ?? new Map<string, OffsetRecord>()
      const expired: Array<{ topic: string; partition: number }> = []
      for (const [k, r] of committed) {
        if (now >= Math.max(r.commitTimestamp, since) + retention) {
          const [topic, partition] = splitTpKey(k)
          expired.push({ topic, partition })
        }
      }
      const deleteGroup = g !== undefined && expired.length === committed.size && now >= since + retention
      if (expired.length === 0 && !deleteGroup) return
      await store.save(groupId, deleteGroup ? undefined : g, [], expired)
    })
  }
}

/** When `expire` next has work (ms since epoch), or undefined when nothing is due ever. */
export function nextDeadline(ctx: CoordinatorContext): number | undefined {
  const { store } = ctx
  let next: number | undefined
  const consider = (t: number) => {
    if (next === undefined || t < next) next = t
  }
  const retention = ctx.settings['offsets.retention.minutes'] * 60_000
  for (const g of store.groups.values()) {
    const members = Object.values(g.members)
    for (const m of members) {
      consider(m.lastSeen + m.sessionTimeoutMs)
      if (m.state === 'unrevoked' && m.revocationDeadline !== null) consider(m.revocationDeadline)
    }
    if (members.length === 0) {
      const since = g.emptySince ?? 0
      const committed = store.offsets.get(g.groupId)
      if (!committed || committed.size === 0) consider(since + retention)
      else for (const r of committed.values()) consider(Math.max(r.commitTimestamp, since) + retention)
    }
  }
  for (const [groupId, committed] of store.offsets) {
    if (store.groups.has(groupId)) continue
    for (const r of committed.values()) consider(r.commitTimestamp + retention)
  }
  return next
}
