/**
 * What producers were told, and what the log holds: the chaos suite's bookkeeping. Every
 * record's value names its producer, its send and its place in the send
 * (`<producer>:<send>:<index>`), so what is read back can be matched to what was acknowledged.
 */
export interface StoredRecord { offset: number; value: string }

interface Acked { producer: string; send: number; partition: number; baseOffset: number; values: string[] }

export interface Verdict {
  acknowledged: number
  lost: number
  duplicated: number
  /** Stored more than once by a producer without idempotence (its retries may do that: allowed). */
  retryDuplicates: number
  outOfOrder: number
  /** An acknowledged send whose first record is not at the offset it was answered with. */
  misplaced: number
  /** Offsets of a partition that are not contiguous (no compaction runs in these tests). */
  gaps: number
  details: string[]
}

export function recordValue(producer: string, send: number, index: number): string {
  return `${producer}:${send}:${index}`
}

function parse(value: string): { producer: string; send: number; index: number } | undefined {
  const m = /^(.*):(\d+):(\d+)$/.exec(value)
  return m ? { producer: m[1], send: Number(m[2]), index: Number(m[3]) } : undefined
}

export class Ledger {
  private readonly acked: Acked[] = []
  private readonly idempotent = new Map<string, boolean>()
  rejectedSends = 0
  acknowledgedSends = 0

  producer(name: string, idempotent: boolean): void { this.idempotent.set(name, idempotent) }

  /** A send resolved: per partition, its records in send order and the base offset answered. */
  acknowledge(producer: string, send: number, parts: Array<{ partition: number; baseOffset: number; values: string[] }>): void {
    this.acknowledgedSends++
    for (const p of parts) this.acked.push({ producer, send, ...p })
  }

  reject(): void { this.rejectedSends++ }

  get acknowledgedRecords(): number { return this.acked.reduce((n, a) => n + a.values.length, 0) }

  /** Checks the log's partitions (every stored record, from the log start) against the ledger. */
  verify(partitions: Map<number, StoredRecord[]>): Verdict {
    const v: Verdict = { acknowledged: this.acknowledgedRecords, lost: 0, duplicated: 0, retryDuplicates: 0, outOfOrder: 0, misplaced: 0, gaps: 0, details: [] }
    const note = (s: string) => { if (v.details.length < 30) v.details.push(s) }
    const where = new Map<string, Array<{ partition: number; offset: number }>>()
    for (const [partition, records] of partitions) {
      for (let i = 1; i < records.length; i++) {
        if (records[i].offset !== records[i - 1].offset + 1) { v.gaps++; note(`partition ${partition}: offset ${records[i].offset} follows ${records[i - 1].offset}`) }
      }
      const lastOf = new Map<string, { send: number; index: number; offset: number }>()
      for (const r of records) {
        let list = where.get(r.value)
        if (!list) where.set(r.value, (list = []))
        list.push({ partition, offset: r.offset })
        const id = parse(r.value)
        if (!id || !this.idempotent.get(id.producer)) continue
        const last = lastOf.get(id.producer)
        if (last && (id.send < last.send || (id.send === last.send && id.index <= last.index))) {
          v.outOfOrder++
          note(`partition ${partition}: ${r.value} at ${r.offset} after ${id.producer}:${last.send}:${last.index} at ${last.offset}`)
        }
        lastOf.set(id.producer, { send: id.send, index: id.index, offset: r.offset })
      }
    }
    for (const [value, list] of where) {
      if (list.length < 2) continue
      const id = parse(value)
      if (id && this.idempotent.get(id.producer) === false) v.retryDuplicates++
      else { v.duplicated++; note(`${value} stored ${list.length} times: ${list.map((l) => `${l.partition}@${l.offset}`).join(', ')}`) }
    }
    for (const a of this.acked) {
      a.values.forEach((value, i) => {
        const found = where.get(value)?.filter((l) => l.partition === a.partition)
        if (!found?.length) {
          v.lost++
          note(`lost: ${value} (partition ${a.partition}, send answered baseOffset ${a.baseOffset})`)
        } else if (i === 0 && a.baseOffset >= 0 && !found.some((l) => l.offset === a.baseOffset)) {
          v.misplaced++
          note(`misplaced: ${value} answered at ${a.partition}@${a.baseOffset}, stored at ${found.map((l) => l.offset).join(',')}`)
        }
      })
    }
    return v
  }
}
