/**
 * Sync: a log following a leader (the edge) — its follower keeping replica topics current,
 * its forwarder delivering what was produced locally to them — plus the status both publish
 * in the store (`sync/status`), so that every context sharing the store (every tab) can show
 * it, though only one runs the sync.
 */
import { EdgelogError } from '../errors.ts'
import type { Broker } from '../broker.ts'
import type { LocalBroker } from '../log/local-broker.ts'
import { Follower, type FollowerEvent } from './follower.ts'
import { Forwarder, type ForwarderEvent } from './forwarder.ts'

export interface SyncOptions {
  /** The leader (edgelog/http's HttpBroker for the edge). */
  leader: Broker
  /** Names the leader (its URL). */
  source: string
  /** Topic names or patterns to follow. */
  follow: Array<string | RegExp>
  maxWaitMs?: number
  discoveryIntervalMs?: number
}

export type SyncEvent = FollowerEvent | ForwarderEvent

/** What `sync/status` holds. */
export interface PublishedSyncStatus {
  source: string
  follower: string
  forwarder: string
  error?: { code: string; message: string }
  /** When the follower last heard from the leader (ms since epoch; -1: never). */
  lastSyncAt: number
  updatedAt: number
  /** The latest notable events (replica resets and stops, dead letters), newest last. */
  recent: NotableEvent[]
}

export interface NotableEvent { at: number; type: string; topic: string; partition?: number; code?: string; message: string }

export const SYNC_STATUS_KEY = 'sync/status'

export class Sync {
  readonly follower: Follower
  readonly forwarder: Forwarder
  private readonly listeners = new Set<(event: SyncEvent) => void>()
  private rescan: ReturnType<typeof setInterval> | undefined
  private published = ''
  private lastSyncAt = -1
  private readonly recent: NotableEvent[] = []

  constructor(private readonly log: LocalBroker, private readonly options: SyncOptions) {
    if (!log.outbox) throw new EdgelogError('INVALID_CONFIG', 'A synced log needs its outbox (LocalBroker replicaProduce: outbox)')
    this.follower = new Follower({
      leader: options.leader, replicas: log.replicas, source: options.source, topics: options.follow,
      maxWaitMs: options.maxWaitMs, discoveryIntervalMs: options.discoveryIntervalMs,
    })
    this.forwarder = new Forwarder({ leader: options.leader, host: { storage: log.storage, topics: log.topics, outbox: log.outbox }, source: options.source })
    this.follower.on((e) => this.onEvent(e))
    this.forwarder.on((e) => this.onEvent(e))
  }

  on(listener: (event: SyncEvent) => void): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  async start(): Promise<void> {
    await this.follower.start()
    // A store that fails now (a read error) must not fail opening the log: the rescan below tries again.
    await this.forwarder.start().catch(() => {})
    // Replica topics found later (patterns, topics created at the leader) get a forwarding loop too.
    this.rescan = setInterval(() => void this.forwarder.start().catch(() => {}), Math.min(this.options.discoveryIntervalMs ?? 30_000, 5_000))
    await this.publish().catch(() => {})
  }

  /** Tries again now: back online, or the token replaced. */
  resume(): void {
    this.follower.wake()
    this.log.outbox?.wake()
  }

  async stop(): Promise<void> {
    if (this.rescan) clearInterval(this.rescan)
    await Promise.allSettled([this.follower.stop(), this.forwarder.stop()])
    await this.publish('stopped').catch(() => {})
  }

  private onEvent(event: SyncEvent): void {
    if (event.type === 'replica.synced') this.lastSyncAt = Date.now()
    // The leader answers again: what waits in the outbox goes now, not after the forwarder's backoff.
    if (event.type === 'online') this.log.outbox?.wake()
    if (event.type === 'replica.stopped' || event.type === 'replica.reset') void this.forwarder.start().catch(() => {})
    const notable = describeNotable(event)
    if (notable) {
      this.recent.push(notable)
      if (this.recent.length > 50) this.recent.shift()
    }
    for (const l of this.listeners) {
      try { l(event) } catch { /* a listener's failure is its own */ }
    }
    void this.publish().catch(() => {})
  }

  /** Writes the status when it changed (not per fetch: the sync time is written at most every few seconds). */
  private async publish(state?: 'stopped'): Promise<void> {
    const follower = this.follower.brief
    const forwarder = this.forwarder.status
    const followerStatus = state ?? follower.state
    const error = forwarder.error ?? follower.error
    const status: PublishedSyncStatus = {
      source: this.options.source, follower: followerStatus, forwarder: state ?? forwarder.state, error,
      lastSyncAt: Math.floor(this.lastSyncAt / 5_000) * 5_000, updatedAt: 0, recent: [...this.recent],
    }
    const fingerprint = JSON.stringify(status)
    if (fingerprint === this.published) return
    this.published = fingerprint
    await this.log.storage.commit({ meta: [{ key: SYNC_STATUS_KEY, value: { ...status, lastSyncAt: this.lastSyncAt, updatedAt: Date.now() } }] })
  }
}

function describeNotable(event: SyncEvent): NotableEvent | undefined {
  const at = Date.now()
  switch (event.type) {
    case 'replica.reset':
      return { at, type: event.type, topic: event.topic, partition: event.partition, message: `The leader's log starts at ${event.to}, past the replica's ${event.from}: the replica starts again there` }
    case 'replica.stopped':
      return { at, type: event.type, topic: event.topic, code: event.error.code, message: event.error.message }
    case 'dead-letter':
      return { at, type: event.type, topic: event.topic, partition: event.partition, code: event.error.code, message: `${event.records} records refused: ${event.error.message}` }
    default:
      return undefined
  }
}
