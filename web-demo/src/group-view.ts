/**
 * A consumer group: its members (this tab's marked), which partitions each one owns, and each
 * partition's committed offset and lag as a bar that shrinks as the members consume.
 */
import { h } from './dom.ts'

export interface GroupMemberView { memberId: string; clientId: string; memberAssignment: Record<string, number[]> }
export interface GroupView { groupId: string; state: string; protocol: string; members: GroupMemberView[] }
export interface LagView { topic: string; partition: number; offset: number; highWatermark: number; lag: number }

/** Partitions of `topic` owned by each member, and those owned by none. */
export function ownership(group: GroupView, topic: string, partitions: number): { owner: Map<number, string>; idle: string[]; unassigned: number[] } {
  const owner = new Map<number, string>()
  const idle: string[] = []
  for (const m of group.members) {
    const mine = m.memberAssignment[topic] ?? []
    if (mine.length === 0) idle.push(m.memberId)
    for (const p of mine) owner.set(p, m.memberId)
  }
  const unassigned: number[] = []
  for (let p = 0; p < partitions; p++) if (!owner.has(p)) unassigned.push(p)
  return { owner, idle, unassigned }
}

const short = (id: string) => (id.length > 10 ? `${id.slice(0, 8)}…` : id)

export function renderGroup(group: GroupView, lag: LagView[], mine: ReadonlySet<string>): HTMLElement {
  const members = h('ul', { class: 'members', 'aria-label': `members of ${group.groupId}` },
    group.members.map((m) => {
      const parts = Object.entries(m.memberAssignment).flatMap(([t, ps]) => ps.map((p) => `${t}-${p}`))
      const me = mine.has(m.memberId)
      return h('li', { class: me ? 'member me' : 'member', 'data-member': m.memberId, 'data-partitions': parts.join(',') },
        h('span', { class: 'who', title: `member ${m.memberId}` }, me ? `this tab (${m.clientId})` : `${m.clientId || 'a consumer'} (member ${short(m.memberId)})`),
        ' ',
        parts.length
          ? parts.map((p) => h('span', { class: 'chip' }, p))
          : h('span', { class: 'muted' }, 'idle: no partition (more consumers than partitions)'))
    }))
  const maxHw = Math.max(1, ...lag.map((l) => l.highWatermark))
  const lagList = h('table', { class: 'lag' },
    h('caption', {}, 'Committed offset and lag per partition'),
    h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'partition'), h('th', { scope: 'col' }, 'committed'), h('th', { scope: 'col' }, 'log end'), h('th', { scope: 'col' }, 'lag'), h('th', { scope: 'col' }, h('span', { class: 'sr-only' }, 'lag bar')))),
    h('tbody', {}, lag.map((l) => h('tr', { 'data-lag': `${l.topic}-${l.partition}` },
      h('th', { scope: 'row' }, `${l.topic}-${l.partition}`),
      h('td', {}, l.offset < 0 ? '–' : String(l.offset)),
      h('td', {}, String(l.highWatermark)),
      h('td', {}, String(l.lag)),
      h('td', {}, h('span', { class: 'bar', style: { width: `${Math.round((l.lag / maxHw) * 100)}%` }, 'aria-hidden': 'true' }))))))
  return h('div', { class: 'group', 'data-group': group.groupId },
    h('p', {}, h('strong', {}, group.groupId), ` · state ${group.state}`, group.protocol ? ` · assignor ${group.protocol}` : '',
      ` · ${group.members.length} member${group.members.length === 1 ? '' : 's'}`),
    group.members.length ? members : h('p', { class: 'muted' }, 'No members: join from this tab, and from others.'),
    lag.length ? lagList : null)
}
