/**
 * Helpers of the edge chaos test (edge.test.ts): a `wrangler dev` that is SIGKILLed and started
 * again on the same persistence dir (its port changes: clients follow it through the `fetch`
 * option of connect(), which rewrites every request's origin to the server of the moment),
 * idempotent producers sending keyed records with unique values, a consumer group recording
 * every record it handles, the log read back, and the checks of what was found.
 */
import { seededRandom } from './faulty-storage.ts'
import { connect, HttpBroker } from '../../adapters/http/index.ts'
import { decodeBatch } from '../../core/codec/record-batch.ts'
import { isEdgelogError } from '../../core/errors.ts'
import { murmur2, toPositive } from '../../core/partitioner.ts'
import { startWranglerDev, type WranglerDev } from '../http/wrangler-dev.ts'

type Client = ReturnType<typeof connect>
type Producer = ReturnType<Client['producer']>
type Consumer = ReturnType<Client['consumer']>

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))

/** The run's random choices (kill moments, keys) come from a printed seed. */
export const rng = seededRandom

/** Counts by name, printed as `a:3,b:1`. */
export class Tally {
  readonly counts = new Map<string, number>()
  add(name: string, n = 1): void { this.counts.set(name, (this.counts.get(name) ?? 0) + n) }
  total(): number { let n = 0; for (const v of this.counts.values()) n += v; return n }
  toString(): string { return [...this.counts].sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k}:${v}`).join(',') || '-' }
}

/** An EdgelogError's code; anything else (an untyped error reaching the caller) as `untyped-<name>(<cause code>)`. */
function errorName(error: unknown): string {
  if (isEdgelogError(error)) return error.code
  const cause = (error as { cause?: { code?: string; cause?: { code?: string } } })?.cause
  const code = cause?.code ?? cause?.cause?.code
  return `untyped-${error instanceof Error ? error.name : typeof error}${code ? `(${code})` : ''}`
}

/** The same for what fetch() itself threw (a failed connection is expected to be untyped there). */
function netName(error: unknown): string {
  const cause = (error as { cause?: { code?: string; cause?: { code?: string } } })?.cause
  return cause?.code ?? cause?.cause?.code ?? (error instanceof Error ? error.name : String(error))
}

/** `wrangler dev` on one persistence dir, killed and started again; clients reach it through `fetchFor`. */
export class EdgeServer {
  private dev: WranglerDev | undefined
  private origin = ''
  /** What each client role saw over HTTP: non-2xx answers by status and code, per-batch errors, failed connections. */
  readonly http = new Map<string, Tally>()
  /** Moments (ms since t0) the server went down and came back. */
  readonly downs: number[] = []
  readonly ups: number[] = []

  constructor(readonly dir: string, private readonly t0: number) {}

  get url(): string { return this.origin }
  get isUp(): boolean { return this.dev !== undefined }

  async start(): Promise<void> {
    this.dev = await startWranglerDev(this.dir)
    this.origin = this.dev.url
    this.ups.push(Date.now() - this.t0)
  }

  /** SIGKILL to wrangler and workerd (the whole process group). */
  async kill(): Promise<void> {
    const dev = this.dev
    this.dev = undefined
    this.downs.push(Date.now() - this.t0)
    await dev?.kill()
  }

  output(): string { return this.dev?.output() ?? '' }

  tally(role: string): Tally {
    let t = this.http.get(role)
    if (!t) this.http.set(role, (t = new Tally()))
    return t
  }

  /** A fetch for connect()/HttpBroker that sends each request to the server of the moment. */
  fetchFor(role: string): (request: Request) => Promise<Response> {
    const tally = this.tally(role)
    return async (request) => {
      const url = new URL(request.url)
      const body = request.method === 'GET' || request.method === 'HEAD' ? undefined : new Uint8Array(await request.arrayBuffer())
      let response: Response
      try {
        response = await fetch(`${this.origin}${url.pathname}${url.search}`, { method: request.method, headers: request.headers, body, signal: request.signal })
      } catch (error) {
        if (!request.signal.aborted) tally.add(`net:${netName(error)}`)
        throw error
      }
      const produce = request.method === 'POST' && /\/partitions\/\d+\/records$/.test(url.pathname)
      if (!response.ok || produce) {
        const answer = await response.clone().json().catch(() => undefined) as
          { error?: { code?: string }; batches?: Array<{ error?: { code?: string } }> } | undefined
        if (!response.ok) tally.add(`${response.status}:${answer?.error?.code ?? '?'}`)
        for (const b of answer?.batches ?? []) if (b?.error?.code) tally.add(`batch:${b.error.code}`)
      }
      return response
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Producers

export interface SendLog {
  producer: number
  sendNo: number
  startedAt: number
  settledAt: number
  outcome: 'pending' | 'acked' | 'rejected'
  /** The send's values per partition, in the order they were given (the order within the partition's part). */
  parts: Map<number, string[]>
  /** Per partition, the answered baseOffset (-1: acknowledged without an offset). */
  baseOffsets?: Map<number, number>
  error?: string
  errorCode?: string
}

export interface ProducerSpec { index: number; concurrency: number; retries: number }

export const valueOf = (run: number, producer: number, sendNo: number, i: number) => `r${run}p${producer}s${sendNo}i${i}`
const VALUE = /^r(\d+)p(\d+)s(\d+)i(\d+)$/
export function parseValue(value: string): { run: number; producer: number; sendNo: number; i: number } | null {
  const m = VALUE.exec(value)
  return m ? { run: Number(m[1]), producer: Number(m[2]), sendNo: Number(m[3]), i: Number(m[4]) } : null
}

const encoder = new TextEncoder()
export const partitionOfKey = (key: string, partitions: number) => toPositive(murmur2(encoder.encode(key))) % partitions

/** One idempotent producer sending continuously (`concurrency` sends at a time) until `stop()`. */
export class ProducerWorkload {
  readonly sends: SendLog[] = []
  readonly rejections = new Tally()
  /** One message per rejection code, as an example. */
  readonly examples = new Map<string, string>()
  private nextSend = 0
  private producer: Producer

  constructor(
    client: Client, readonly spec: ProducerSpec, private readonly opts: {
      run: number; topic: string; partitions: number; recordsPerSend: number; random: () => number; t0: number
    },
  ) {
    this.producer = client.producer({ idempotent: true, retry: { retries: spec.retries } })
  }

  async connect(): Promise<void> { await this.producer.connect() }

  /** Runs until stop() says so; resolves once every send has settled. */
  async run(stop: () => boolean): Promise<void> {
    const loops = Array.from({ length: this.spec.concurrency }, async () => {
      while (!stop()) {
        // After a rejection, a pause as an application would take (not a tight loop of refusals).
        const ok = await this.sendOne()
        await sleep(Math.floor(this.opts.random() * 15) + (ok ? 0 : 200))
      }
    })
    await Promise.all(loops)
  }

  private async sendOne(): Promise<boolean> {
    const { run, topic, partitions, recordsPerSend, random, t0 } = this.opts
    const sendNo = this.nextSend++
    const log: SendLog = { producer: this.spec.index, sendNo, startedAt: Date.now() - t0, settledAt: -1, outcome: 'pending', parts: new Map() }
    const messages = Array.from({ length: recordsPerSend }, (_, i) => {
      const key = `k${Math.floor(random() * 100_000)}`
      const value = valueOf(run, this.spec.index, sendNo, i)
      const p = partitionOfKey(key, partitions)
      let list = log.parts.get(p)
      if (!list) log.parts.set(p, (list = []))
      list.push(value)
      return { key, value }
    })
    this.sends.push(log)
    try {
      const results = await this.producer.send({ topic, messages, acks: -1 })
      log.outcome = 'acked'
      log.baseOffsets = new Map(results.map((r) => [r.partition, Number(r.baseOffset)]))
      return true
    } catch (error) {
      log.outcome = 'rejected'
      log.errorCode = errorName(error)
      log.error = error instanceof Error ? error.message : String(error)
      this.rejections.add(log.errorCode)
      if (!this.examples.has(log.errorCode)) this.examples.set(log.errorCode, `send #${sendNo} at ${log.startedAt} ms: ${log.error}`)
      return false
    } finally {
      log.settledAt = Date.now() - t0
    }
  }

  async disconnect(): Promise<void> { await this.producer.disconnect() }
}

