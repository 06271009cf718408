/**
 * The followed topic's sync, as a person wants to see it: online or offline, records waiting in
 * the outbox, how far the browser's replica is behind the edge, and when it last heard from it.
 */
import type { SyncState } from '../../core/sync/view.ts'
import type { ReplicaPartitionStatus } from '../../core/log/replicas.ts'
import { ago, h } from './dom.ts'

/**
 * What the view reads of the sync's status (core's SyncState, `log.sync.status()`): derived from
 * core's types, so a renamed field there fails here at compile time.
 */
export type SyncStateView = Omit<SyncState, 'recent' | 'topics'> & {
  topics: Array<Pick<SyncState['topics'][number], 'topic' | 'source'> & {
    partitions: Array<Pick<ReplicaPartitionStatus, 'partition' | 'highWatermark' | 'leaderHighWatermark' | 'lag' | 'syncedAt'>>
  }>
}

/** When the browser last heard from the edge: the sync's own time, or the newest replica's. */
export function lastSync(state: SyncStateView): number {
  return Math.max(state.lastSyncAt, ...state.topics.flatMap((t) => t.partitions.map((p) => p.syncedAt)))
}

export function replicaLag(state: SyncStateView): number {
  return state.topics.reduce((n, t) => n + t.partitions.reduce((m, p) => m + Math.max(0, p.lag), 0), 0)
}

/** `networkOnline`: the browser's own view (navigator.onLine); the sync's view comes from its status. */
export function renderSync(state: SyncStateView | undefined, networkOnline: boolean, now: number): HTMLElement {
  if (!state) return h('p', { class: 'muted', 'data-sync': 'none' }, 'The browser log is opening…')
  const online = state.online && networkOnline
  const status = online ? 'online' : 'offline'
  return h('div', { class: `sync ${status}`, 'data-sync': status },
    h('dl', { class: 'facts' },
      h('dt', {}, 'edge'), h('dd', { 'data-fact': 'status' }, h('span', { class: `dot ${status}`, 'aria-hidden': 'true' }), online ? 'online' : 'offline',
        h('span', { class: 'muted' }, ` (follower ${state.follower}, forwarder ${state.forwarder})`)),
      h('dt', {}, 'outbox waiting'), h('dd', { 'data-fact': 'outbox' }, String(state.outbox.waiting), state.outbox.deadLetters ? ` · ${state.outbox.deadLetters} refused for good` : ''),
      h('dt', {}, 'replica lag'), h('dd', { 'data-fact': 'lag' }, `${replicaLag(state)} record${replicaLag(state) === 1 ? '' : 's'} behind the edge`),
      h('dt', {}, 'last sync'), h('dd', { 'data-fact': 'last-sync' }, ago(lastSync(state), now))),
    state.topics.length === 0 ? h('p', { class: 'muted' }, 'No followed topic synced yet: the browser learns it from the edge when online.') : null,
    !online && state.error ? h('p', { class: 'muted' }, `Last error: ${state.error.code}: ${state.error.message}`) : null)
}
