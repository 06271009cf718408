/**
 * Topics drawn as logs: each partition is a row of cells at their offsets, shaded by segment,
 * with the log start offset and the high watermark marked; offsets removed by retention or
 * compaction show as ghosts; records waiting in the outbox (a followed topic) sit past the
 * high watermark, dashed, as "pending" until the edge gives them offsets.
 */
import { TOPIC_CONFIG_DEFAULTS } from '../../core/config.ts'
import { h } from './dom.ts'

export interface CellRecord { offset: number; key: string | null; value: string | null; headers?: Record<string, string> }
export interface PendingCell { outboxOffset: number; key: string | null; value: string | null }
export interface SegmentView { baseOffset: number; endOffset: number; sizeBytes: number }

export interface PartitionView {
  partition: number
  logStartOffset: number
  highWatermark: number
  segments: SegmentView[]
  /** The records of the window (the latest offsets), in offset order. */
  records: CellRecord[]
  pending?: PendingCell[]
}

export interface TopicView {
  name: string
  config?: Record<string, string | number>
  replicaOf?: string
  partitions: PartitionView[]
}

/** How many of the latest offsets a row shows. */
export const WINDOW = 24

export type Cell =
  | { kind: 'record'; offset: number; record: CellRecord; segment: number; segmentStart: boolean }
  | { kind: 'removed'; offset: number; why: 'retention' | 'compaction'; segment: number; segmentStart: boolean }
  | { kind: 'pending'; pending: PendingCell }

/** The cells of a row: offsets [from, highWatermark), then the pending records. */
export function cellsOf(view: PartitionView, window = WINDOW): { from: number; cells: Cell[] } {
  const from = Math.max(0, view.highWatermark - window)
  const byOffset = new Map(view.records.map((r) => [r.offset, r]))
  const segments = [...view.segments].sort((a, b) => a.baseOffset - b.baseOffset)
  const segmentOf = (offset: number) => {
    for (let i = segments.length - 1; i >= 0; i--) if (segments[i].baseOffset <= offset) return i
    return -1
  }
  const cells: Cell[] = []
  for (let offset = from; offset < view.highWatermark; offset++) {
    const segment = segmentOf(offset)
    const segmentStart = segment >= 0 && segments[segment].baseOffset === offset
    const record = byOffset.get(offset)
    if (record) cells.push({ kind: 'record', offset, record, segment, segmentStart })
    else cells.push({ kind: 'removed', offset, why: offset < view.logStartOffset ? 'retention' : 'compaction', segment, segmentStart })
  }
  for (const pending of view.pending ?? []) cells.push({ kind: 'pending', pending })
  return { from, cells }
}

function describeRecord(r: { key: string | null; value: string | null }): string {
  return `key ${r.key === null ? '(none)' : `"${r.key}"`}, value ${r.value === null ? 'null (tombstone)' : `"${r.value}"`}`
}