// ---------------------------------------------------------------------------------------------
// The consumer group

export interface Handled {
  /** First time each offset was handled (ms since t0), per partition. */
  firstAt: Array<Map<number, number>>
  /** The value the handler saw, per partition and offset (the first time). */
  values: Array<Map<number, string>>
  /** Every handling moment per partition, in order (ms since t0), and by which member. */
  times: Array<Array<{ t: number; member: number }>>
  /** Handlings of an offset already handled (at least once: expected around restarts). */
  again: number
  /** Same offset, a different value than the first time. */
  mismatches: string[]
  total: number
}

export function newHandled(partitions: number): Handled {
  return {
    firstAt: Array.from({ length: partitions }, () => new Map()), values: Array.from({ length: partitions }, () => new Map()),
    times: Array.from({ length: partitions }, () => []), again: 0, mismatches: [], total: 0,
  }
}

export interface MemberEvent { t: number; member: number; what: string }

/** One member of the group: eachMessage or eachBatch, autoCommit on (KafkaJS's defaults). */
export class GroupWorkload {
  readonly consumer: Consumer
  readonly events: MemberEvent[] = []
  readonly crashes = new Tally()

  constructor(
    client: Client, readonly member: number, readonly mode: 'eachMessage' | 'eachBatch',
    private readonly opts: { topic: string; groupId: string; handled: Handled; t0: number },
  ) {
    // KafkaJS's restartOnFailure default (restart after any crash), spelled out: edgelog's own
    // default restarts only after a retriable broker error, not after a handler's error.
    this.consumer = client.consumer({ groupId: opts.groupId, retry: { retries: 5, restartOnFailure: async () => true } })
    const at = () => Date.now() - opts.t0
    const c = this.consumer
    c.on(c.events.CRASH, (e: { payload?: { error?: unknown; restart?: boolean } }) => {
      const name = errorName(e.payload?.error)
      this.crashes.add(name)
      this.events.push({ t: at(), member, what: `crash ${name}${e.payload?.restart ? ' (restart)' : ' (no restart)'}: ${(e.payload?.error as Error)?.message ?? ''}` })
    })
    c.on(c.events.GROUP_JOIN, (e: { payload?: { memberAssignment?: Record<string, number[]>; groupGenerationId?: number } }) => {
      this.events.push({ t: at(), member, what: `join epoch ${e.payload?.groupGenerationId} owns ${JSON.stringify(e.payload?.memberAssignment?.[opts.topic] ?? [])}` })
    })
    c.on(c.events.REBALANCING, () => this.events.push({ t: at(), member, what: 'rebalancing' }))
    c.on(c.events.STOP, () => this.events.push({ t: at(), member, what: 'stop' }))
  }

