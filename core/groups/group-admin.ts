/** The admin's view of groups: describe, list and delete (an empty group only, as in Kafka). */
import type { GroupDescription } from '../broker.ts'
import { EdgelogError, type ErrorCode } from '../errors.ts'
import { compareStrings } from './assignors/types.ts'
import type { CoordinatorContext } from './coordinator-context.ts'
import { expireGroupMembers } from './expiry.ts'
import { groupState, toTopicPartitionList } from './group-state.ts'
import { fail, validateGroupId } from './requests.ts'

export type DeleteGroupResult = { groupId: string; errorCode: number; error?: { code: ErrorCode; message: string } }

export async function describeGroups(ctx: CoordinatorContext, req: { groupIds: string[] }): Promise<GroupDescription[]> {
  const out: GroupDescription[] = []
  for (const groupId of req?.groupIds ?? []) {
    const dead: GroupDescription = { groupId, state: 'Dead', protocolType: 'consumer', protocol: '', groupEpoch: 0, members: [] }
    if (typeof groupId !== 'string' || groupId === '') {
      out.push(dead)
      continue
    }
    out.push(await ctx.store.withGroup(groupId, async () => {
      await expireGroupMembers(ctx, groupId, ctx.now())
      const g = ctx.store.groups.get(groupId)
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

export async function listGroups(ctx: CoordinatorContext): Promise<Array<{ groupId: string; protocolType: string; state: string }>> {
  const { store } = ctx
  await store.ready()
  // With a shared store another context may have created or deleted groups: ask the store.
  const groups = store.shared ? await store.storedGroups() : [...store.groups.values()]
  return groups
    .map((g) => ({ groupId: g.groupId, protocolType: 'consumer', state: groupState(g) }))
    .sort((a, b) => compareStrings(a.groupId, b.groupId))
}

export async function deleteGroups(ctx: CoordinatorContext, req: { groupIds: string[] }): Promise<DeleteGroupResult[]> {
  const out: DeleteGroupResult[] = []
  for (const groupId of req?.groupIds ?? []) {
    try {
      validateGroupId(groupId)
      await ctx.store.withGroup(groupId, async () => {
        await expireGroupMembers(ctx, groupId, ctx.now())
        const g = ctx.store.groups.get(groupId)
        if (!g) fail('GROUP_ID_NOT_FOUND', `Group ${groupId} does not exist`)
        if (Object.keys(g.members).length > 0) fail('NON_EMPTY_GROUP', `Group ${groupId} has ${Object.keys(g.members).length} member(s)`)
        await ctx.store.save(groupId, undefined, [], [], true)
      })
      out.push({ groupId, errorCode: 0 })
    } catch (e) {
      if (!(e instanceof EdgelogError)) throw e
      out.push({ groupId, errorCode: e.errorCode, error: e.toJSON() })
    }
  }
  return out
}
