/**
 * The property tests' workload: generated interleavings of transactional producers (send,
 * sendOffsets, commit, abort, crash = abandon, fencing by a second producer with the same id,
 * a late send of a fenced one), plain idempotent sends, clock advances past transaction
 * timeouts, maintenance and DeleteRecords, run against a model that knows what each record is.
 */
import fc from 'fast-check'
import type { EdgelogClient } from '../../core/client/client.ts'
import type { Producer } from '../../core/client/producer.ts'
import type { Transaction } from '../../core/client/transaction.ts'
import { isEdgelogError } from '../../core/errors.ts'
import type { LocalBroker } from '../../core/log/local-broker.ts'

export const IDS = ['A', 'B', 'C'] as const
export const PARTITIONS = 2
export const TIMEOUT_MS = 1000

export type Action =
  | { kind: 'send'; id: number; partition: number; count: number }
  | { kind: 'sendOffsets'; id: number; offset: number }
  | { kind: 'commit'; id: number }
  | { kind: 'abort'; id: number }
  | { kind: 'crash'; id: number }
  | { kind: 'fence'; id: number }
  | { kind: 'zombieSend'; id: number; partition: number }
  | { kind: 'plain'; partition: number; count: number }
  | { kind: 'advance'; ms: number }
  | { kind: 'maintain' }
  | { kind: 'trim'; partition: number; fraction: number }

const id = fc.nat({ max: IDS.length - 1 })
const partition = fc.nat({ max: PARTITIONS - 1 })
export const actionArb: fc.Arbitrary<Action> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('send' as const), id, partition, count: fc.integer({ min: 1, max: 4 }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('sendOffsets' as const), id, offset: fc.nat({ max: 1000 }) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('commit' as const), id }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('abort' as const), id }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('crash' as const), id }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('fence' as const), id }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('zombieSend' as const), id, partition }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('plain' as const), partition, count: fc.integer({ min: 1, max: 3 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('advance' as const), ms: fc.integer({ min: 100, max: 1500 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('maintain' as const) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('trim' as const), partition, fraction: fc.double({ min: 0, max: 1, noNaN: true }) }) },
)

type Status = 'pending' | 'committed' | 'aborted'
export interface ModelRecord { value: string; partition: number; offset: number; status: Status; txn: number }

interface Session {
  producer: Producer
  txn?: Transaction
  txnNo: number
  /** When the coordinator started the transaction (its first partition or group); -1 none yet. */
  startedAt: number
  offsets?: number
}

/** A transaction object whose producer was fenced: by a newer producer with its id, or by its timeout. */
interface Zombie { txn: Transaction; txnNo: number; by: 'fence' | 'timeout' }

/** Runs actions against the log and the model; throws on any answer the model does not expect. */
export class Workload {
  readonly records: ModelRecord[] = []
  committedOffset = -1
  private readonly sessions = new Map<number, Session>()
  private readonly zombies: Zombie[] = []
  /** Crashed producers' open transactions, by id: ended by their timeout or the id's next producer. */
  private readonly abandoned = new Map<number, Session>()
  private txnCounter = 0
  private valueCounter = 0
  readonly plain: Producer
  /** What the run did, for the property's report. */
  readonly stats = { commits: 0, aborts: 0, crashes: 0, fences: 0, timeouts: 0, zombieRefusals: 0, trims: 0 }

  constructor(private readonly log: EdgelogClient, private readonly broker: LocalBroker, private readonly clock: { now: () => number; advance: (ms: number) => void }) {
    this.plain = log.producer({ idempotent: true })
  }

  /** A transaction past its timeout is (or will be, at the next access or maintenance) aborted, its producer fenced. */
  private expire(): void {
    for (const [n, s] of this.abandoned) {
      if (s.startedAt >= 0 && this.clock.now() - s.startedAt > TIMEOUT_MS) {
        this.end(s, 'aborted')
        this.abandoned.delete(n)
      }
    }
    for (const [n, s] of this.sessions) {
      if (s.txn && s.startedAt >= 0 && this.clock.now() - s.startedAt > TIMEOUT_MS) {
        this.zombies.push({ txn: s.txn, txnNo: s.txnNo, by: 'timeout' })
        this.end(s, 'aborted')
        this.sessions.delete(n)
        this.stats.timeouts++
      }
    }
  }

  private end(s: Session, status: 'committed' | 'aborted'): void {
    for (const r of this.records) if (r.txn === s.txnNo && r.status === 'pending') r.status = status
    if (status === 'committed' && s.offsets !== undefined) this.committedOffset = s.offsets
    s.txn = undefined
    s.offsets = undefined
    s.startedAt = -1
  }