  private record(partition: number, offset: number, value: string): void {
    const h = this.opts.handled
    const t = Date.now() - this.opts.t0
    h.total++
    h.times[partition].push({ t, member: this.member })
    const seen = h.values[partition].get(offset)
    if (seen === undefined) {
      h.values[partition].set(offset, value)
      h.firstAt[partition].set(offset, t)
    } else {
      h.again++
      if (seen !== value) h.mismatches.push(`p${partition}@${offset}: first ${seen}, then ${value} (member ${this.member})`)
    }
  }

  async start(): Promise<void> {
    const decoder = new TextDecoder()
    await this.consumer.connect()
    await this.consumer.subscribe({ topics: [this.opts.topic], fromBeginning: true })
    if (this.mode === 'eachMessage') {
      await this.consumer.run({
        eachMessage: async ({ partition, message }) => this.record(partition, Number(message.offset), decoder.decode(message.value!)),
      })
    } else {
      await this.consumer.run({
        eachBatch: async ({ batch, resolveOffset, heartbeat, isRunning, isStale }) => {
          for (const message of batch.messages) {
            if (!isRunning() || isStale()) break
            this.record(batch.partition, Number(message.offset), decoder.decode(message.value!))
            resolveOffset(message.offset)
          }
          await heartbeat()
        },
      })
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Reading back

export interface StoredRecord { offset: number; value: string; producerId: number; epoch: number; sequence: number }

/** Every record of a partition, in offset order (binary fetch, as wrangler-restart.test.ts reads). */
export async function readPartition(broker: HttpBroker, topic: string, partition: number): Promise<{ records: StoredRecord[]; highWatermark: number }> {
  const records: StoredRecord[] = []
  const decoder = new TextDecoder()
  let offset = 0
  let highWatermark = 0
  for (;;) {
    const r = await broker.fetch({ topic, partition, offset, maxBytes: 1 << 20 })
    highWatermark = r.highWatermark
    if (r.batches.length === 0) break
    for (const b of r.batches) {
      const { header, records: decoded } = await decodeBatch(b)
      for (const rec of decoded) {
        if (rec.offset < offset) continue
        records.push({
          offset: rec.offset, value: decoder.decode(rec.value!), producerId: header.producerId, epoch: header.producerEpoch,
          sequence: header.baseSequence < 0 ? -1 : header.baseSequence + (rec.offset - header.baseOffset),
        })
      }
    }
    offset = records.length ? records[records.length - 1].offset + 1 : offset
    if (offset >= r.highWatermark) break
  }
  return { records, highWatermark }
}

/** Retries while the server is still coming up. */
export async function withRetries<T>(what: string, fn: () => Promise<T>, attempts = 20): Promise<T> {
  for (let i = 0; ; i++) {
    try {
      return await fn()
    } catch (error) {
      if (i >= attempts) throw new Error(`${what}: ${errorName(error)} ${(error as Error)?.message}`, { cause: error })
      await sleep(500)
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Checks

export interface CommitSample { t: number; offsets: number[] }

export interface Findings {
  figures: {
    sends: number; acknowledgedSends: number; acknowledged: number; ackedNoOffset: number; rejectedSends: number; rejectedRecords: number
    rejectedStored: number; rejectedPartsStored: number; stored: number; lost: number; misplaced: number; duplicated: number; outOfOrder: number; foreign: number
    rejectedTwice: number; handledMismatch: number; commitAhead: number; groupUnread: number
  }
  /** Lines that say what went wrong, by check. */
  details: Record<string, string[]>
}

const LIMIT = 25

function push(details: Record<string, string[]>, check: string, line: string): void {
  const list = (details[check] ??= [])
  if (list.length < LIMIT) list.push(line)
  else if (list.length === LIMIT) list.push('…')
}

/** What the run's data says: every acknowledged record in place once, order per producer, commits behind handling. */
export function check(opts: {
  run: number; partitions: number; stored: StoredRecord[][]; sends: SendLog[]; handled: Handled; samples: CommitSample[]
}): Findings {
  const { run, partitions, stored, sends, handled, samples } = opts
  const details: Record<string, string[]> = {}
  const f: Findings['figures'] = {
    sends: sends.length, acknowledgedSends: 0, acknowledged: 0, ackedNoOffset: 0, rejectedSends: 0, rejectedRecords: 0, rejectedStored: 0, rejectedPartsStored: 0,
    stored: 0, lost: 0, misplaced: 0, duplicated: 0, outOfOrder: 0, foreign: 0, rejectedTwice: 0, handledMismatch: handled.mismatches.length,
    commitAhead: 0, groupUnread: 0,
  }
  const byOffset = stored.map((list) => new Map(list.map((r) => [r.offset, r])))
  // Where each value is stored (all places, to count duplicates).
  const where = new Map<string, Array<{ partition: number; offset: number }>>()
  for (let p = 0; p < partitions; p++) {
    f.stored += stored[p].length
    stored[p].forEach((r, i) => {
      if (r.offset !== i) push(details, 'offsets', `p${p}: record #${i} is at offset ${r.offset} (offsets must be contiguous from 0)`)
      let list = where.get(r.value)
      if (!list) where.set(r.value, (list = []))
      list.push({ partition: p, offset: r.offset })
    })
  }
  const describeStored = (p: number, o: number) => {
    const r = byOffset[p].get(o)
    return r ? `${r.value} (pid ${r.producerId} epoch ${r.epoch} seq ${r.sequence})` : 'nothing'
  }
  for (const [value, list] of where) {
    if (list.length > 1) {
      f.duplicated += list.length - 1
      push(details, 'duplicated', `${value} stored ${list.length} times: ${list.map((w) => `p${w.partition}@${w.offset} [${describeStored(w.partition, w.offset)}]`).join(', ')}`)
    }
    const parsed = parseValue(value)
    if (!parsed || parsed.run !== run) {
      f.foreign++
      push(details, 'foreign', `p${list[0].partition}@${list[0].offset}: ${value} is no value this run sent`)
    }
  }
  // The previous send of the same producer that touched a partition (diagnosis of losses).
  const sendsOf = new Map<number, SendLog[]>()
  for (const s of sends) {
    let list = sendsOf.get(s.producer)
    if (!list) sendsOf.set(s.producer, (list = []))
    list.push(s)
  }
  for (const list of sendsOf.values()) list.sort((a, b) => a.sendNo - b.sendNo)
  const previousTo = (s: SendLog, p: number) => {
    const list = sendsOf.get(s.producer)!
    for (let i = list.findIndex((x) => x.sendNo === s.sendNo) - 1; i >= 0; i--) {
      const prev = list[i]
      if (prev.parts.has(p)) return `previous send to p${p}: #${prev.sendNo} ${prev.outcome}${prev.errorCode ? ` ${prev.errorCode}` : ''}${prev.baseOffsets ? ` base ${prev.baseOffsets.get(p)}` : ''} (${prev.startedAt}–${prev.settledAt} ms)`
    }
    return `no previous send to p${p}`
  }
  const nextTo = (s: SendLog, p: number) => {
    const list = sendsOf.get(s.producer)!
    const i = list.findIndex((x) => x.sendNo > s.sendNo && x.parts.has(p))
    if (i < 0) return `no later send to p${p}`
    const next = list[i]
    return `next send to p${p}: #${next.sendNo} ${next.outcome}${next.errorCode ? ` ${next.errorCode}` : ''}${next.baseOffsets ? ` base ${next.baseOffsets.get(p)}` : ''}`
  }
  for (const s of sends) {
    const count = [...s.parts.values()].reduce((n, l) => n + l.length, 0)
    if (s.outcome === 'acked') {
      f.acknowledgedSends++
      f.acknowledged += count
      for (const [p, values] of s.parts) {
        const base = s.baseOffsets?.get(p)
        if (base === undefined || !Number.isFinite(base)) {
          f.lost += values.length
          push(details, 'lost', `producer ${s.producer} send #${s.sendNo} p${p}: acknowledged without an answer for the partition (${values.length} records)`)
          continue
        }
        if (base < 0) f.ackedNoOffset += values.length
        values.forEach((value, k) => {
          const places = where.get(value) ?? []
          const at = `producer ${s.producer} send #${s.sendNo} (${s.startedAt}–${s.settledAt} ms) p${p} baseOffset ${base} index ${k}: ${value}`
          if (places.length === 0) {
            f.lost++
            const expected = base >= 0 ? ` expected at ${base + k}, there: ${describeStored(p, base + k)};` : ''
            push(details, 'lost', `${at} is not in the log;${expected} ${previousTo(s, p)}`)
          } else if (base >= 0 && !places.some((w) => w.partition === p && w.offset === base + k)) {
            f.misplaced++
            push(details, 'misplaced', `${at} acknowledged at ${base + k} (there: ${describeStored(p, base + k)}) but stored at ${places.map((w) => `p${w.partition}@${w.offset}`).join(', ')}; ${previousTo(s, p)}`)
          }
        })
      }
    } else if (s.outcome === 'rejected') {
      f.rejectedSends++
      f.rejectedRecords += count
      for (const [p, values] of s.parts) {
        let partStored = 0
        for (const value of values) {
          const n = where.get(value)?.length ?? 0
          if (n > 0) { f.rejectedStored++; partStored++ }
          if (n > 1) {
            f.rejectedTwice++
            push(details, 'rejectedTwice', `producer ${s.producer} send #${s.sendNo} (rejected ${s.errorCode}): ${value} stored ${n} times`)
          }
        }
        if (partStored > 0) {
          // A partition's part of a rejected send that is in the log: stored by the partition
          // (the send failed on another partition), or an unknown outcome (the answer was lost).
          f.rejectedPartsStored++
          const first = where.get(values[0])?.[0]
          push(details, 'rejectedButStored (information)', `producer ${s.producer} send #${s.sendNo} (${s.startedAt}–${s.settledAt} ms, rejected ${s.errorCode}) p${p}: ${partStored}/${values.length} records stored${first ? ` from p${first.partition}@${first.offset} [${describeStored(first.partition, first.offset)}]` : ''}; ${nextTo(s, p)}`)
        }
      }
    } else {
      push(details, 'unsettled', `producer ${s.producer} send #${s.sendNo} never settled`)
    }
  }
  // Order per producer and partition: (sendNo, index) increasing along the offsets.
  for (let p = 0; p < partitions; p++) {
    const last = new Map<number, { sendNo: number; i: number; offset: number; value: string }>()
    for (const r of stored[p]) {
      const v = parseValue(r.value)
      if (!v || v.run !== run) continue
      const prev = last.get(v.producer)
      if (prev && (v.sendNo < prev.sendNo || (v.sendNo === prev.sendNo && v.i <= prev.i))) {
        f.outOfOrder++
        push(details, 'outOfOrder', `producer ${v.producer} p${p}: ${r.value} at ${r.offset} after ${prev.value} at ${prev.offset}`)
      }
      if (!prev || v.sendNo > prev.sendNo || (v.sendNo === prev.sendNo && v.i > prev.i)) last.set(v.producer, { sendNo: v.sendNo, i: v.i, offset: r.offset, value: r.value })
    }
  }
  // What the group handled is what is stored, and it reached every stored record.
  for (let p = 0; p < partitions; p++) {
    for (const [offset, value] of handled.values[p]) {
      const r = byOffset[p].get(offset)
      if (!r || r.value !== value) {
        f.handledMismatch++
        push(details, 'handledMismatch', `p${p}@${offset}: handler saw ${value}, the log has ${r ? r.value : 'nothing'}`)
      }
    }
    let missing = 0
    let first = -1
    for (const r of stored[p]) {
      if (!handled.firstAt[p].has(r.offset)) {
        missing++
        if (first < 0) first = r.offset
      }
    }
    if (missing > 0) {
      f.groupUnread += missing
      push(details, 'groupUnread', `p${p}: ${missing} of ${stored[p].length} stored records never handled, the first at offset ${first}`)
    }
  }
  mergeHandledMismatches(details, handled)
  // A committed offset c says every offset below c was handled before the commit was read back.
  const aheadSeen = new Set<string>()
  for (const s of samples) {
    for (let p = 0; p < partitions; p++) {
      const c = s.offsets[p]
      if (c === undefined || c <= 0) continue
      let bad = ''
      if (c > stored[p].length) bad = `beyond the log's end ${stored[p].length}`
      else {
        for (let o = 0; o < c; o++) {
          const at = handled.firstAt[p].get(o)
          if (at === undefined || at > s.t) { bad = `offset ${o} ${at === undefined ? 'was never handled' : `was first handled at ${at} ms`}`; break }
        }
      }
      if (bad && !aheadSeen.has(`${p}/${c}`)) {
        aheadSeen.add(`${p}/${c}`)
        f.commitAhead++
        push(details, 'commitAhead', `p${p}: committed ${c} read at ${s.t} ms, but ${bad}`)
      }
    }
  }
  return { figures: f, details }
}

function mergeHandledMismatches(details: Record<string, string[]>, handled: Handled): void {
  for (const m of handled.mismatches) push(details, 'handledMismatch', m)
}

/**
 * After each restart, how long until each partition was handled again (ms), or null when it
 * was not before the next kill (or the end). Only partitions with something left to read count.
 */
export function resumeTimes(handled: Handled, stored: StoredRecord[][], ups: number[], downs: number[], end: number): Array<Array<number | null>> {
  return ups.slice(1).map((up, k) => {
    const until = downs[k + 1] ?? end
    return handled.times.map((times, p) => {
      // Something to read after the restart: a record first handled after it, or never handled.
      const pending = stored[p].some((r) => { const at = handled.firstAt[p].get(r.offset); return at === undefined || at >= up })
      if (!pending) return -1
      const next = times.find((h) => h.t >= up)
      return next && next.t < until ? next.t - up : null
    })
  })
}