/** One partition as a row of cells. `freshFrom`: offsets at or past it arrived since the last drawing (they animate in). */
export function renderPartition(topic: string, view: PartitionView, freshFrom = Infinity, window = WINDOW): HTMLElement {
  const { from, cells } = cellsOf(view, window)
  const pending = view.pending?.length ?? 0
  const summary = `Partition ${view.partition}: log start offset ${view.logStartOffset}, high watermark ${view.highWatermark}, `
    + `${view.highWatermark - view.logStartOffset} records kept in ${view.segments.length} segment${view.segments.length === 1 ? '' : 's'}`
    + (pending ? `, ${pending} pending` : '')
  const row = h('ol', { class: 'cells', 'aria-label': `${topic} partition ${view.partition} offsets` })
  if (from > 0) {
    const earlier = from - Math.min(from, view.logStartOffset)
    row.append(h('li', { class: 'cell more', title: `${from} earlier offsets not drawn${view.logStartOffset > 0 ? ` (offsets below ${view.logStartOffset} removed)` : ''}` },
      h('span', { class: 'off' }, `…${from}`), h('span', { class: 'sr-only' }, `${earlier} earlier records not drawn`)))
  }
  for (const cell of cells) {
    if (cell.kind === 'pending') {
      const label = `pending (outbox #${cell.pending.outboxOffset}): ${describeRecord(cell.pending)}; waiting for the edge to give it an offset`
      row.append(h('li', { class: 'cell pending', title: label, 'data-pending': cell.pending.outboxOffset },
        h('span', { class: 'off' }, '?'), h('span', { class: 'key' }, cell.pending.key ?? '·'), h('span', { class: 'sr-only' }, label)))
      continue
    }
    const classes = ['cell', cell.kind === 'record' ? 'record' : `removed ${cell.why}`, `seg-${cell.segment % 2 === 0 ? 'even' : 'odd'}`]
    if (cell.segmentStart) classes.push('seg-start')
    if (cell.offset === view.logStartOffset) classes.push('log-start')
    if (cell.offset >= freshFrom) classes.push('fresh')
    if (cell.kind === 'record' && cell.record.value === null) classes.push('tombstone')
    const label = cell.kind === 'record'
      ? `offset ${cell.offset}: ${describeRecord(cell.record)}${cell.record.headers && Object.keys(cell.record.headers).length ? `, headers ${JSON.stringify(cell.record.headers)}` : ''}`
      : `offset ${cell.offset}: removed by ${cell.why}`
    row.append(h('li', { class: classes.join(' '), title: label, 'data-offset': cell.offset },
      cell.segmentStart ? h('span', { class: 'seg-label', 'aria-hidden': 'true' }, `seg ${cell.offset}`) : null,
      h('span', { class: 'off' }, String(cell.offset)),
      h('span', { class: 'key' }, cell.kind === 'record' ? (cell.record.key ?? '·') : '×'),
      h('span', { class: 'sr-only' }, label)))
  }
  row.append(h('li', { class: 'hw', title: `high watermark ${view.highWatermark}: the next record gets this offset` },
    h('span', { 'aria-hidden': 'true' }, `HW ${view.highWatermark}`)))
  return h('section', { class: 'partition', tabindex: 0, 'aria-label': summary, 'data-partition': view.partition },
    h('header', { class: 'partition-head' },
      h('strong', {}, `P${view.partition}`),
      h('span', { class: 'badge' }, `log start ${view.logStartOffset}`),
      h('span', { class: 'badge' }, `high watermark ${view.highWatermark}`),
      h('span', { class: 'badge' }, `${view.segments.length} segment${view.segments.length === 1 ? '' : 's'}`),
      pending ? h('span', { class: 'badge pending-badge' }, `${pending} pending`) : null),
    row,
    h('p', { class: 'sr-only' }, summary))
}

/** A topic: its settings that matter for the picture, then a row per partition. */
export function renderTopic(view: TopicView, freshFrom: (partition: number) => number = () => Infinity): HTMLElement {
  // The settings that shape the picture, where they differ from Kafka's defaults.
  const defaults = TOPIC_CONFIG_DEFAULTS as unknown as Record<string, string | number>
  const settings = Object.entries(view.config ?? {})
    .filter(([k, v]) => ['cleanup.policy', 'retention.ms', 'retention.bytes', 'segment.bytes', 'segment.ms', 'delete.retention.ms'].includes(k) && String(defaults[k]) !== String(v))
    .map(([k, v]) => `${k}=${v}`)
  return h('article', { class: 'topic', 'data-topic': view.name, 'aria-label': `topic ${view.name}` },
    h('h3', {}, view.name, ' ', h('small', { class: 'muted' },
      `${view.partitions.length} partition${view.partitions.length === 1 ? '' : 's'}`,
      view.replicaOf ? ` · replica of ${view.replicaOf}` : '',
      settings.length ? ` · ${settings.join(' ')}` : '')),
    view.partitions.map((p) => renderPartition(view.name, p, freshFrom(p.partition))))
}