  private async session(n: number): Promise<Session> {
    let s = this.sessions.get(n)
    if (!s) {
      // The id's new producer aborts what a crashed one left open.
      const left = this.abandoned.get(n)
      if (left) this.end(left, 'aborted')
      this.abandoned.delete(n)
      s = { producer: this.log.producer({ transactionalId: IDS[n], idempotent: true, maxInFlightRequests: 1, transactionTimeout: TIMEOUT_MS }), txnNo: -1, startedAt: -1 }
      this.sessions.set(n, s)
    }
    if (!s.txn) {
      // A new producer's first transaction() fences every older one with this id (their open transaction aborted).
      s.txn = await s.producer.transaction()
      s.txnNo = ++this.txnCounter
    }
    return s
  }

  private async sendRecords(producer: Producer | Transaction, partition: number, count: number, txn: number, status: Status): Promise<void> {
    const values = Array.from({ length: count }, () => `v${++this.valueCounter}`)
    const [meta] = await producer.send({ topic: 'out', messages: values.map((value) => ({ value, partition })) })
    values.forEach((value, i) => this.records.push({ value, partition, offset: Number(meta.baseOffset) + i, status, txn }))
  }

  async run(action: Action): Promise<void> {
    this.expire()
    switch (action.kind) {
      case 'send': {
        const s = await this.session(action.id)
        if (s.startedAt < 0) s.startedAt = this.clock.now()
        return this.sendRecords(s.txn!, action.partition, action.count, s.txnNo, 'pending')
      }
      case 'sendOffsets': {
        const s = await this.session(action.id)
        if (s.startedAt < 0) s.startedAt = this.clock.now()
        await s.txn!.sendOffsets({ consumerGroupId: 'g', topics: [{ topic: 'in', partitions: [{ partition: 0, offset: String(action.offset) }] }] })
        s.offsets = action.offset
        return
      }
      case 'commit':
      case 'abort': {
        const s = this.sessions.get(action.id)
        if (!s?.txn) return
        await (action.kind === 'commit' ? s.txn.commit() : s.txn.abort())
        this.end(s, action.kind === 'commit' ? 'committed' : 'aborted')
        this.stats[action.kind === 'commit' ? 'commits' : 'aborts']++
        return
      }
      case 'crash': {
        // Abandoned: its transaction stays open (pending) until its timeout or a new producer with its id.
        const s = this.sessions.get(action.id)
        if (!s) return
        this.sessions.delete(action.id)
        if (s.txn) {
          this.stats.crashes++
          this.abandoned.set(action.id, s)
        }
        return
      }
      case 'fence': {
        const old = this.sessions.get(action.id)
        this.sessions.delete(action.id)
        await this.session(action.id)
        if (old?.txn) {
          this.zombies.push({ txn: old.txn, txnNo: old.txnNo, by: 'fence' })
          this.end(old, 'aborted')
        }
        this.stats.fences++
        return
      }
      case 'zombieSend': {
        if (this.zombies.length === 0) return
        const z = this.zombies[action.id % this.zombies.length]
        try {
          await this.sendRecords(z.txn, action.partition, 1, z.txnNo, 'aborted')
        } catch (error) {
          // Fenced, or refused by the client after its first fenced send (only abort is left).
          if (!Workload.fenced(error) && !isEdgelogError(error, 'INVALID_TXN_STATE')) throw error
          this.stats.zombieRefusals++
          return
        }
        // Only a transaction that timed out and that the coordinator has not aborted yet takes it (then aborts it).
        if (z.by === 'fence') throw new Error(`A fenced producer's send was accepted (transaction ${z.txnNo})`)
        return
      }
      case 'plain':
        return this.sendRecords(this.plain, action.partition, action.count, 0, 'committed')
      case 'advance':
        this.clock.advance(action.ms)
        this.expire()
        return
      case 'maintain':
        await this.broker.runMaintenance({})
        return
      case 'trim': {
        const [state] = (await this.broker.describePartitions({ topic: 'out' })).filter((p) => p.partition === action.partition)
        const offset = Math.floor(state.logStartOffset + (state.highWatermark - state.logStartOffset) * action.fraction)
        const [result] = await this.broker.deleteRecords({ topic: 'out', partitions: [{ partition: action.partition, offset }] })
        if (result.errorCode !== 0) throw new Error(`deleteRecords failed: ${result.error?.code}`)
        this.stats.trims++
        return
      }
    }
  }

  /** Ends everything: live transactions committed, abandoned ones timed out (aborted). */
  async finish(): Promise<void> {
    this.expire()
    for (const s of this.sessions.values()) {
      if (!s.txn) continue
      await s.txn.commit()
      this.end(s, 'committed')
    }
    this.clock.advance(TIMEOUT_MS + 1)
    for (const r of this.records) if (r.status === 'pending') r.status = 'aborted'
    await this.broker.runMaintenance({})
  }

  /** The refusals a fenced producer gets. */
  static fenced(error: unknown): boolean {
    return isEdgelogError(error) && ['PRODUCER_FENCED', 'INVALID_PRODUCER_EPOCH'].includes(error.code)
  }
}
